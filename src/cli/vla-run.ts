// vla-run: run a policy on a robot with buffered action-chunk execution and print what happened.
// Drivers: the embedded sim (--sim), a UR5/UR5e over rosbridge (--rosbridge: a real cell or the
// simulated endpoint of `vla-sim serve`), or ALOHA over serial (--ports: a real rig or the Dynamixel
// emulator of `vla-sim dynamixel`, whose --sim-link gives episodes). A real robot is commanded only
// when the user names it.
import { Command } from 'commander';
import { ROS_LAYOUTS } from '../../protocols/ros/layout.js';
import { robotModel } from '../../sim/robots/index.js';
import type { SimDriver } from '../../sim/sim-driver.js';
import { defaultPolicy } from '../policy/default-policy.js';
import { StaleActionCheck } from '../policy/tick-stamp.js';
import type { RobotDescription } from '../robot/index.js';
import { BLEND_MODES } from '../runtime/action-buffer.js';
import { holdCpuWakeLatency } from '../runtime/cpu-wake-latency.js';
import type { ClockOptions } from '../runtime/runtime.js';
import type { RuntimeOptions } from '../runtime/runtime-types.js';
import { LATENCY_MODEL_HELP, parseInjectedLatency, parseLatencyModel } from '../runtime/timing/latency-model.js';
import { createLogger, type Logger } from '../telemetry/log.js';
import { choice, EXIT, intArg, numArg, runProgram, UsageError } from './common.js';
import { startAlohaRun } from './run/aloha-runner.js';
import { alohaPorts, checkDriverFlags } from './run/driver-flags.js';
import { runEpisodes } from './run/episodes.js';
import { CAMERA_FLAG_HELP, collect } from './run/local-camera-args.js';
import { openRecorder, type RecordingPlan } from './run/recorder.js';
import { robotDescription } from './run/robot-args.js';
import { type RobotRun, startRosRun } from './run/ros-runner.js';
import { parseOr, recordCameraList, refuseEpisodesWithoutWorld, wakeCapArg } from './run/run-args.js';
import { startSimRun } from './run/sim-runner.js';
import { buildSummary, type DriverHead, formatSummary } from './run/summary.js';
import { physicsHzArg, robotArg, TASK_HELP, taskArg } from './sim/args.js';

type Flags = Record<string, string | boolean | string[] | undefined>;

