// vla-run: run a policy on a robot with buffered action-chunk execution and print what happened.
// Drivers: the embedded sim (--sim), a UR5/UR5e over rosbridge (--rosbridge: a real cell or the
// simulated endpoint of `vla-sim serve`), or ALOHA over serial (--ports: a real rig or the Dynamixel
// emulator of `vla-sim dynamixel`, whose --sim-link gives episodes). A real robot is commanded only
// when the user names it.
import { Command } from 'commander';
import { ROS_LAYOUTS } from '../../protocols/ros/layout.js';
import { robotModel } from '../../sim/robots/index.js';
import type { SimDriver } from '../../sim/sim-driver.js';
import { createTask, taskTickLimit } from '../../sim/tasks/index.js';
import { defaultPolicy } from '../policy/default-policy.js';
import type { RemoteFlags } from '../policy/remote/load-remote.js';
import { loadResidualFor } from '../policy/residual/residual-check.js';
import { ResidualLoadError } from '../policy/residual/residual-manifest.js';
import { StaleActionCheck } from '../policy/tick-stamp.js';
import type { RobotDescription } from '../robot/index.js';
import { BLEND_MODES } from '../runtime/action-buffer.js';
import { holdCpuWakeLatency } from '../runtime/cpu-wake-latency.js';
import type { ClockOptions } from '../runtime/runtime.js';
import type { RuntimeOptions } from '../runtime/runtime-types.js';
import { parseInjectedLatency, parseLatencyModel } from '../runtime/timing/latency-model.js';
import { createLogger, type Logger } from '../telemetry/log.js';
import { choice, EXIT, intArg, numArg, runProgram, UsageError } from './common.js';
import { alohaPorts, checkDriverFlags } from './run/driver-flags.js';
import { runEpisodes } from './run/episodes.js';
import { Interrupts, type StopSignal, signalExitCode } from './run/interrupts.js';
import { defineRunOptions } from './run/options.js';
import {
  checkRecordTarget,
  formatRecordedFiles,
  openRecorder,
  type RecordingPlan,
  recordedFiles,
  recordingStopped,
} from './run/recorder.js';
import { robotDescription } from './run/robot-args.js';
import type { RobotRun } from './run/ros-runner.js';
import { parseOr, recordCameraList, refuseEpisodesWithoutWorld, wakeCapArg } from './run/run-args.js';
import { startSimRun } from './run/sim-runner.js';
import { buildSummary, type DriverHead, formatSummary } from './run/summary.js';
import { physicsHzArg, robotArg, taskArg } from './sim/args.js';

type Flags = Record<string, string | boolean | string[] | undefined>;

const program = defineRunOptions(new Command('vla-run')).action(main);

interface RunArgs {
  robot: 'ur5' | 'ur5e' | 'aloha';
  clock: 'realtime' | 'fast';
  episodes: number;
  duration_s: number | undefined;
  seed0: number;
  noise: number;
  /** --policy zmq://... or ws://...: the remote policy's flags. */
  remote: RemoteFlags;
  opts: RuntimeOptions & ClockOptions;
  description: RobotDescription;
  log: Logger;
}

/** A run, whichever robot: the engine and what the summary says about where it ran. */
interface StartedRun extends Omit<RobotRun, 'camera_usage'> {
  head: DriverHead;
  camera_usage: () => ReturnType<RobotRun['camera_usage']>;
  /** The sim stepped in this thread (fast clock), for recorded frames. */
  sim_driver?: SimDriver;
}

async function main(o: Flags): Promise<void> {
  const a = await parseArgs(o);
  const wakeCap = wakeCapArg(o.cpuWakeLatencyUs as string, a.clock);
  // listened to from before the robot is connected: a Ctrl-C while it connects still ends with a summary
  const interrupts = new Interrupts(a.log, (signal) => printForcedExit(o, a, signal));
  a.log.info({ robot: a.robot }, 'setting up the robot and the policy (Ctrl-C stops, with a summary)');
  try {
    await runOnRobot(a, o, wakeCap, interrupts);
  } finally {
    interrupts.dispose();
  }
}

