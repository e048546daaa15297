// `vla-finetune operator`: before a session, what the scripted operator alone achieves within the residual's bound,
// holding the arm at every decision (and the base alone beside it). It is the ceiling of what a residual that learns
// from its corrections can reach: a session whose operator cannot do the task within the bound cannot learn it, and
// one whose operator can shows how much a residual leaves on the table (docs/finetune-results.md, ur5e push).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { shippedModelPath } from '../../policy/default-policy.js';
import { residualManifestFor } from '../../policy/residual/residual-draft.js';
import { inputSize } from '../../policy/residual/residual-manifest.js';
import { ActorUnit, actorLayers, zeroActor } from '../../rl/actor-net.js';
import { SimRollouts } from '../../rl/sim-rollouts.js';
import type { RobotDescription } from '../../robot/index.js';
import { type FailureOutcome, failureOutcome } from '../../runtime/episode/failure-outcome.js';
import { type Progress, progress } from '../../telemetry/progress.js';
import { Rng } from '../../util/rng.js';
import { wilson } from '../../util/stats.js';
import { intArg, numArg } from '../common.js';
import { robotDescription } from '../run/robot-args.js';
import { failuresLine } from '../run/summary.js';
import { robotArg, TASK_HELP, taskArg } from '../sim/args.js';
import { baseModel } from './base-model-args.js';
import { jointBoundsArg } from './joint-bounds-arg.js';
import { operatorExpert } from './robot-link-args.js';
import { toolFrameArg, toolFrameOptions } from './tool-frame-arg.js';

const OPERATOR_HELP = `
Examples:
  vla-finetune operator --robot ur5e --task push --scale-deg 6
  vla-finetune operator --robot ur5e --task push --scale-deg 4 --operator-expert feedback --json
  vla-finetune operator --robot ur5e --task push --scale-deg 6 --correction-noise 0.1
  vla-finetune operator --robot ur5e --task push --frame tool --scale-cm 3 --scale-deg 6

The base model runs in the embedded sim on seeds SEED0.. (the runtime's loop, virtual clock), first alone, then
with the scripted operator holding the arm at every residual decision: base action + bound x clip((expert - base) /
bound, -1, 1), the most a residual with that bound could do toward the expert (vla-finetune --operator scripted).
--correction-noise adds Gaussian noise to each applied correction, as a residual that imitates the operator
imperfectly would: how precisely must one reproduce the corrections?
Success counts with their 95% intervals and where the failures ended. Exit codes: 0 done, 2 bad usage.`;

export function operatorCommand(program: Command): void {
  const cmd = program
    .command('operator')
    .description('what the scripted operator alone achieves within the residual bound: the ceiling of a session')
    .option('--robot <name>', 'ur5 | ur5e | aloha', 'ur5e')
    .option('--task <name>', TASK_HELP)
    .option('--base <model.onnx>', 'the base policy (default: the shipped model for the robot and task)')
    .option('--scale-deg <deg>', 'the residual bound per arm joint (deg): one for all or one per joint', '3')
    .option('--gripper-scale <x>', 'the residual bound of each gripper (of its 0..1 range)', '0.2');
  toolFrameOptions(cmd, false)
    .option('--every-ticks <n>', 'ticks between residual decisions', '5')
    .option('--correction-noise <sd>', 'Gaussian noise on each applied correction (units of the bound)', '0');
  simCheckOptions(cmd, '200', '30000').addHelpText('after', OPERATOR_HELP).action(operatorAction);
}

/** The options of a check in the sim with the scripted operator (this one and `vla-finetune imitation`). */
export function simCheckOptions(cmd: Command, episodes: string, seed0: string): Command {
  return cmd
    .option('--operator-expert <how>', 'plan | feedback: where the corrections point (vla-finetune --help)', 'plan')
    .option('--episodes <n>', 'episodes (the operator check: of each, the base alone and with the operator)', episodes)
    .option('--seed0 <n>', 'the first seed', seed0)
    .option('--latency-ms <ms>', "the base model's latency on the virtual clock", '5')
    .option('--json', 'print one JSON object on stdout');
}

/** One pass over the seeds: successes, their 95% interval, where the failures ended. */
interface Tally {
  successes: number;
  episodes: number;
  ci95: [number, number];
  failures: FailureOutcome | null;
}

interface OperatorCheck {
  robot: string;
  task: string;
  base: string;
  seed0: number;
  /** The joint frame's bound per arm joint, or the tool frame's translation and rotation bounds. */
  joint_bound_deg?: number[];
  tool_bound?: { translation_cm: number[]; rotation_deg: number[] };
  expert: 'plan' | 'feedback';
  correction_noise: number;
  base_alone: Tally;
  with_operator: Tally;
}

/** What simCheckOptions' flags (and --robot, --task, --base) say. */
export function simCheckArgs(o: Record<string, string | boolean | undefined>) {
  const robot = robotArg(o.robot as string);
  const task = taskArg(robot, o.task as string | undefined);
  return {
    robot,
    task,
    expert: operatorExpert(o.operatorExpert as string, 'scripted', task),
    base_path: resolve((o.base as string | undefined) ?? shippedModelPath(robot, task)),
    episodes: intArg('--episodes', o.episodes as string, 1, 100_000),
    seed0: intArg('--seed0', o.seed0 as string, 0),
    json: o.json === true,
    latency_ms: numArg('--latency-ms', o.latencyMs as string, 0, 10_000),
  };
}

