// vla-run: run a policy on a robot with buffered action-chunk execution and print what happened.
// Drivers: the embedded sim (--sim), a UR5/UR5e over rosbridge (--rosbridge: a real cell or the
// simulated endpoint of `vla-sim serve`), or ALOHA over serial (--ports: a real rig or the Dynamixel
// emulator of `vla-sim dynamixel`, whose --sim-link gives episodes). A real robot is commanded only
// when the user names it.
import { Command } from 'commander';
import { extname, join } from 'node:path';
import { SimDriver, SIM_CLOCKS } from '../../drivers/sim/sim-driver.js';
import { robotModel } from '../../sim/robots/index.js';
import { BLEND_MODES } from '../runtime/action-buffer.js';
import { parseInjectedLatency } from '../runtime/injected-latency.js';
import type { EpisodeOutcome, RuntimeOptions, RuntimeReport, TickRecorder } from '../runtime/runtime-types.js';
import { loadPolicy, PolicyMismatch } from '../policy/load-policy.js';
import type { Policy } from '../policy/policy.js';
import { defaultPolicy } from '../policy/default-policy.js';
import { EpisodeWriter, type CameraInfo, type RecordedFrame } from '../recording/index.js';
import { buildSummary, formatSummary, type DriverHead } from '../telemetry/summary.js';
import { holdCpuWakeLatency } from '../runtime/cpu-wake-latency.js';
import { createLogger } from '../telemetry/log.js';
import { progress } from '../telemetry/progress.js';
import type { CameraUse } from '../runtime/local-cameras.js';
import { CAMERA_FLAG_HELP, collect } from './run/local-camera-args.js';
import { choice, cpuWakeLatencyArg, EXIT, intArg, numArg, runProgram, UsageError } from './common.js';
import { physicsHzArg, robotArg, taskArg, TASK_HELP } from './sim/args.js';
import { simRunner, type Runner } from './run/runner.js';
import { startRosRun } from './run/ros-runner.js';
import { startAlohaRun } from './run/aloha-runner.js';
import { alohaPorts, checkDriverFlags } from './run/driver-flags.js';
import { ROS_LAYOUTS } from '../../calibration/ros-settings.js';
import type { RobotDescription } from '../../drivers/driver.js';