async function runOnRobot(a: RunArgs, o: Flags, wakeCap: number | null, interrupts: Interrupts): Promise<void> {
  const run = await startRun(a, o);
  let wake: ReturnType<typeof holdCpuWakeLatency> | undefined;
  let outcome: Outcome | undefined;
  // whatever happens from here, the robot is stopped and the threads end before the process does
  try {
    for (const w of run.warnings) a.log.warn(w);
    // held from here, when commands may start to flow, until the robot has been stopped
    wake = wakeCap === null ? undefined : holdCpuWakeLatency(wakeCap);
    // in the embedded sim it is only worth a word when asked for: most laptops will not let a user hold it
    if (wake?.why_not && (run.head.kind !== 'sim' || o.cpuWakeLatencyUs !== 'auto')) {
      a.log.warn(
        `CPU wake-up latency not capped (${wake.why_not}): replies from the robot may be seen late on an idle machine`,
      );
    }
    outcome = interrupts.signal
      ? { results: [], interrupted: interrupts.signal, stale: null }
      : await runAll(a, o, run, interrupts);
  } finally {
    const report = await run.engine.stop();
    await run.frames?.close?.();
    wake?.release();
    await run.policy.close();
    // a signal during the teardown still says how the run ended
    if (outcome) outcome.interrupted ??= interrupts.signal;
    if (outcome) printSummary(o, a, run, report, outcome, wake?.held_us ?? null);
  }
}

type Outcome = {
  results: Parameters<typeof buildSummary>[2];
  interrupted: StopSignal | undefined;
  stale: number | null;
  recording?: RecordingPlan;
};

async function runAll(a: RunArgs, o: Flags, run: StartedRun, interrupts: Interrupts): Promise<Outcome> {
  const episodes = run.sim_endpoint ? a.episodes : 1;
  const recording = o.record ? recordingPlan(o, a, run, episodes > 1) : undefined;
  if (recording) await checkRecordTarget(recording, a.seed0);
  const check = run.policy.describe().name === 'tick-stamp' ? new StaleActionCheck(a.description) : undefined;
  const done = await runEpisodes(run.engine, {
    episodes,
    seed0: a.seed0,
    ticks: a.duration_s === undefined ? undefined : Math.round(a.duration_s * a.description.control_hz),
    max_ticks: run.max_ticks,
    recorder: recording ? (seed) => openRecorder(recording, seed) : undefined,
    observer: check,
    label: `${a.robot} ${run.task ?? ''}`.trim(),
    json: o.json === true,
    log: a.log,
    interrupts,
  });
  return { ...done, stale: check ? check.stale : null, recording };
}

/** The third Ctrl-C: no time to wait for the robot's report; say what is known. */
function printForcedExit(o: Flags, a: RunArgs, signal: StopSignal): void {
  const why = `interrupted (${signal}) three times: exited before the robot reported it stopped (it was told to hold)`;
  if (o.json)
    process.stdout.write(`${JSON.stringify({ robot: a.robot, interrupted: signal, forced_exit: true, fault: why })}\n`);
  else process.stdout.write(`${a.robot}: ${why}\n`);
}

