// vla-sim run: scripted-expert episodes in the embedded simulation, through the same episode engine,
// buffer, safety and control loop as vla-run, on the real-time or the fast clock, optionally recorded to
// MCAP (one file per episode).
import type { Command } from 'commander';
import { createLogger } from '../../telemetry/log.js';
import { wilson } from '../../util/stats.js';
import { choice, intArg, numArg } from '../common.js';
import { runEpisodes } from '../run/episodes.js';
import { openRecorder } from '../run/recorder.js';
import { robotDescription } from '../run/robot-args.js';
import { startSimRun } from '../run/sim-runner.js';
import { cameraListArg, physicsHzArg, robotArg, TASK_HELP, taskArg } from './args.js';

export function runCommand(program: Command): void {
  program
    .command('run')
    .description('run scripted-expert episodes in the simulation (and record them)')
    .option('--robot <name>', 'ur5 | ur5e | aloha')
    .option('--task <name>', TASK_HELP)
    .option('--episodes <n>', 'number of episodes', '1')
    .option('--seed <n>', 'seed of the first episode; episode i uses seed + i', '0')
    .option('--noise <x>', 'expert noise, 0 (clean) .. 2, for imperfect demonstrations', '0')
    .option('--clock <clock>', 'realtime: 50 ticks per second of wall time; fast: as fast as possible', 'realtime')
    .option('--record <dir>', 'write each episode to <dir>/<robot>-<task>-seed<N>.mcap')
    .option('--cameras <list>', 'cameras to record, comma-separated, or "none" (default: all; fast clock only)')
    .option('--camera-size <px>', 'recorded image width and height', '96')
    .option('--physics-hz <hz>', 'physics rate, a whole multiple of the 50 Hz control rate', '500')
    .option('--json', 'print one JSON object on stdout')
    .action(runAction);
}

async function runAction(o: Record<string, string | boolean | undefined>): Promise<void> {
  const robot = robotArg(o.robot as string | undefined);
  const task = taskArg(robot, o.task as string | undefined);
  const episodes = intArg('--episodes', o.episodes as string, 1, 1_000_000);
  const seed0 = intArg('--seed', o.seed as string, 0);
  const noise = numArg('--noise', o.noise as string, 0, 2);
  const clock = choice('clock', o.clock as string, ['realtime', 'fast'] as const);
  const cameraSize = intArg('--camera-size', o.cameraSize as string, 8, 1024);
  const physics_hz = physicsHzArg(o.physicsHz as string);
  const log = createLogger({ name: 'vla-sim' });
  const description = await robotDescription(robot, undefined, 50);
  const run = await startSimRun({
    robot,
    task,
    description,
    clock,
    physics_hz,
    policy: 'expert',
    noise,
    opts: {
      blend: 'replace',
      margin_ticks: 2,
      injected: { base_ms: 0, jitter_ms: 0 },
      seed: seed0,
      latency_model: { kind: 'fixed', ms: 0 },
    },
  });
  const cameras = o.record && clock === 'fast' ? cameraListArg(robot, o.cameras as string | undefined) : [];
  const record = o.record as string | undefined;
  let outcome: Awaited<ReturnType<typeof runEpisodes>> | undefined;
  try {
    outcome = await runEpisodes(run.engine, {
      episodes,
      seed0,
      label: `${robot} ${task}`,
      json: o.json === true,
      log,
      recorder: record
        ? (seed) =>
            openRecorder(
              {
                target: record,
                many: true,
                robot: description,
                task,
                policy: run.policy.describe().name,
                cameras,
                camera_size: cameraSize,
                sim: run.driver,
              },
              seed,
            )
        : undefined,
    });
  } finally {
    const report = await run.engine.stop();
    await run.policy.close();
    if (outcome)
      printRunSummary(o, { robot, task, noise, clock, physics_hz, record }, outcome.results, report.control.underruns);
  }
}

function printRunSummary(
  o: Record<string, string | boolean | undefined>,
  run: { robot: string; task: string; noise: number; clock: string; physics_hz: number; record?: string },
  results: { seed: number; success: boolean; ticks: number; file?: string }[],
  underruns: number,
): void {
  const successes = results.filter((r) => r.success).length;
  const summary = {
    robot: run.robot,
    task: run.task,
    sim: true,
    policy: 'expert',
    noise: run.noise,
    clock: run.clock,
    physics_hz: run.physics_hz,
    episodes: results.length,
    successes,
    success_rate: results.length ? successes / results.length : 0,
    success_ci95: wilson(successes, results.length),
    mean_ticks: results.length ? results.reduce((a, r) => a + r.ticks, 0) / results.length : 0,
    underruns,
    failed_seeds: results.filter((r) => !r.success).map((r) => r.seed),
    recordings: results.flatMap((r) => (r.file ? [r.file] : [])),
  };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  process.stdout.write(
    `${run.robot} ${run.task} (sim, ${run.clock} clock, scripted expert${run.noise ? `, noise ${run.noise}` : ''}): ` +
      `${successes}/${results.length} episodes succeeded (${(100 * summary.success_rate).toFixed(0)}%), mean ` +
      `${summary.mean_ticks.toFixed(0)} ticks\n`,
  );
  if (summary.recordings.length)
    process.stdout.write(`recorded ${summary.recordings.length} episode(s) under ${run.record}\n`);
}