const program = new Command('vla-run')
  .description('Run a VLA policy on a robot: an inference thread fills an action buffer, a control loop drains it at a fixed rate.')
  .option('--robot <name>', 'ur5 | ur5e | aloha')
  .option('--sim', 'drive the embedded MuJoCo simulation')
  .option('--rosbridge [ws://host:port]', 'drive a UR5/UR5e over ROS through this rosbridge server (a real robot, or vla-sim serve); without a value: the robot profile\'s URL')
  .option('--ros-layout <ros2|ros1>', 'with --rosbridge: topic names of the ROS 2 or the ROS 1 UR driver (default: the profile\'s)')
  .option('--command-mode <mode>', 'with --rosbridge: forward_position (stream servoj-like targets) | trajectory (one-point trajectories)', 'forward_position')
  .option('--ports <left=PATH,right=PATH>', 'aloha only: drive the two follower arms over these serial ports (a real rig, or vla-sim dynamixel)')
  .option('--sim-link <tcp://host:port>', 'with --ports: the Dynamixel emulator\'s sim link (episode reset, success, task state, cameras)')
  .option('--allow-torque-off', 'with --ports: the arms are resting, so connecting may switch a motor\'s torque off to write calibration registers (EEPROM) that differ; without it that is refused and nothing is written')
  .option('--calibration <dir>', 'with --ports: <dir>/left_follower.json and right_follower.json (vla-calibrate --out); default with --sim-link: the emulator\'s')
  .option('--camera <NAME=/dev/videoN[:WxH][@FPS]>', `with --rosbridge or --ports: ${CAMERA_FLAG_HELP}`, collect, [] as string[])
  .option('--fault-timeout <s>', 'with --rosbridge or --ports: a driver fault (connection lost, stale state, no reply from a servo) lasting longer ends the run (exit 1); shorter ones hold and resume; a servo\'s hardware alert ends it at once', '5')
  .option('--task <name>', TASK_HELP)
  .option('--policy <expert|model.onnx>', 'an ONNX policy with its manifest, or the scripted expert (sim only); default: the demo model in models/ for the robot and task, else the expert')
  .option('--episodes <n>', 'episodes to run (seeds --seed, --seed+1, ...)', '1')
  .option('--duration <s>', 'instead of --episodes: run episodes until this many seconds of robot time have passed (a real robot: one run this long, else until Ctrl-C)')
  .option('--seed <n>', 'seed of the first episode', '0')
  .option('--hz <hz>', 'control rate', '50')
  .option('--delay <auto|N>', 'UAC delay: auto = drop by the measured arrival tick; N = always drop the first N ticks', 'auto')
  .option('--blend <mode>', 'overlap of chunks: replace | ensemble (ACT temporal ensembling) | average', 'replace')
  .option('--margin <ticks>', 'buffer kept beyond the expected delay when triggering inference', '2')
  .option('--inject-latency-ms <N[:J]>', 'add N ms (+- uniform J ms) to every inference, to rehearse a slower model', '0')
  .option('--clock <clock>', 'sim only: realtime (the control loop keeps wall time) | fast (virtual clock; latency still costs ticks)', 'realtime')
  .option('--physics-hz <hz>', 'sim only: physics rate, a multiple of the control rate', '500')
  .option('--noise <x>', 'scripted expert only: joint noise 0 (clean) .. 2, for imperfect demonstrations', '0')
  .option('--record <file.mcap|dir>', 'record every episode (file name gets -seed<N> when there are several)')
  .option('--record-cameras <names|all|none>', 'camera frames to record with --record (fast clock only; comma list)', 'all')
  .option('--record-size <px>', 'size of recorded camera frames (square); a model trained on them takes this size', '96')
  .option('--cpu-wake-latency-us <us|off|auto>', 'while the run lasts, cap how long a CPU takes to wake (Linux PM QoS, /dev/cpu_dma_latency; needs root): idle CPUs poll instead of sleeping, so ticks and replies from the robot are seen at once. auto = 0 in real time (a warning on a robot if it cannot be held), off with --clock fast', 'auto')
  .option('--json', 'print exactly one JSON object on stdout')
  .addHelpText('after', `
Examples:
  vla-run --robot ur5 --sim                                     the default policy on the default task
  vla-run --robot ur5e --sim --episodes 20 --clock fast --inject-latency-ms 300 --json
  vla-run --robot aloha --sim --policy act.onnx --blend ensemble --record runs/
  vla-run --robot ur5e --sim --policy expert --noise 1 --episodes 200 --clock fast --record demos/ --record-size 64
  vla-sim serve --robot ur5e --rosbridge 9090 &                 the simulated UR endpoint, then through ROS:
  vla-run --robot ur5e --rosbridge ws://127.0.0.1:9090 --policy expert --episodes 20 --json
  vla-run --robot ur5e --rosbridge ws://ur-cell:9090 --ros-layout ros1 --policy act.onnx --duration 60
  vla-run --robot ur5e --rosbridge ws://ur-cell:9090 --policy act.onnx --camera wrist=/dev/video2:640x480@30 --duration 60
  vla-sim dynamixel --robot aloha --json &                      the emulated ALOHA arms (prints ports, sim_link), then over serial:
  vla-run --robot aloha --ports left=/dev/pts/3,right=/dev/pts/5 --sim-link tcp://127.0.0.1:5555 --policy expert --episodes 10 --json
  vla-run --robot aloha --ports left=/dev/ttyDXL_left,right=/dev/ttyDXL_right --calibration cal/ --policy act.onnx --duration 60

A real ALOHA rig (no --sim-link) has no episodes, success or task state: one run for --duration or until
Ctrl-C, no scripted expert; its cameras are devices on this host: --camera top=/dev/video0 per camera.
A camera whose frames are older than 250 ms stops inference (the robot holds when the buffer runs out);
one that stays stale longer than --fault-timeout ends the run (exit 1) naming it.

Exit codes: 0 done, 1 a fault stopped the robot (the summary says which), 2 bad usage or input, 130 interrupted.`)
  .action(main);