async function parseArgs(o: Flags): Promise<RunArgs> {
  const robot = robotArg(o.robot as string | undefined);
  if ((o.camera as string[]).length && o.sim)
    throw new UsageError(
      '--camera goes with --rosbridge or --ports (a camera on the robot host); the embedded sim renders its own',
    );
  checkDriverFlags(robot, o);
  if (o.allowTorqueOff && o.ports === undefined)
    throw new UsageError('--allow-torque-off goes with --ports (ALOHA over serial)');
  const live = o.rosbridge !== undefined || o.ports !== undefined;
  const hz = intArg('--hz', o.hz as string, 1, 1000);
  const clock = choice('clock', o.clock as string, ['realtime', 'fast'] as const);
  if (live && clock !== 'realtime')
    throw new UsageError(
      `--clock fast is sim only: a robot over ${o.rosbridge !== undefined ? 'ROS' : 'serial'} runs in real time`,
    );
  const duration_s = o.duration !== undefined ? numArg('--duration', o.duration as string, 0.02, 1e6) : undefined;
  if (duration_s !== undefined && program.getOptionValueSource('episodes') === 'cli')
    throw new UsageError('--duration and --episodes both say how long to run: give one of them');
  const seed0 = intArg('--seed', o.seed as string, 0);
  const opts: RuntimeOptions & ClockOptions = {
    blend: choice('blend', o.blend as string, BLEND_MODES),
    fixed_delay_ticks: o.delay === 'auto' ? undefined : intArg('--delay', o.delay as string, 0, 1000),
    margin_ticks: intArg('--margin', o.margin as string, 0, 1000),
    max_in_flight: intArg('--max-in-flight', o.maxInFlight as string, 1, 4),
    fault_timeout_ms: numArg('--fault-timeout', o.faultTimeout as string, 0.1, 3600) * 1000,
    injected: parseOr(() => parseInjectedLatency(o.injectLatencyMs as string)),
    seed: seed0,
  };
  return {
    robot,
    clock,
    duration_s,
    seed0,
    opts,
    noise: numArg('--noise', o.noise as string, 0, 2),
    remote: remoteFlags(o),
    episodes:
      duration_s === undefined ? intArg('--episodes', o.episodes as string, 1, 1_000_000) : Number.MAX_SAFE_INTEGER,
    description: await robotDescription(robot, o.profile as string | undefined, hz),
    log: createLogger({ name: 'vla-run' }),
  };
}

async function startRun(a: RunArgs, o: Flags): Promise<StartedRun> {
  const task = o.task as string | undefined,
    policy = o.policy as string | undefined,
    cameras = o.camera as string[];
  const simTask = o.rosbridge === undefined && o.ports === undefined ? taskArg(a.robot, task) : undefined;
  if (o.residual !== undefined) {
    const base = simTask ? (policy ?? defaultPolicy(a.robot, simTask)) : policy;
    a.opts.residual = await loadResidualFor(o.residual as string, base, a.description).catch((err: Error) => {
      throw err instanceof ResidualLoadError ? new UsageError(err.message) : err;
    });
  }
  if (o.rosbridge !== undefined) {
    const layout = o.rosLayout !== undefined ? choice('ROS layout', o.rosLayout as string, ROS_LAYOUTS) : undefined;
    const command_mode = choice('command mode', o.commandMode as string, ['forward_position', 'trajectory'] as const);
    const url = typeof o.rosbridge === 'string' ? o.rosbridge : undefined;
    // a robot path loads its libraries (roslib, serial ports) only when it runs: --help and usage errors stay fast
    const { startRosRun } = await import('./run/ros-runner.js');
    const r = await startRosRun({
      description: a.description,
      url,
      layout,
      command_mode,
      task,
      policy,
      noise: a.noise,
      allow_robot_mismatch: o.allowRobotMismatch === true,
      remote: a.remote,
      cameras,
      opts: a.opts,
      log: a.log,
    });
    refuseEpisodesWithoutWorld(a.episodes, a.duration_s, r.sim_endpoint, "the simulated endpoint's reset service");
    a.log.info({ url: r.url, sim_endpoint: r.sim_endpoint, task: r.task }, 'connected to rosbridge');
    return { ...r, head: { kind: 'ur', url: r.url } };
  }
  if (o.ports !== undefined) {
    const sim_link = o.simLink as string | undefined;
    refuseEpisodesWithoutWorld(
      a.episodes,
      a.duration_s,
      sim_link !== undefined,
      "the emulator's sim link (--sim-link) to reset the world",
    );
    const ports = alohaPorts(o.ports as string);
    const { startAlohaRun } = await import('./run/aloha-runner.js');
    const r = await startAlohaRun({
      description: a.description,
      ports,
      sim_link,
      calibration_dir: o.calibration as string | undefined,
      task,
      policy,
      noise: a.noise,
      allow_robot_mismatch: o.allowRobotMismatch === true,
      remote: a.remote,
      allow_torque_off: o.allowTorqueOff === true,
      cameras,
      opts: a.opts,
      log: a.log,
    });
    a.log.info({ ports, sim_link, calibration: r.calibration_paths, task: r.task }, 'connected to the ALOHA arms');
    return { ...r, head: { kind: 'aloha', ports, ...(sim_link ? { sim_link } : {}) } };
  }
  if (!simTask) throw new Error('unreachable: the driver flags were checked');
  const latency_model = parseOr(() => parseLatencyModel(o.latencyModel as string));
  const r = await startSimRun({
    robot: a.robot,
    task: simTask,
    description: a.description,
    clock: a.clock,
    physics_hz: physicsHzArg(o.physicsHz as string),
    policy: policy ?? defaultPolicy(a.robot, simTask),
    noise: a.noise,
    allow_robot_mismatch: o.allowRobotMismatch === true,
    remote: a.remote,
    opts: { ...a.opts, latency_model },
  });
  return {
    engine: r.engine,
    policy: r.policy,
    warnings: r.warnings,
    sim_endpoint: true,
    task: simTask,
    max_ticks: taskTickLimit(createTask(simTask), a.description.control_hz),
    camera_usage: () => undefined,
    head: { kind: 'sim' },
    sim_driver: r.driver,
    frames: r.frames,
  };
}