const program = new Command('vla-run')
  .description(
    'Run a VLA policy on a robot: an inference thread fills an ' +
      'action buffer, a control loop drains it at a fixed rate.',
  )
  .option('--robot <name>', 'ur5 | ur5e | aloha')
  .option(
    '--profile <file.json>',
    'the robot profile (joints, limits, home, cameras; calibration/profiles/<robot>.json by default)',
  )
  .option('--sim', 'drive the embedded MuJoCo simulation')
  .option(
    '--rosbridge [ws://host:port]',
    'drive a UR5/UR5e over ROS through this rosbridge server (a real robot, or vla-sim serve); without a value: the ' +
      "robot profile's URL",
  )
  .option(
    '--ros-layout <ros2|ros1>',
    "with --rosbridge: topic names of the ROS 2 or the ROS 1 UR driver (default: the profile's)",
  )
  .option(
    '--command-mode <mode>',
    'with --rosbridge: forward_position (stream servoj-like targets) | trajectory (one-point trajectories)',
    'forward_position',
  )
  .option(
    '--ports <left=PATH,right=PATH>',
    'aloha only: drive the two follower arms over these serial ports (a real rig, or vla-sim dynamixel)',
  )
  .option(
    '--sim-link <tcp://host:port>',
    "with --ports: the Dynamixel emulator's sim link (episode reset, success, task state, cameras)",
  )
  .option(
    '--allow-torque-off',
    "with --ports: the arms are resting, so connecting may switch a motor's torque off to write calibration " +
      'registers (EEPROM) that differ; without it that is refused and nothing is written',
  )
  .option(
    '--calibration <dir>',
    'with --ports: <dir>/left_follower.json and right_follower.json (vla-calibrate --out); default with --sim-link: ' +
      "the emulator's",
  )
  .option(
    '--camera <NAME=/dev/videoN[:WxH][@FPS]>',
    `with --rosbridge or --ports: ${CAMERA_FLAG_HELP}`,
    collect,
    [] as string[],
  )
  .option(
    '--fault-timeout <s>',
    'a driver fault (connection lost, stale state, no reply from a servo) or a stale camera lasting longer ends the ' +
      "run (exit 1); shorter ones hold and resume; a servo's hardware alert ends it at once",
    '5',
  )
  .option('--task <name>', TASK_HELP)
  .option(
    '--policy <expert|tick-stamp|model.onnx>',
    'an ONNX policy with its manifest, the scripted expert (sim only), or tick-stamp (a diagnostic: every action ' +
      'says its tick, and the summary counts those executed at another); default: the demo model in models/ for the ' +
      'robot and task, else the expert',
  )
  .option('--episodes <n>', 'episodes to run (seeds --seed, --seed+1, ...)', '1')
  .option(
    '--duration <s>',
    'instead of --episodes: run episodes until this many seconds of robot time have passed (a real robot: one run ' +
      'this long, else until Ctrl-C)',
  )
  .option('--seed <n>', 'seed of the first episode', '0')
  .option('--hz <hz>', 'control rate', '50')
  .option(
    '--delay <auto|N>',
    'UAC delay: auto = drop by the measured arrival tick; N = always drop the first N ticks',
    'auto',
  )
  .option('--blend <mode>', 'overlap of chunks: replace | ensemble (ACT temporal ensembling) | average', 'replace')
  .option('--margin <ticks>', 'buffer kept beyond the expected delay when triggering inference', '2')
  .option(
    '--inject-latency-ms <N[:J]>',
    'add N ms (+- uniform J ms) to every inference, to rehearse a slower model',
    '0',
  )
  .option(
    '--clock <clock>',
    'sim only: realtime (the control loop keeps wall time) | fast (virtual clock; each inference costs a latency ' +
      'from --latency-model)',
    'realtime',
  )
  .option(
    '--latency-model <spec>',
    `with --clock fast, what an inference costs: ${LATENCY_MODEL_HELP}; the summary prints the one used, to repeat a ` +
      `run exactly`,
    'measured',
  )
  .option('--physics-hz <hz>', 'sim only: physics rate, a multiple of the control rate', '500')
  .option('--noise <x>', 'scripted expert only: joint noise 0 (clean) .. 2, for imperfect demonstrations', '0')
  .option('--record <file.mcap|dir>', 'record every episode (file name gets -seed<N> when there are several)')
  .option(
    '--record-cameras <names|all|none>',
    'camera frames to record with --record (fast clock only; comma list)',
    'all',
  )
  .option(
    '--record-size <px>',
    'size of recorded camera frames (square); a model trained on them takes this size',
    '96',
  )
  .option(
    '--cpu-wake-latency-us <us|off|auto>',
    'while the run lasts, cap how long a CPU takes to wake (Linux PM QoS, /dev/cpu_dma_latency; needs root): idle ' +
      'CPUs poll instead of sleeping, so ticks and replies from the robot are seen at once. auto = 0 in real time (a ' +
      'warning on a robot if it cannot be held), off with --clock fast',
    'auto',
  )
  .option('--json', 'print exactly one JSON object on stdout')
  .addHelpText(
    'after',
    `
Examples:
  vla-run --robot ur5 --sim                                     the default policy on the default task
  vla-run --robot ur5e --sim --episodes 20 --clock fast --inject-latency-ms 300 --json
  vla-run --robot ur5e --sim --episodes 100 --clock fast --latency-model fixed:40   the same result on any machine
  vla-run --robot aloha --sim --policy act.onnx --blend ensemble --record runs/
  vla-run --robot ur5e --sim --policy expert --noise 1 --episodes 200 --clock fast --record demos/ --record-size 64
  vla-sim serve --robot ur5e --rosbridge 9090 &                 the simulated UR endpoint, then through ROS:
  vla-run --robot ur5e --rosbridge ws://127.0.0.1:9090 --policy expert --episodes 20 --json
  vla-run --robot ur5e --rosbridge ws://ur-cell:9090 --ros-layout ros1 --policy act.onnx --duration 60
  vla-run --robot ur5e --rosbridge ws://ur-cell:9090 --policy act.onnx --camera wrist=/dev/video2:640x480@30 \\
    --duration 60                                               a camera on the robot host next to the cell's topics
  vla-sim dynamixel --robot aloha --json &                      the emulated ALOHA arms (prints ports, sim_link),
  vla-run --robot aloha --ports left=/dev/pts/3,right=/dev/pts/5 --sim-link tcp://127.0.0.1:5555 \\
    --policy expert --episodes 10 --json                        then over serial
  vla-run --robot aloha --ports left=/dev/ttyDXL_left,right=/dev/ttyDXL_right --calibration cal/ \\
    --policy act.onnx --duration 60                             a real rig

A real ALOHA rig (no --sim-link) has no episodes, success or task state: one run for --duration or until
Ctrl-C, no scripted expert; its cameras are devices on this host: --camera top=/dev/video0 per camera.
A camera whose frames are older than 250 ms stops inference (the robot holds when the buffer runs out);
one that stays stale longer than --fault-timeout ends the run (exit 1) naming it.

Exit codes: 0 done, 1 a fault stopped the robot (the summary says which), 2 bad usage or input (nothing
moved), 130 interrupted (Ctrl-C holds the robot, then the summary).`,
  )
  .action(main);

