// vla-sim run: scripted-expert episodes in the embedded simulation, through the same episode engine,
// buffer, safety and control loop as vla-run, on the real-time or the fast clock, optionally recorded to
// MCAP with vla-run's path rule and flags (recorder.ts), camera frames included on either clock.
import { type Command, Option } from 'commander';
import { type FailureOutcome, failureOutcome } from '../../runtime/episode/failure-outcome.js';
import { createLogger } from '../../telemetry/log.js';
import { wilson } from '../../util/stats.js';
import { choice, intArg, numArg } from '../common.js';
import { type EpisodesResult, runEpisodes } from '../run/episodes.js';
import { signalExitCode } from '../run/interrupts.js';
import {
  checkRecordTarget,
  formatRecordedFiles,
  openRecorder,
  RECORD_CAMERAS_HELP,
  RECORD_HELP,
  RECORD_SIZE_HELP,
  type RecordedFile,
  type RecordingPlan,
  recordedFiles,
} from '../run/recorder.js';
import { robotDescription } from '../run/robot-args.js';
import { startSimRun } from '../run/sim-runner.js';
import { failuresLine } from '../run/summary.js';
import { cameraListArg, NOISE_HELP, physicsHzArg, robotArg, TASK_HELP, taskArg } from './args.js';

type Flags = Record<string, string | boolean | undefined>;

export function runCommand(program: Command): void {
  program
    .command('run')
    .description('run scripted-expert episodes in the simulation (and record them)')
    .option('--robot <name>', 'ur5 | ur5e | aloha (required)')
    .option('--task <name>', TASK_HELP)
    .option('--episodes <n>', 'number of episodes', '1')
    .option('--seed <n>', 'seed of the first episode; episode i uses seed + i', '0')
    .option('--noise <x>', NOISE_HELP, '0')
    .option('--clock <clock>', 'realtime: 50 ticks per second of wall time; fast: as fast as possible', 'realtime')
    .option('--record <file.mcap|dir>', RECORD_HELP)
    .option('--record-cameras <names|all|none>', `${RECORD_CAMERAS_HELP} (default: all)`)
    .option('--record-size <px>', `${RECORD_SIZE_HELP} (default: 96)`)
    // the names before vla-run's were adopted; kept working, not shown
    .addOption(new Option('--cameras <list>').hideHelp())
    .addOption(new Option('--camera-size <px>').hideHelp())
    .option('--physics-hz <hz>', 'physics rate, a whole multiple of the 50 Hz control rate', '500')
    .option('--json', 'print one JSON object on stdout')
    .addHelpText(
      'after',
      `
Examples:
  vla-sim run --robot ur5                                   one pick-place episode, 50 Hz of wall time
  vla-sim run --robot ur5e --task push --episodes 20 --clock fast --json
  vla-sim run --robot aloha --episodes 10 --clock fast --record demos/      demos/aloha-transfer-cube-seed<N>.mcap
  vla-sim run --robot ur5 --record one.mcap                 one real-time episode with its camera frames
  vla-sim run --robot ur5e --noise 0.5 --episodes 200 --seed 1000 --clock fast --record demos/ --record-size 64`,
    )
    .action(runAction);
}

async function runAction(o: Flags): Promise<void> {
  const robot = robotArg(o.robot as string | undefined);
  const task = taskArg(robot, o.task as string | undefined);
  const episodes = intArg('--episodes', o.episodes as string, 1, 1_000_000);
  const seed0 = intArg('--seed', o.seed as string, 0);
  const noise = numArg('--noise', o.noise as string, 0, 2);
  const clock = choice('clock', o.clock as string, ['realtime', 'fast'] as const);
  const size = intArg('--record-size', (o.recordSize ?? o.cameraSize ?? '96') as string, 8, 1024);
  const cameraSpec = (o.recordCameras ?? o.cameras ?? 'all') as string;
  const cameras = cameraListArg(robot, cameraSpec === 'all' ? undefined : cameraSpec);
  const physics_hz = physicsHzArg(o.physicsHz as string);
  const record = o.record as string | undefined;
  const log = createLogger({ name: 'vla-sim' });
  const description = await robotDescription(robot, undefined, 50);
  const plan = (policy: string): RecordingPlan => ({
    target: record!,
    many: episodes > 1,
    robot: description,
    task,
    policy,
    cameras,
    camera_size: size,
    driver: 'sim',
    physics_hz,
    expert_noise: noise,
  });
  // a target that cannot be written is found before the sim starts
  if (record) await checkRecordTarget(plan('expert'), seed0);
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
  const recording = record ? { ...plan(run.policy.describe().name), sim: run.driver, frames: run.frames } : undefined;
  let outcome: EpisodesResult | undefined;
  try {
    outcome = await runEpisodes(run.engine, {
      episodes,
      seed0,
      label: `${robot} ${task}`,
      json: o.json === true,
      log,
      recorder: recording ? (seed) => openRecorder(recording, seed) : undefined,
    });
  } finally {
    const report = await run.engine.stop();
    await run.frames?.close?.();
    await run.policy.close();
    if (outcome) {
      const files = recording ? recordedFiles(recording) : [];
      printRunSummary(o, { robot, task, noise, clock, physics_hz, record }, outcome, report.control.underruns, files);
    }
  }
}

function printRunSummary(
  o: Flags,
  run: { robot: string; task: string; noise: number; clock: string; physics_hz: number; record?: string },
  outcome: EpisodesResult,
  underruns: number,
  files: RecordedFile[],
): void {
  const results = outcome.results;
  const scored = results.filter((r) => r.end === 'success' || r.end === 'failure');
  const successes = scored.filter((r) => r.success).length;
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
    success_rate: scored.length ? successes / scored.length : 0,
    success_ci95: wilson(successes, scored.length),
    mean_ticks: results.length ? results.reduce((a, r) => a + r.ticks, 0) / results.length : 0,
    underruns,
    failed_seeds: scored.filter((r) => !r.success).map((r) => r.seed),
    ...failureFigures(scored),
    ...(outcome.interrupted ? { interrupted: outcome.interrupted } : {}),
    recordings: files,
  };
  if (outcome.interrupted) process.exitCode = signalExitCode(outcome.interrupted);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  const unscored = results.length - scored.length;
  process.stdout.write(
    `${run.robot} ${run.task} (sim, ${run.clock} clock, scripted expert${run.noise ? `, noise ${run.noise}` : ''}): ` +
      `${successes}/${scored.length} episodes succeeded (${(100 * summary.success_rate).toFixed(0)}%)` +
      `${unscored ? `, ${unscored} cut short (not scored)` : ''}, mean ${summary.mean_ticks.toFixed(0)} ticks\n`,
  );
  if (summary.failure_outcome) process.stdout.write(`  failures: ${failuresLine(summary.failure_outcome)}\n`);
  process.stdout.write(formatRecordedFiles(files, run.record ?? ''));
}

/** Where the failed episodes ended (the task's figures), as vla-run's summary gives it. */
function failureFigures(scored: EpisodesResult['results']): { failure_outcome?: FailureOutcome } {
  const f = failureOutcome(scored.filter((r) => !r.success).map((r) => r.task_outcome));
  return f ? { failure_outcome: f } : {};
}
