// vla-replay sim: recorded episodes again in the embedded sim, from the start they were recorded from, through the
// episode engine, buffer and safety filter: the recorded commands open loop (where and when does the sim leave
// the recording: per joint, the first tick over a threshold), or a policy closed loop side by side with the
// recorded run (success, time to success, trajectories overlaid in --out). Every file is checked before anything
// runs: one that cannot be replayed (another robot, missing what replay needs, truncated) exits 2 naming it, or
// with --keep-going is listed and left out. Episodes run on worker threads, one per core.
import type { Command } from 'commander';
import { EpisodeFileError } from '../../recording/index.js';
import { ReplayFailed, ReplayPool, workerCount } from '../../replay/sim/pool.js';
import type { EpisodeReplay, SimReplayJob, SimReplayMode } from '../../replay/sim/replay-episode.js';
import {
  checkRecordedActions,
  checkSimReplay,
  ReplayInputError,
  type ReplayTarget,
} from '../../replay/sim/replay-input.js';
import { loadReplayPolicy } from '../../replay/sim/replay-policy.js';
import { writeReplayReport } from '../../replay/sim/report.js';
import { buildSimSummary, formatSimSummary, type SkippedEpisode } from '../../replay/sim/summary.js';
import { type EpisodeSource, EpisodeSourceError, listEpisodeSources } from '../../replay/sources.js';
import { BLEND_MODES } from '../../runtime/action-buffer.js';
import { parseInjectedLatency, parseLatencyModel } from '../../runtime/timing/latency-model.js';
import { createLogger, type Logger } from '../../telemetry/log.js';
import { progress } from '../../telemetry/progress.js';
import { choice, EXIT, intArg, numArg, UsageError } from '../common.js';
import { signalExitCode } from '../run/interrupts.js';
import { parseOr } from '../run/run-args.js';
import { NOISE_HELP, physicsHzArg } from '../sim/args.js';

type Flags = Record<string, string | boolean | undefined>;

export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description(
      'replay recorded episodes in the embedded sim from their recorded start: the recorded commands open loop ' +
        '(--actions recorded: where the sim leaves the recording), or a policy closed loop (--policy)',
    )
    .argument('<episodes...>', 'MCAP episodes, or folders of them')
    .option('--actions <recorded>', 'play the recorded commands open loop, each at its own tick')
    .option('--policy <spec>', 'or run this policy closed loop: expert | tick-stamp | model.onnx | zmq://host:port')
    .option('--robot <name>', 'the robot the recordings must be from (one of another exits 2)')
    .option(
      '--profile <file.json>',
      "the robot profile to replay with (default: the shipped one); its joints must be the recording's",
    )
    .option(
      '--physics-hz <hz>',
      'physics rate for recordings from a robot (default 500); a sim recording keeps its own',
    )
    .option(
      '--threshold <x>',
      'a joint further from the recording than this (rad; grippers: opening 0..1) is reported',
      '0.001',
    )
    .option('--fail-above <rad>', 'exit 1 when any joint diverges more than this (a check for scripts)')
    .option('--noise <x>', `with --policy expert: ${NOISE_HELP} (default: the recording's)`)
    .option('--blend <mode>', 'with --policy: replace | ensemble | average', 'replace')
    .option('--delay <auto|N>', 'with --policy: UAC delay, as vla-run', 'auto')
    .option('--margin <ticks>', 'with --policy: buffer kept beyond the expected delay', '2')
    .option('--max-in-flight <n>', 'with --policy: inference requests out at once', '1')
    .option(
      '--latency-model <spec>',
      'with --policy: what an inference costs on the virtual clock, as vla-run',
      'measured',
    )
    .option('--inject-latency-ms <N[:J]>', 'with --policy: add N +- J ms to every inference', '0')
    .option('--allow-robot-mismatch', 'with --policy: run a model whose manifest names another robot')
    .option('--out <dir>', 'write replay-sim.html (table and plots) and a PNG per episode: joints recorded vs replayed')
    .option('--workers <n>', 'episodes replayed at once, each on its own thread (default: one per core)')
    .option('--keep-going', 'leave out (and list) an episode that cannot be replayed, go on with the others')
    .option('--json', 'print exactly one JSON object on stdout')
    .addHelpText(
      'after',
      `
Examples:
  vla-replay sim demos/ur5e-pick-place-seed3.mcap --actions recorded
  vla-replay sim demos/ --actions recorded --fail-above 1e-6 --json       exact replay, as a check
  vla-replay sim runs/ur5e-pick-place-seed0.mcap --actions recorded --threshold 0.01   a robot recording
  vla-replay sim demos/ --policy models/ur5e-pick-place.onnx --out report/
  vla-replay sim demos/ --policy expert --workers 2 --keep-going

A recording from the embedded sim starts from its recorded sim state and replays within 1e-6 rad (the sim is
deterministic); one from a robot (vla-run --rosbridge/--ports --record) starts from its seed's scene with the
arms at the first recorded joint state, and the report shows where the sim leaves it.
Exit codes: 0 done, 1 a replay fault or --fail-above exceeded, 2 bad usage or input (nothing ran; with
--keep-going: only when no episode could be replayed), 130 Ctrl-C, 143 SIGTERM.`,
    )
    .action(simAction);
}