async function operatorAction(o: Record<string, string | boolean | undefined>): Promise<void> {
  const { robot, task, expert, base_path, episodes, seed0, json, latency_ms } = simCheckArgs(o);
  const correction_noise = numArg('--correction-noise', o.correctionNoise as string, 0, 10);
  const desc = await robotDescription(robot, undefined, 50);
  const { horizon } = await baseModel(base_path, desc);
  const tool = toolFrameArg(o, desc);
  const manifest = await residualManifestFor(desc, {
    name: 'operator-check',
    base_path,
    base_horizon: horizon,
    hidden: [1],
    ...(tool ? { tool } : { joint_scale_rad: jointBoundsArg(o.scaleDeg as string, desc.joint_names) }),
    gripper_scale: numArg('--gripper-scale', o.gripperScale as string, 0, 1),
    every_ticks: intArg('--every-ticks', o.everyTicks as string, 1, 100),
  });
  const A = desc.action_names.length;
  const sizes = [inputSize(manifest), 1, 2 * A];
  // the actor's own u is never used: the operator replaces it at every decision (base alone: u = tanh(0) = 0)
  const rollouts = await SimRollouts.create({
    description: desc,
    task,
    base_path,
    manifest,
    actor: new ActorUnit(actorLayers(zeroActor(sizes), sizes), A),
    latency_model: { kind: 'fixed', ms: latency_ms },
    seed: 0,
    operator: { takeover_rad: 0, takeover_decisions: 1, expert, correction_noise },
  });
  const bar = progress('operator check', { unit: 'episodes', json });
  let out: OperatorCheck;
  try {
    const pass = (withOperator: boolean) => tally(rollouts, seed0, episodes, withOperator, bar);
    const base_alone = await pass(false);
    const with_operator = await pass(true);
    const bound = boundFigures(tool, manifest.scale, desc);
    out = { robot, task, base: base_path, seed0, ...bound, expert, correction_noise, base_alone, with_operator };
  } finally {
    bar.end();
    await rollouts.close();
  }
  process.stdout.write(json ? `${JSON.stringify(out)}\n` : textReport(out));
}

/** The bound as the report gives it: the tool's in cm and degrees, or each arm joint's in degrees. */
function boundFigures(
  tool: { translation_m: number[]; rotation_rad: number[] } | undefined,
  scale: readonly number[],
  desc: RobotDescription,
): Pick<OperatorCheck, 'joint_bound_deg' | 'tool_bound'> {
  const deg = (rad: number) => (rad * 180) / Math.PI;
  if (tool)
    return {
      tool_bound: { translation_cm: tool.translation_m.map((m) => m * 100), rotation_deg: tool.rotation_rad.map(deg) },
    };
  return { joint_bound_deg: scale.filter((_, i) => desc.action_source[i] >= 0).map(deg) };
}

/** The seeds from seed0, base alone or with the operator (it watches exploring episodes only: explore is set). */
async function tally(
  rollouts: SimRollouts,
  seed0: number,
  episodes: number,
  withOperator: boolean,
  bar: Progress,
): Promise<Tally> {
  let successes = 0;
  const failed = [];
  for (let i = 0; i < episodes; i++) {
    const ep = await rollouts.episode(seed0 + i, withOperator ? new Rng(seed0 + i) : undefined);
    if (ep.success) successes++;
    else failed.push(ep.task_outcome);
    const done = (withOperator ? episodes : 0) + i + 1;
    bar.update(done, 2 * episodes, withOperator ? 'with the operator' : 'base alone');
  }
  return { successes, episodes, ci95: wilson(successes, episodes), failures: failureOutcome(failed) ?? null };
}

const xyz = (v: number[]) => v.map((x) => x.toFixed(1)).join('/');

function textReport(out: OperatorCheck): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const line = (name: string, t: Tally) => {
    const f = t.failures ? `\n    ${failuresLine(t.failures)}` : '';
    const ci = `95% CI ${pct(t.ci95[0])}-${pct(t.ci95[1])}`;
    return `  ${name.padEnd(18)} ${t.successes}/${t.episodes} (${pct(t.successes / t.episodes)}, ${ci})${f}\n`;
  };
  const seeds = `seeds ${out.seed0}-${out.seed0 + out.base_alone.episodes - 1}`;
  const t = out.tool_bound;
  const bound = t
    ? `the tool moved up to ${xyz(t.translation_cm)} cm and turned up to ${xyz(t.rotation_deg)} deg (x/y/z)`
    : `${[...new Set((out.joint_bound_deg ?? []).map((d) => d.toFixed(1)))].join('/')} deg per joint`;
  const aim =
    (out.expert === 'feedback' ? "the expert's next command from the state" : "the expert's plan") +
    (out.correction_noise ? `, noise of sd ${out.correction_noise} (of the bound) on each correction` : '');
  return (
    `${out.robot} ${out.task}, ${seeds}; bound ${bound}; the operator corrects toward ${aim}:\n` +
    line('base alone', out.base_alone) +
    line('with the operator', out.with_operator)
  );
}
