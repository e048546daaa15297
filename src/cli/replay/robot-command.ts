// vla-replay robot: a recording's commands played on a robot, a UR over rosbridge or ALOHA over serial (a real one,
// or vla-sim serve / vla-sim dynamixel): after a confirmation (a terminal's "y", or --yes), the arm eases in from
// where it is to the recording's first pose at a slow speed, holds there a moment, then the recorded commands
// play at the recording's rate; everything goes through the episode engine's buffer and the control loop's
// safety filter. Ctrl-C holds the robot and ends with the summary (exit 130). Bad input (another robot, a
// truncated file, a refused connection, no confirmation) exits 2 before anything moves.
import { join } from 'node:path';
import type { Command } from 'commander';
import { type RosSettings, RosSettingsError, resolveRosSettings } from '../../../calibration/ros-settings.js';
import { ROS_LAYOUTS } from '../../../protocols/ros/layout.js';
import { type Episode, EpisodeFileError, readEpisode, recoveredLine } from '../../recording/index.js';
import { confirmMotion } from '../../replay/robot/confirm.js';
import { DEFAULT_EASE_RAD_S, DEFAULT_SETTLE_S } from '../../replay/robot/ease-in.js';
import { ROBOT_REPLAY_MARGIN, robotReplay } from '../../replay/robot/robot-replay.js';
import { buildRobotSummary, formatRobotSummary } from '../../replay/robot/summary.js';
import { checkRecordedActions, profileForEpisode, ReplayInputError } from '../../replay/sim/replay-input.js';
import type { RobotDescription } from '../../robot/index.js';
import type { DriverConfig } from '../../runtime/control/protocol.js';
import { holdCpuWakeLatency } from '../../runtime/cpu-wake-latency.js';
import { createLogger } from '../../telemetry/log.js';
import { choice, EXIT, numArg, UsageError } from '../common.js';
import { alohaPorts } from '../run/driver-flags.js';
import { type EpisodeEnd, runEpisodes } from '../run/episodes.js';
import { Interrupts, signalExitCode } from '../run/interrupts.js';
import { wakeCapArg } from '../run/run-args.js';
import { startOnRobot } from '../run/start-robot.js';

type Flags = Record<string, string | boolean | undefined>;

export function registerRobotCommand(program: Command): void {
  program
    .command('robot')
    .description(
      "play a recording's commands on a robot: ease in to its first pose slowly, then at the recording's rate, " +
        'through the safety filter; asks first',
    )
    .argument('<episode.mcap>', 'the recorded episode')
    .option('--rosbridge [ws://host:port]', "a UR5/UR5e over ROS (default URL: the robot profile's)")
    .option('--ros-layout <ros2|ros1>', 'with --rosbridge: topic names of the ROS 2 or the ROS 1 UR driver')
    .option('--command-mode <mode>', 'with --rosbridge: forward_position | trajectory', 'forward_position')
    .option('--ports <left=PATH,right=PATH>', "ALOHA's two follower arms over serial")
    .option('--calibration <dir>', 'with --ports: <dir>/left_follower.json and right_follower.json (vla-calibrate)')
    .option(
      '--allow-torque-off',
      'with --ports: the arms are resting; connecting may switch torque off to write EEPROM',
    )
    .option('--robot <name>', 'the robot the recording must be from (one of another exits 2)')
    .option('--profile <file.json>', 'the robot profile (limits the safety filter keeps; default: the shipped one)')
    .option(
      '--ease-speed <rad/s>',
      "peak joint speed of the move to the recording's first pose (a cosine profile: it starts and stops at rest)",
      String(DEFAULT_EASE_RAD_S),
    )
    .option('--settle <s>', 'hold at the first pose before the recording plays', String(DEFAULT_SETTLE_S))
    .option('--fault-timeout <s>', 'a driver fault lasting longer ends the replay (exit 1); shorter ones hold', '5')
    .option(
      '--cpu-wake-latency-us <us|off|auto>',
      'as vla-run: cap the CPU wake-up latency while the robot moves',
      'auto',
    )
    .option('--yes', 'confirm the move without a prompt (required when stdin is not a terminal)')
    .option('--json', 'print exactly one JSON object on stdout (the prompt and logs go to stderr)')
    .addHelpText(
      'after',
      `
Examples:
  vla-replay robot runs/ur5e-pick-place-seed3.mcap --rosbridge ws://ur-cell:9090
  vla-replay robot demos/ur5e-pick-place-seed0.mcap --rosbridge ws://127.0.0.1:9090 --yes --json   vla-sim serve
  vla-replay robot runs/aloha-transfer-cube-seed0.mcap --ports left=/dev/ttyDXL_left,right=/dev/ttyDXL_right \\
    --calibration cal/ --ease-speed 0.15
  vla-replay robot runs/aloha-transfer-cube-seed0.mcap --ports left=/dev/pts/3,right=/dev/pts/5 \\
    --calibration calibration/aloha --yes                       the emulator (vla-sim dynamixel), its calibration

The robot moves only after the plan is shown and confirmed. Every command passes the safety filter (position
limits, per-tick steps from the velocity limits). Ctrl-C holds the robot where it is, then prints the summary.
Exit codes: 0 played to the end, 1 a fault stopped it (or it did not finish), 2 bad usage or input (nothing
moved), 130 interrupted (the robot holds), 143 the same for SIGTERM.`,
    )
    .action(robotAction);
}