interface SimArgs {
  inputs: string[];
  mode: SimReplayMode;
  target: ReplayTarget;
  threshold: number;
  fail_above: number | null;
  out: string | undefined;
  workers: number | undefined;
  keep_going: boolean;
  json: boolean;
}

function parseArgs(inputs: string[], o: Flags): SimArgs {
  const actions = o.actions as string | undefined;
  const policy = o.policy as string | undefined;
  if ((actions === undefined) === (policy === undefined))
    throw new UsageError('say what to replay: --actions recorded (open loop) or --policy X (closed loop), one of them');
  if (actions !== undefined) choice('--actions', actions, ['recorded'] as const);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const mode: SimReplayMode =
    policy === undefined
      ? { kind: 'recorded' }
      : {
          kind: 'policy',
          spec: policy,
          ...(o.noise !== undefined ? { noise: numArg('--noise', o.noise as string, 0, 2) } : {}),
          allow_robot_mismatch: o.allowRobotMismatch === true,
          runtime: {
            blend: choice('blend', o.blend as string, BLEND_MODES),
            fixed_delay_ticks: o.delay === 'auto' ? undefined : intArg('--delay', o.delay as string, 0, 1000),
            margin_ticks: intArg('--margin', o.margin as string, 0, 1000),
            max_in_flight: intArg('--max-in-flight', o.maxInFlight as string, 1, 4),
            latency_model: parseOr(() => parseLatencyModel(o.latencyModel as string)),
            injected: parseOr(() => parseInjectedLatency(o.injectLatencyMs as string)),
          },
        };
  if (policy === undefined && o.noise !== undefined) throw new UsageError('--noise goes with --policy expert');
  return {
    inputs,
    mode,
    target: {
      robot: str(o.robot),
      profile_path: str(o.profile),
      physics_hz: o.physicsHz === undefined ? undefined : physicsHzArg(o.physicsHz as string),
    },
    threshold: numArg('--threshold', o.threshold as string, 0, 10),
    fail_above: o.failAbove === undefined ? null : numArg('--fail-above', o.failAbove as string, 0, 100),
    out: str(o.out),
    workers: o.workers === undefined ? undefined : intArg('--workers', o.workers as string, 1, 256),
    keep_going: o.keepGoing === true,
    json: o.json === true,
  };
}

async function simAction(inputs: string[], o: Flags): Promise<void> {
  const a = parseArgs(inputs, o);
  const log = createLogger({ name: 'vla-replay' });
  const sources = await listEpisodeSources(a.inputs).catch((err: unknown) => {
    throw err instanceof EpisodeSourceError ? new UsageError(err.message) : err;
  });
  const { admitted, skipped } = await admit(sources, a, log);
  if (admitted.length === 0) throw new UsageError(`nothing to replay: ${skipped.map((s) => s.error).join('; ')}`);
  const skippedBefore = skipped.length;
  const policyName = await checkPolicy(admitted[0], a);
  const pool = ReplayPool.start(workerCount(a.workers, admitted.length));
  const interrupts = new SimInterrupts(log, () => void pool.close());
  let done: Awaited<ReturnType<typeof dispatch>>;
  try {
    done = await dispatch(admitted, a, pool, skipped, interrupts, log);
  } finally {
    await pool.close();
    interrupts.dispose();
  }
  const { results, labels, failures } = done;
  const what = a.mode.kind === 'recorded' ? 'recorded commands' : policyName;
  const title = `vla-replay sim: ${results.length} episode(s), ${what}`;
  const report = a.out && results.length ? await writeReplayReport(a.out, title, results) : null;
  const summary = buildSimSummary(
    { mode: a.mode.kind, policy: policyName, threshold: a.threshold, workers: pool.size, fail_above_rad: a.fail_above },
    results,
    skipped,
    report,
    interrupts.signal,
    failures,
  );
  process.stdout.write(a.json ? `${JSON.stringify(summary)}\n` : formatSimSummary(summary, labels));
  if (interrupts.signal) process.exitCode = signalExitCode(interrupts.signal);
  else if (failures.length || summary.replay_faults || summary.failed_check) process.exitCode = EXIT.check_failed;
  // checked before anything ran, a file can still fail in its replay (the sim refuses its start state)
  else if (skipped.length > skippedBefore && !a.keep_going) process.exitCode = EXIT.usage;
}