/** The remote policy's flags (undefined where not given: the address's query or the defaults decide). */
function remoteFlags(o: Flags): RemoteFlags {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    server_key: str(o.curveServerKey),
    client_key: str(o.curveClientKey),
    jpeg_quality: o.jpegQuality === undefined ? undefined : intArg('--jpeg-quality', o.jpegQuality as string, 1, 100),
    timeout_ms:
      o.remoteTimeoutMs === undefined
        ? undefined
        : intArg('--remote-timeout-ms', o.remoteTimeoutMs as string, 1, 600_000),
    openpi_map: str(o.openpiMap),
  };
}

function recordingPlan(o: Flags, a: RunArgs, run: StartedRun, many: boolean): RecordingPlan {
  const size = intArg('--record-size', o.recordSize as string, 8, 1024);
  // a robot's cameras are received only where the policy reads them
  const valid =
    run.head.kind === 'sim'
      ? robotModel(a.robot).cameras.map((c) => c.name)
      : run.policy.describe().cameras.map((c) => c.name);
  return {
    target: o.record as string,
    many,
    robot: a.description,
    task: run.task ?? 'none',
    policy: run.policy.describe().name,
    cameras: recordCameraList(o.recordCameras as string, valid),
    camera_size: size,
    sim: run.sim_driver,
    frames: run.frames,
    driver: run.head.kind as 'sim' | 'ur' | 'aloha',
    ...(run.head.kind === 'sim' ? { physics_hz: physicsHzArg(o.physicsHz as string) } : {}),
    ...(run.policy.describe().kind === 'expert' ? { expert_noise: a.noise } : {}),
    warn: (m) => a.log.warn(m),
  };
}

function printSummary(
  o: Flags,
  a: RunArgs,
  run: StartedRun,
  report: Awaited<ReturnType<StartedRun['engine']['stop']>>,
  outcome: Outcome,
  wake_us: number | null,
): void {
  const summary = buildSummary(
    {
      robot: a.robot,
      where: run.head.kind === 'sim' ? 'embedded sim' : run.sim_endpoint ? 'simulated endpoint' : 'robot',
      sim: run.sim_endpoint,
      task: run.task,
      policy: run.policy.describe().name,
      clock: a.clock,
      blend: a.opts.blend,
      delay: a.opts.fixed_delay_ticks === undefined ? 'auto' : String(a.opts.fixed_delay_ticks),
    },
    report,
    outcome.results,
    run.head,
    wake_us,
    run.camera_usage(),
    outcome.stale,
  );
  const remote = run.policy.counters?.();
  if (remote) summary.inference.remote = remote;
  const rec = outcome.recording;
  if (rec) {
    summary.recordings = recordedFiles(rec);
    const stop = recordingStopped(rec);
    if (stop) summary.warnings.push(`recording cut short: ${stop.path}: ${stop.error}`);
  }
  const recorded = rec ? formatRecordedFiles(summary.recordings ?? [], rec.target) : '';
  process.stdout.write(
    o.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}${recorded ? `  ${recorded}` : ''}`,
  );
  if (outcome.interrupted) process.exitCode = signalExitCode(outcome.interrupted);
  else if (summary.fault) process.exitCode = EXIT.check_failed;
}

await runProgram(program, process.argv, 'vla-run');