interface RunArgs {
  robot: 'ur5' | 'ur5e' | 'aloha';
  clock: 'realtime' | 'fast';
  episodes: number;
  duration_s: number | undefined;
  seed0: number;
  noise: number;
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
  const run = await startRun(a, o);
  let wake: ReturnType<typeof holdCpuWakeLatency> | undefined;
  let outcome:
    | { results: Parameters<typeof buildSummary>[2]; interrupted: string | undefined; stale: number | null }
    | undefined;
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
    const episodes = run.sim_endpoint ? a.episodes : 1;
    const recording = o.record ? recordingPlan(o, a, run, episodes > 1) : undefined;
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
    });
    outcome = { ...done, stale: check ? check.stale : null };
  } finally {
    const report = await run.engine.stop();
    wake?.release();
    await run.policy.close();
    if (outcome) printSummary(o, a, run, report, outcome, wake?.held_us ?? null);
  }
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
  const seed0 = intArg('--seed', o.seed as string, 0);
  const opts: RuntimeOptions & ClockOptions = {
    blend: choice('blend', o.blend as string, BLEND_MODES),
    fixed_delay_ticks: o.delay === 'auto' ? undefined : intArg('--delay', o.delay as string, 0, 1000),
    margin_ticks: intArg('--margin', o.margin as string, 0, 1000),
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
  if (o.rosbridge !== undefined) {
    const layout = o.rosLayout !== undefined ? choice('ROS layout', o.rosLayout as string, ROS_LAYOUTS) : undefined;
    const command_mode = choice('command mode', o.commandMode as string, ['forward_position', 'trajectory'] as const);
    const url = typeof o.rosbridge === 'string' ? o.rosbridge : undefined;
    const r = await startRosRun({
      description: a.description,
      url,
      layout,
      command_mode,
      task,
      policy,
      noise: a.noise,
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
    const r = await startAlohaRun({
      description: a.description,
      ports,
      sim_link,
      calibration_dir: o.calibration as string | undefined,
      task,
      policy,
      noise: a.noise,
      allow_torque_off: o.allowTorqueOff === true,
      cameras,
      opts: a.opts,
      log: a.log,
    });
    a.log.info({ ports, sim_link, calibration: r.calibration_paths, task: r.task }, 'connected to the ALOHA arms');
    return { ...r, head: { kind: 'aloha', ports, ...(sim_link ? { sim_link } : {}) } };
  }
  const simTask = taskArg(a.robot, task);
  const latency_model = parseOr(() => parseLatencyModel(o.latencyModel as string));
  const r = await startSimRun({
    robot: a.robot,
    task: simTask,
    description: a.description,
    clock: a.clock,
    physics_hz: physicsHzArg(o.physicsHz as string),
    policy: policy ?? defaultPolicy(a.robot, simTask),
    noise: a.noise,
    opts: { ...a.opts, latency_model },
  });
  return {
    engine: r.engine,
    policy: r.policy,
    warnings: r.warnings,
    sim_endpoint: true,
    task: simTask,
    max_ticks: undefined,
    camera_usage: () => undefined,
    head: { kind: 'sim' },
    sim_driver: r.driver,
  };
}

function recordingPlan(o: Flags, a: RunArgs, run: StartedRun, many: boolean): RecordingPlan {
  const size = intArg('--record-size', o.recordSize as string, 8, 1024);
  const valid = robotModel(a.robot).cameras.map((c) => c.name);
  return {
    target: o.record as string,
    many,
    robot: a.description,
    task: run.task ?? 'none',
    policy: run.policy.describe().name,
    cameras: recordCameraList(o.recordCameras as string, a.clock, valid),
    camera_size: size,
    sim: run.sim_driver,
  };
}

function printSummary(
  o: Flags,
  a: RunArgs,
  run: StartedRun,
  report: Awaited<ReturnType<StartedRun['engine']['stop']>>,
  outcome: { results: Parameters<typeof buildSummary>[2]; interrupted: string | undefined; stale: number | null },
  wake_us: number | null,
): void {
  const summary = buildSummary(
    {
      robot: a.robot,
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
  process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
  if (outcome.interrupted) process.exitCode = 130;
  else if (summary.fault) process.exitCode = EXIT.check_failed;
}

await runProgram(program, process.argv, 'vla-run');