/** Each episode read and checked before anything runs: a bad one is bad input (exit 2), or left out (--keep-going). */
async function admit(
  sources: EpisodeSource[],
  a: SimArgs,
  log: Logger,
): Promise<{ admitted: EpisodeSource[]; skipped: SkippedEpisode[] }> {
  const admitted: EpisodeSource[] = [];
  const skipped: SkippedEpisode[] = [];
  for (const s of sources) {
    try {
      const ep = await s.read({ frames: false });
      await checkSimReplay(ep, a.target);
      if (a.mode.kind === 'recorded') checkRecordedActions(ep);
      admitted.push(s);
    } catch (err) {
      if (!(err instanceof EpisodeFileError || err instanceof ReplayInputError)) throw err;
      if (!a.keep_going)
        throw new UsageError(
          `${err.message}${sources.length > 1 ? ' (--keep-going leaves it out and replays the others)' : ''}`,
        );
      log.warn(`--keep-going: left out ${err.message}`);
      skipped.push({ file: s.origin, error: err.message });
    }
  }
  return { admitted, skipped };
}

/** A policy that cannot drive the recordings' robot is refused once, before any episode runs. */
async function checkPolicy(first: EpisodeSource, a: SimArgs): Promise<string> {
  if (a.mode.kind === 'recorded') return 'recorded-actions';
  const ep = await first.read({ frames: false });
  const setup = await checkSimReplay(ep, a.target);
  try {
    const { policy } = await loadReplayPolicy(a.mode, setup.description, setup.task, ep.meta.expert_noise);
    const name = policy.describe().name;
    await policy.close();
    return name;
  } catch (err) {
    if (err instanceof ReplayInputError) throw new UsageError(err.message);
    throw err;
  }
}

async function dispatch(
  sources: EpisodeSource[],
  a: SimArgs,
  pool: ReplayPool,
  skipped: SkippedEpisode[],
  interrupts: SimInterrupts,
  log: Logger,
): Promise<{ results: EpisodeReplay[]; labels: Map<string, string>; failures: string[] }> {
  const job: SimReplayJob = {
    mode: a.mode,
    target: a.target,
    threshold: a.threshold,
    trajectories: a.out !== undefined,
  };
  // in the order of the sources, whichever worker finishes first
  const byIndex: EpisodeReplay[] = [];
  const results = () => byIndex.filter(Boolean);
  const labels = new Map<string, string>();
  const failures: string[] = [];
  const bar = progress('replay', { unit: 'episodes', json: a.json });
  const running = new Set<Promise<void>>();
  let done = 0;
  const finished = () => {
    done++;
    const diverged = results().filter((r) => r.divergence.first_tick_over !== null).length;
    bar.update(done, sources.length, `${diverged} diverged`);
  };
  try {
    for (const [i, s] of sources.entries()) {
      while (running.size >= pool.size) await Promise.race(running);
      if (interrupts.signal) break;
      const ep = await s.read({ frames: false });
      if (interrupts.signal) break; // it came while the file was read
      const p: Promise<void> = pool
        .replay(ep, job)
        .then(
          (r) => {
            byIndex[i] = r;
            labels.set(r.file, s.label);
            log.info({ file: s.origin, divergence_rad: r.divergence.max_abs_rad, end: r.replay.end }, 'replayed');
          },
          (err: unknown) => {
            if (interrupts.signal) return;
            const message = err instanceof Error ? err.message : String(err);
            if (err instanceof ReplayFailed && err.input) skipped.push({ file: s.origin, error: message });
            else failures.push(`${s.origin}: ${message}`);
          },
        )
        .finally(() => {
          running.delete(p);
          finished();
        });
      running.add(p);
    }
    await Promise.all(running);
  } finally {
    bar.end();
  }
  return { results: results(), labels, failures };
}

/**
 * Ctrl-C or SIGTERM: no robot to hold here; the replays under way are dropped and the summary of those done is
 * printed (exit 130 / 143). A second signal exits at once.
 */
class SimInterrupts {
  signal: 'SIGINT' | 'SIGTERM' | undefined;
  private readonly handler = (sig: 'SIGINT' | 'SIGTERM') => {
    if (this.signal) process.exit(signalExitCode(this.signal));
    this.signal = sig;
    this.log.warn(`${sig}: stopping the replays (the summary of those done follows); once more exits at once`);
    this.stop();
  };

  constructor(
    private readonly log: Logger,
    private readonly stop: () => void,
  ) {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }

  dispose(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}
