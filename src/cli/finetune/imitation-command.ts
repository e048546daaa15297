// `vla-finetune imitation`: how closely a trained residual follows the scripted operator on the states it reaches
// itself. The residual drives alone (deterministic, as deployed) while the operator watches and labels every
// decision with the correction it would have made, in the residual's own frame and bounds; it never takes over.
// The disagreement, in units of the bound, is split by whether the episode succeeded: a residual that fails where
// its operator would not shows where (which dimension, how far) it has not learnt the corrections, the measure
// the operator check (`vla-finetune operator --correction-noise`) gives a threshold for.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { correctionNames } from '../../policy/residual/correction-frame.js';
import { loadResidualFor } from '../../policy/residual/residual-check.js';
import { ResidualLoadError } from '../../policy/residual/residual-manifest.js';
import { parseResidualOnnx } from '../../policy/residual/residual-onnx.js';
import { ActorUnit, withLogStdHead } from '../../rl/actor-net.js';
import { type RolloutEpisode, SimRollouts } from '../../rl/sim-rollouts.js';
import { progress } from '../../telemetry/progress.js';
import { wilson } from '../../util/stats.js';
import { UsageError } from '../common.js';
import { robotDescription } from '../run/robot-args.js';
import { TASK_HELP } from '../sim/args.js';
import { simCheckArgs, simCheckOptions } from './operator-command.js';

const IMITATION_HELP = `
Examples:
  vla-finetune imitation --robot ur5e --task push --residual models/ur5e-push.residual.onnx
  vla-finetune imitation --robot ur5e --task push --residual runs/p1/residual.onnx --operator-expert feedback --json

The residual runs alone on seeds SEED0.. in the embedded sim, as vla-run --clock fast would run it, while the
scripted operator labels each of its decisions with clip((expert - base) / bound, -1, 1) in the residual's frame.
Reported: successes with their 95% interval, and the squared disagreement per decision summed over the action
dimensions (units of the bound), in the successful and in the failed episodes, and per dimension (RMS).
Exit codes: 0 done, 2 bad usage (a residual for another base model or robot).`;

export function imitationCommand(program: Command): void {
  const cmd = program
    .command('imitation')
    .description('how closely a trained residual follows the scripted operator on its own states')
    .option('--robot <name>', 'ur5 | ur5e | aloha', 'ur5e')
    .option('--task <name>', TASK_HELP)
    .requiredOption('--residual <file.onnx>', 'the trained residual')
    .option('--base <model.onnx>', 'its base policy (default: the shipped model for the robot and task)');
  // seeds from 20000: where the fine-tuner evaluates
  simCheckOptions(cmd, '40', '20000').addHelpText('after', IMITATION_HELP).action(imitationAction);
}

/** The disagreement over a set of decisions: its mean summed square, and per action dimension its RMS. */
interface Disagreement {
  decisions: number;
  sum_sq_per_decision: number;
  rms_per_dimension: Record<string, number>;
}

interface ImitationCheck {
  robot: string;
  task: string;
  residual: string;
  seed0: number;
  expert: 'plan' | 'feedback';
  successes: number;
  episodes: number;
  ci95: [number, number];
  in_successes: Disagreement | null;
  in_failures: Disagreement | null;
}

async function imitationAction(o: Record<string, string | boolean | undefined>): Promise<void> {
  const { robot, task, expert, base_path, episodes, seed0, json, latency_ms } = simCheckArgs(o);
  const desc = await robotDescription(robot, undefined, 50);
  const path = resolve(o.residual as string);
  // a residual for another base model or robot is bad usage here as in vla-run (exit 2)
  const file = await loadResidualFor(path, base_path, desc).catch((err) => {
    throw err instanceof ResidualLoadError ? new UsageError(err.message) : err;
  });
  const { manifest, net } = parseResidualOnnx(path, file.bytes);
  const A = desc.action_names.length;
  const rollouts = await SimRollouts.create({
    description: desc,
    task,
    base_path,
    manifest,
    actor: new ActorUnit(withLogStdHead(net.layers, A), A),
    latency_model: { kind: 'fixed', ms: latency_ms },
    seed: 0,
    // it never takes over (no command is further than infinity from its own): it only labels
    operator: { takeover_rad: Number.POSITIVE_INFINITY, takeover_decisions: 1, label_all: true, expert },
  });
  const { won, lost } = await watchEpisodes(rollouts, seed0, episodes, json);
  const names = correctionNames(desc, manifest.frame);
  const out: ImitationCheck = {
    robot,
    task,
    residual: path,
    seed0,
    expert,
    successes: won.length,
    episodes,
    ci95: wilson(won.length, episodes),
    in_successes: disagreement(won, names),
    in_failures: disagreement(lost, names),
  };
  process.stdout.write(json ? `${JSON.stringify(out)}\n` : textReport(out));
}

/** The residual's episodes from seed0, the operator watching: split by outcome. Closes the rollouts. */
async function watchEpisodes(rollouts: SimRollouts, seed0: number, episodes: number, json: boolean) {
  const bar = progress('imitation check', { unit: 'episodes', json });
  const won: RolloutEpisode[] = [];
  const lost: RolloutEpisode[] = [];
  try {
    for (let i = 0; i < episodes; i++) {
      const ep = await rollouts.episode(seed0 + i, undefined, true);
      (ep.success ? won : lost).push(ep);
      bar.update(i + 1, episodes, `${won.length} succeeded`);
    }
  } finally {
    bar.end();
    await rollouts.close();
  }
  return { won, lost };
}

/** The residual's u against the operator's label at each decision of these episodes. */
function disagreement(eps: RolloutEpisode[], names: readonly string[]): Disagreement | null {
  const A = names.length;
  const per = new Float64Array(A);
  let n = 0;
  for (const ep of eps) {
    const labels = ep.labels as Float32Array;
    for (let i = 0; i < ep.u.length; i++) {
      const d = ep.u[i] - labels[i];
      per[i % A] += d * d;
    }
    n += ep.steps;
  }
  if (n === 0) return null;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    decisions: n,
    sum_sq_per_decision: round(per.reduce((a, b) => a + b, 0) / n),
    rms_per_dimension: Object.fromEntries(names.map((name, j) => [name, round(Math.sqrt(per[j] / n))])),
  };
}

function textReport(out: ImitationCheck): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const line = (name: string, d: Disagreement | null) => {
    if (!d) return `  ${name.padEnd(16)} none\n`;
    const dims = Object.entries(d.rms_per_dimension)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ');
    return `  ${name.padEnd(16)} ${d.sum_sq_per_decision.toFixed(2)} per decision (${d.decisions}); RMS ${dims}\n`;
  };
  const seeds = `seeds ${out.seed0}-${out.seed0 + out.episodes - 1}`;
  return (
    `${out.robot} ${out.task}, ${seeds}: the residual alone ${out.successes}/${out.episodes} ` +
    `(${pct(out.successes / out.episodes)}, 95% CI ${pct(out.ci95[0])}-${pct(out.ci95[1])})\n` +
    `its disagreement with the operator (${out.expert}), squared, in units of the bound:\n` +
    line('in successes', out.in_successes) +
    line('in failures', out.in_failures)
  );
}