async function robotAction(file: string, o: Flags): Promise<void> {
  const log = createLogger({ name: 'vla-replay' });
  // listened to from the start: a Ctrl-C while connecting still ends with a summary, nothing having moved
  const interrupts = new Interrupts(log, () => {});
  try {
    await replayOnRobot(file, o, interrupts, log);
  } finally {
    interrupts.dispose();
  }
}

async function replayOnRobot(file: string, o: Flags, interrupts: Interrupts, log: ReturnType<typeof createLogger>) {
  const ep = await episode(file);
  const warnings: string[] = [];
  const description = await inputStep(() => profileForEpisode(ep, o.profile as string | undefined, warnings));
  if (o.robot !== undefined && o.robot !== ep.meta.robot)
    throw new UsageError(`${file}: recorded on ${ep.meta.robot}, not on ${o.robot} (--robot)`);
  const driver = driverConfig(description, o, file);
  const speed_rad_s = numArg('--ease-speed', o.easeSpeed as string, 0.01, 1);
  const settle_s = numArg('--settle', o.settle as string, 0, 10);
  const fault_timeout_ms = numArg('--fault-timeout', o.faultTimeout as string, 0.1, 3600) * 1000;
  const wakeCap = wakeCapArg(o.cpuWakeLatencyUs as string, 'realtime');
  const parts = robotReplay(ep, description, { speed_rad_s, settle_s });
  await inputStep(() => confirmMotion(planText(ep, driver, speed_rad_s, settle_s), { yes: o.yes === true }));
  if (interrupts.signal) {
    process.exitCode = signalExitCode(interrupts.signal); // before anything moved
    return;
  }
  const engine = await startOnRobot(driver, description, parts.policy, () => parts.world, {
    blend: 'replace',
    // the plan is known in advance and served at once: a wide margin guards against a stalled main thread
    margin_ticks: ROBOT_REPLAY_MARGIN,
    fault_timeout_ms,
    injected: { base_ms: 0, jitter_ms: 0 },
    seed: ep.meta.seed,
  });
  parts.tracker.onFault = (why) => engine.hold(why);
  const wake = wakeCap === null ? undefined : holdCpuWakeLatency(wakeCap);
  let ended: { end: EpisodeEnd; fault?: string } | undefined;
  try {
    const done = await runEpisodes(engine, {
      episodes: 1,
      seed0: ep.meta.seed,
      max_ticks: parts.max_ticks,
      observer: parts.tracker,
      label: 'replay',
      json: o.json === true,
      log,
      interrupts,
    });
    ended = done.results[0];
  } finally {
    const report = await engine.stop();
    wake?.release();
    await parts.policy.close();
    const summary = buildRobotSummary(
      { robot: description.robot, file, driver: driverHead(driver), warnings },
      parts.tracker.report(),
      ended,
      report,
      interrupts.signal,
    );
    process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : formatRobotSummary(summary));
    if (interrupts.signal) process.exitCode = signalExitCode(interrupts.signal);
    else if (summary.end !== 'completed') process.exitCode = EXIT.check_failed;
  }
}

