// `vla-finetune probe`: before a session, how well the base model's features place the task's objects (rl/
// feature-probe.ts). A residual corrects toward what it can see; a target its inputs do not place is one it can
// only guess, whatever the reward, and --start-features helps where the scene's first chunks place it better.
import type { Command } from 'commander';
import { PolicyMismatch } from '../../policy/load-policy.js';
import {
  collectProbeSamples,
  NoFeaturesError,
  type ProbeRun,
  type ProbeScore,
  probeScores,
} from '../../rl/feature-probe.js';
import { progress } from '../../telemetry/progress.js';
import { intArg, UsageError } from '../common.js';
import { robotDescription } from '../run/robot-args.js';
import { robotArg, TASK_HELP, taskArg } from '../sim/args.js';

const PROBE_HELP = `
Examples:
  vla-finetune probe --robot ur5e --task push --base models/ur5e-push.onnx
  vla-finetune probe --robot aloha --episodes 100 --start-chunks 1 --json

The base model runs alone in the embedded sim on seeds SEED0.. (the runtime's loop, virtual clock). A ridge
regression maps each chunk's features to each object's x, y and yaw (modulo a quarter turn: the tasks' cubes look
the same after one) and the target's x and y, fitted on the first 3/4 of the episodes and scored on the rest: R²
(1: placed exactly, 0: not at all; n/a: the coordinate never varies) and the RMSE beside its own spread. "whole
episode" scores every chunk; "start" only each episode's first --start-chunks chunks, the scene the residual keeps
with vla-finetune --start-features. The sim only: a robot has no true poses. Exit codes: 0 done, 2 bad usage or a
model without features.`;

export function probeCommand(program: Command): void {
  program
    .command('probe')
    .description(
      "how well the base model's features place the task's objects (the sim's true poses): what a residual can see",
    )
    .option('--robot <name>', 'ur5 | ur5e | aloha', 'ur5e')
    .option('--task <name>', TASK_HELP)
    .option('--base <model.onnx>', 'the base policy (default: models/<robot>-<task>.onnx)')
    .option('--episodes <n>', 'episodes of the base model alone', '200')
    .option('--seed0 <n>', 'the first seed (training seeds by convention: below 10000)', '5000')
    .option('--start-chunks <n>', "each episode's first chunks scored apart as its start scene", '2')
    .option('--json', 'print one JSON object on stdout')
    .addHelpText('after', PROBE_HELP)
    .action(probeAction);
}

async function probeAction(o: Record<string, string | boolean | undefined>): Promise<void> {
  const robot = robotArg(o.robot as string);
  const task = taskArg(robot, o.task as string | undefined);
  const base = (o.base as string | undefined) ?? `models/${robot}-${task}.onnx`;
  const episodes = intArg('--episodes', o.episodes as string, 20, 100_000);
  const start_chunks = intArg('--start-chunks', o.startChunks as string, 1, 1000);
  const json = o.json === true;
  const collected = await collectForCli(
    {
      description: await robotDescription(robot, undefined, 50),
      task,
      base_path: base,
      episodes,
      seed0: intArg('--seed0', o.seed0 as string, 0),
    },
    'probing',
    json,
  );
  const { coordinates, samples } = collected;
  const whole = probeScores(coordinates, samples);
  const start = probeScores(
    coordinates,
    samples.filter((s) => s.chunk < start_chunks),
  );
  const out = { robot, task, base, episodes, chunks: samples.length, start_chunks, whole_episode: whole, start };
  if (json) {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const startTitle = `start (${start_chunks} chunks)`;
  const line = (w: ProbeScore, s: ProbeScore) =>
    `  ${w.name.padEnd(12)} ${fmt(w)}   ${fmt(s)}   ${w.std.toFixed(1).padStart(5)} ${w.unit}`;
  process.stdout.write(
    [
      `${base} on ${robot} ${task}: ${episodes} episodes, ${samples.length} chunks (features -> true x, y, yaw; ` +
        'held-out episodes)',
      `  ${'coordinate'.padEnd(12)} ${'whole episode'.padEnd(20)}   ${startTitle.padEnd(20)}   spread`,
      ...whole.map((w, i) => line(w, start[i])),
      '',
    ].join('\n'),
  );
}

/** The base model alone in the sim, with a progress bar; a model that cannot be probed is bad usage (exit 2). */
export async function collectForCli(r: ProbeRun, label: string, json: boolean) {
  const bar = progress(label, { unit: 'episodes', json });
  try {
    return await collectProbeSamples({
      ...r,
      onEpisode: (done) => bar.update(done, r.episodes, `base model alone, ${r.task}`),
    });
  } catch (err) {
    if (err instanceof NoFeaturesError || err instanceof PolicyMismatch) throw new UsageError(`--base ${err.message}`);
    throw err;
  } finally {
    bar.end();
  }
}

const fmt = (s: ProbeScore) =>
  `R² ${(s.r2 === null ? 'n/a' : s.r2.toFixed(2)).padStart(5)}  ${s.rmse.toFixed(1).padStart(5)} ${s.unit}`.padEnd(20);