async function main(o: Record<string, string | boolean | string[] | undefined>): Promise<void> {
  const robot = robotArg(o.robot as string | undefined);
  const cameras = o.camera as string[];
  if (cameras.length && o.sim) throw new UsageError('--camera goes with --rosbridge or --ports (a camera on the robot host); the embedded sim renders its own');
  const rosbridge = o.rosbridge;
  const ports = o.ports as string | undefined;
  checkDriverFlags(robot, o);
  if (o.allowTorqueOff && ports === undefined) throw new UsageError('--allow-torque-off goes with --ports (ALOHA over serial)');
  const live = rosbridge !== undefined || ports !== undefined;
  const hz = intArg('--hz', o.hz as string, 1, 1000);
  const clock = choice('clock', o.clock as string, SIM_CLOCKS);
  if (live && clock !== 'realtime') throw new UsageError(`--clock fast is sim only: a robot over ${rosbridge !== undefined ? 'ROS' : 'serial'} runs in real time`);
  const blend = choice('blend', o.blend as string, BLEND_MODES);
  const delay = o.delay === 'auto' ? undefined : intArg('--delay', o.delay as string, 0, 1000);
  const margin = intArg('--margin', o.margin as string, 0, 1000);
  const seed0 = intArg('--seed', o.seed as string, 0);
  const duration_s = o.duration !== undefined ? numArg('--duration', o.duration as string, 0.02, 1e6) : undefined;
  let episodes = duration_s === undefined ? intArg('--episodes', o.episodes as string, 1, 1_000_000) : Number.MAX_SAFE_INTEGER;
  let injected;
  try { injected = parseInjectedLatency(o.injectLatencyMs as string); } catch (e) { throw new UsageError((e as Error).message); }
  const noise = numArg('--noise', o.noise as string, 0, 2);
  const recordCameras = o.record ? recordCameraList(o.recordCameras as string, clock, robotModel(robot).cameras.map((c) => c.name)) : [];
  const recordSize = intArg('--record-size', o.recordSize as string, 8, 1024);
  const log = createLogger({ name: 'vla-run' });
  const opts: RuntimeOptions = { blend, fixed_delay_ticks: delay, margin_ticks: margin, injected, seed: seed0 };
  const wakeCap = wakeCapArg(o.cpuWakeLatencyUs as string, clock);

  let runner: Runner, policy: Policy, desc: RobotDescription, task: string | null, sim: boolean;
  let probe: SimDriver | undefined;
  let driverHead: DriverHead;
  let camera_usage: () => Record<string, CameraUse> | undefined = () => undefined;
  const fault_timeout_ms = numArg('--fault-timeout', o.faultTimeout as string, 0.1, 3600) * 1000;
  if (rosbridge !== undefined) {
    const layout = o.rosLayout !== undefined ? choice('ROS layout', o.rosLayout as string, ROS_LAYOUTS) : undefined;
    const command_mode = choice('command mode', o.commandMode as string, ['forward_position', 'trajectory'] as const);
    const ros = await startRosRun({
      robot: robot as 'ur5' | 'ur5e', url: typeof rosbridge === 'string' ? rosbridge : undefined, layout, command_mode, task: o.task as string | undefined,
      policy: o.policy as string | undefined, noise, hz, fault_timeout_ms, cameras, opts, log,
    });
    for (const w of ros.warnings) log.warn(w);
    ({ runner, policy, desc, task, camera_usage } = ros);
    sim = ros.sim_endpoint;
    driverHead = { kind: 'ur', url: ros.url };
    // without the endpoint's reset service there is one episode: --duration long, or until Ctrl-C
    if (!ros.sim_endpoint) {
      if (duration_s === undefined && episodes > 1) {
        await runner.stop();
        await policy.close();
        throw new UsageError('--episodes needs the simulated endpoint\'s reset service; on a real robot use --duration or stop with Ctrl-C');
      }
      episodes = 1;
    }
    log.info({ url: ros.url, sim_endpoint: ros.sim_endpoint, task }, 'connected to rosbridge');
  } else if (ports !== undefined) {
    const sim_link = o.simLink as string | undefined;
    // without the emulator's sim link nothing resets the world: one episode, --duration long or until Ctrl-C
    if (sim_link === undefined && duration_s === undefined && episodes > 1) {
      throw new UsageError('--episodes needs the emulator\'s sim link (--sim-link) to reset the world; on a real rig use --duration or stop with Ctrl-C');
    }
    const arms = alohaPorts(ports);
    const aloha = await startAlohaRun({
      ports: arms, sim_link, calibration_dir: o.calibration as string | undefined, task: o.task as string | undefined,
      policy: o.policy as string | undefined, noise, hz, fault_timeout_ms, allow_torque_off: o.allowTorqueOff === true, cameras, opts, log,
    });
    for (const w of aloha.warnings) log.warn(w);
    ({ runner, policy, desc, task, camera_usage } = aloha);
    sim = sim_link !== undefined;
    if (!sim) episodes = 1;
    driverHead = { kind: 'aloha', ports: arms, ...(sim_link ? { sim_link } : {}) };
    log.info({ ports: arms, sim_link, calibration: aloha.calibration_paths, task }, 'connected to the ALOHA arms');
  } else {
    const simTask = taskArg(robot, o.task as string | undefined);
    const physics_hz = physicsHzArg(o.physicsHz as string);
    if (physics_hz % hz !== 0) throw new UsageError(`--physics-hz ${physics_hz} must be a multiple of --hz ${hz}`);
    probe = await SimDriver.create({ robot, task: simTask, clock: 'fast', physics_hz, control_hz: hz });
    desc = probe.describe();
    let loaded;
    try {
      loaded = await loadPolicy((o.policy as string | undefined) ?? defaultPolicy(robot, simTask), desc, { model: robotModel(robot), task: simTask }, hz, { expert_noise: noise });
    } catch (err) {
      await probe.disconnect();
      if (err instanceof PolicyMismatch) throw new UsageError(err.message);
      throw err;
    }
    for (const w of loaded.warnings) log.warn(w);
    policy = loaded.policy;
    runner = await simRunner(clock, probe, policy, opts, { robot, task: simTask, physics_hz, hz });
    task = simTask;
    sim = true;
    driverHead = { kind: 'sim' };
  }

  // held from here, when commands may start to flow, until the robot has been stopped
  const wake = wakeCap === null ? undefined : holdCpuWakeLatency(wakeCap);
  // in the embedded sim it is only worth a word when asked for: most laptops will not let a user hold it
  if (wake?.why_not && (live || o.cpuWakeLatencyUs !== 'auto')) log.warn(`CPU wake-up latency not capped (${wake.why_not}): replies from the robot may be seen late on an idle machine`);
  let interrupted = false;
  const onSignal = (sig: string) => {
    interrupted = true;
    log.warn(`${sig}: holding the robot, then stopping`);
    runner.hold(`interrupted (${sig})`);
  };
  const sigint = () => onSignal('SIGINT'), sigterm = () => onSignal('SIGTERM');
  process.once('SIGINT', sigint);
  process.once('SIGTERM', sigterm);

  const results: EpisodeOutcome[] = [];
  let ticksLeft = duration_s === undefined ? Infinity : Math.round(duration_s * hz);
  let report: RuntimeReport;
  const bar = progress(`${robot} ${task ?? ''}`.trim(), { unit: 'episodes', json: o.json === true });
  try {
    for (let i = 0; i < episodes && ticksLeft > 0 && !interrupted; i++) {
      const seed = seed0 + i;
      const sim_probe = probe;
      const frames = recordCameras.length && sim_probe ? () => recordCameras.map((name) => ({ ...sim_probe.render(name, undefined, recordSize), camera: name })) : undefined;
      const recorder = o.record ? await openRecorder(o.record as string, episodes > 1, { robot, task: task ?? 'none', seed, desc, policy, cameras: recordCameras.map((name) => ({ name, width: recordSize, height: recordSize })), frames }) : undefined;
      const r = await runner.episode(seed, Number.isFinite(ticksLeft) ? ticksLeft : undefined, recorder?.tickRecorder);
      await recorder?.writer.close({ success: r.success });
      results.push(r);
      ticksLeft -= r.ticks;
      log.info({ seed, success: r.success, ticks: r.ticks, fault: r.fault, file: recorder?.writer.path }, 'episode done');
      if (duration_s === undefined && episodes > 1) bar.update(i + 1, episodes, `${results.filter((x) => x.success).length} succeeded`);
      if (r.fault) break;
    }
  } finally {
    bar.end();
    report = await runner.stop();
    wake?.release();
    await policy.close();
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
  const summary = buildSummary({
    robot, sim, task, policy: policy.describe().name, clock, blend, delay: delay === undefined ? 'auto' : String(delay),
  }, report, results, driverHead, wake?.held_us ?? null, camera_usage());
  process.stdout.write(o.json ? JSON.stringify(summary) + '\n' : formatSummary(summary));
  if (interrupted) process.exitCode = 130;
  else if (summary.fault) process.exitCode = EXIT.check_failed;
}

/** The cap to hold (µs), or null for none: auto caps every real-time run (a late wake-up is a late tick). */
function wakeCapArg(spec: string, clock: string): number | null {
  if (spec === 'auto') return clock === 'realtime' ? 0 : null;
  const us = cpuWakeLatencyArg(spec);
  if (us !== null && clock === 'fast') throw new UsageError('--cpu-wake-latency-us is for real-time runs; --clock fast keeps no wall time');
  return us;
}

/**
 * Which cameras --record writes. Frames are rendered in the tick they belong to, which only the virtual
 * clock can afford (in real time they would load the control loop), so the default 'all' means none there.
 */
function recordCameraList(spec: string, clock: string, valid: string[]): string[] {
  if (spec === 'none') return [];
  if (spec === 'all') return clock === 'fast' ? valid : [];
  if (clock !== 'fast') throw new UsageError('--record-cameras needs --clock fast: camera frames are rendered in the tick they belong to');
  const names = spec.split(',').map((n) => n.trim()).filter(Boolean);
  for (const n of names) choice('camera', n, valid);
  return names;
}

async function openRecorder(target: string, many: boolean, ep: { robot: string; task: string; seed: number; desc: RobotDescription; policy: Policy;
  cameras: CameraInfo[]; frames: (() => RecordedFrame[]) | undefined }):
  Promise<{ writer: EpisodeWriter; tickRecorder: TickRecorder }> {
  const name = `${ep.robot}-${ep.task}-seed${ep.seed}.mcap`;
  const path = extname(target) === '.mcap' ? (many ? target.replace(/\.mcap$/, `-seed${ep.seed}.mcap`) : target) : join(target, name);
  const writer = await EpisodeWriter.open(path, {
    robot: ep.robot, task: ep.task, seed: ep.seed, control_hz: ep.desc.control_hz, joint_names: ep.desc.joint_names,
    gripper_names: ep.desc.gripper_names, action_names: ep.desc.action_names, cameras: ep.cameras, policy: ep.policy.describe().name,
  });
  const start_ns = BigInt(Date.now()) * 1_000_000n;
  const tick_ns = BigInt(Math.round(1e9 / ep.desc.control_hz));
  let failed: unknown;
  return {
    writer,
    tickRecorder: {
      tick(state, command, k) {
        if (failed) return;
        writer.writeTick({
          tick: k, stamp_ns: start_ns + BigInt(k) * tick_ns, position_rad: state.position_rad, velocity_rad_s: state.velocity_rad_s,
          gripper: state.gripper, action: command, frames: ep.frames?.(),
        }).catch((e: unknown) => { failed = e; });
      },
    },
  };
}

await runProgram(program, process.argv, 'vla-run');