async function episode(file: string): Promise<Episode> {
  return inputStep(async () => {
    const ep = await readEpisode(file, { frames: false });
    // a file whose writer did not finish replays up to its last complete tick: say so before anything moves
    if (ep.recovered) process.stderr.write(`warning: ${file}: ${recoveredLine(ep)}\n`);
    checkRecordedActions(ep);
    return ep;
  });
}

/** Bad input found before anything moved: exit 2 with the message. */
async function inputStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof EpisodeFileError || err instanceof ReplayInputError) throw new UsageError(err.message);
    throw err;
  }
}

/** Exactly one robot connection, the one the recording's robot is driven by. */
function driverConfig(d: RobotDescription, o: Flags, file: string): DriverConfig {
  const ur = d.robot === 'ur5' || d.robot === 'ur5e';
  if (o.rosbridge !== undefined && o.ports !== undefined) throw new UsageError('give --rosbridge or --ports, not both');
  if (ur && o.ports !== undefined) throw new UsageError(`${file} is a ${d.robot} recording: it plays over --rosbridge`);
  if (!ur && o.rosbridge !== undefined)
    throw new UsageError(`${file} is an ${d.robot} recording: it plays over --ports left=PATH,right=PATH`);
  if (ur) {
    if (o.rosbridge === undefined)
      throw new UsageError(`name the robot to move: --rosbridge ws://host:9090 (a real robot is never implied)`);
    if (o.calibration !== undefined || o.allowTorqueOff)
      throw new UsageError('--calibration and --allow-torque-off go with --ports');
    const settings = rosSettings(d, o, typeof o.rosbridge === 'string' ? o.rosbridge : undefined);
    return { kind: 'ur', url: settings.url, settings };
  }
  if (o.ports === undefined) throw new UsageError('name the robot to move: --ports left=PATH,right=PATH');
  if (o.calibration === undefined)
    throw new UsageError(
      "--calibration DIR is required with --ports (vla-calibrate's files; the emulator's: calibration/aloha)",
    );
  const dir = o.calibration as string;
  return {
    kind: 'aloha',
    ports: alohaPorts(o.ports as string),
    calibration_paths: { left: join(dir, 'left_follower.json'), right: join(dir, 'right_follower.json') },
    allow_torque_off: o.allowTorqueOff === true,
  };
}

function rosSettings(d: RobotDescription, o: Flags, url: string | undefined): RosSettings {
  const layout = o.rosLayout !== undefined ? choice('ROS layout', o.rosLayout as string, ROS_LAYOUTS) : undefined;
  const command_mode = choice('command mode', o.commandMode as string, ['forward_position', 'trajectory'] as const);
  try {
    return resolveRosSettings({ ...d.ros, ...(url ? { url } : {}), command_mode }, layout ?? d.ros?.layout);
  } catch (err) {
    if (err instanceof RosSettingsError) throw new UsageError(err.message);
    throw err;
  }
}

function driverHead(c: DriverConfig): { kind: string; url?: string; ports?: Record<string, string> } {
  if (c.kind === 'ur') return { kind: 'ur', url: c.url };
  if (c.kind === 'aloha') return { kind: 'aloha', ports: c.ports };
  return { kind: c.kind };
}

function planText(ep: Episode, c: DriverConfig, speed: number, settle_s: number): string {
  const hz = ep.meta.control_hz;
  const span_s = (ep.tick[ep.ticks - 1] - ep.tick[0] + 1) / hz;
  const where = c.kind === 'ur' ? c.url : c.kind === 'aloha' ? `${c.ports.left}, ${c.ports.right}` : c.kind;
  return (
    `vla-replay robot: ${ep.path} (${ep.meta.robot} ${ep.meta.task}, seed ${ep.meta.seed}, ${ep.outcome}, ` +
    `recorded on ` +
    `${ep.meta.driver ?? 'an unknown driver'})\n` +
    `  the ${ep.meta.robot} at ${where} moves from where it is to the recording's first pose at up to ${speed} ` +
    `rad/s, holds ${settle_s} s, then plays ${ep.ticks} recorded commands (${span_s.toFixed(1)} s at ${hz} Hz) ` +
    'through the safety filter. Ctrl-C holds it.'
  );
}
