// vla-run --ports: the two ALOHA follower arms over serial with the real AlohaSerialDriver in the control
// thread. With --sim-link the ports are the Dynamixel emulator's, and its sim link gives what a real
// rig's operator and cameras would: episode reset with the seed, success, the task state the scripted
// expert reads, and camera frames. Without it (a real rig) there is none of that: one run for --duration
// or until Ctrl-C, no scripted expert, and cameras only from devices on this host (--camera).
// Everything that can be refused is refused before anything moves, with exit 2: a malformed calibration
// file, a sim link that does not answer, a policy that does not fit, a port that cannot be opened, a
// servo that does not answer at connect, an EEPROM register that could only be written by switching off
// the torque of an arm that may be holding itself up (unless --allow-torque-off).
import { join } from 'node:path';
import { builtinAlohaCalibrationPath } from '../../../calibration/motor-calibration.js';
import { loadAlohaCalibration } from '../../../drivers/aloha/load-calibration.js';
import { DriverSetupError } from '../../../drivers/driver.js';
import type { AlohaSide } from '../../../protocols/aloha/motor-map.js';
import { createTask, TASKS_BY_ROBOT, type TaskName, taskTickLimit } from '../../../sim/tasks/index.js';
import { defaultPolicy } from '../../policy/default-policy.js';
import type { Policy } from '../../policy/policy.js';
import type { RemoteFlags } from '../../policy/remote/load-remote.js';
import type { RobotDescription } from '../../robot/index.js';
import type { ClockOptions } from '../../runtime/runtime.js';
import type { RuntimeOptions } from '../../runtime/runtime-types.js';
import { EMPTY_WORLD, type WorldLink } from '../../runtime/world-link.js';
import type { Logger } from '../../telemetry/log.js';
import type { LocalCameras } from '../../world/local-cameras.js';
import { SimLinkUnavailable, SimLinkWorld } from '../../world/sim-link-world.js';
import { UsageError } from '../common.js';
import { localCameraSpecs, startLocalCameras } from './local-camera-args.js';
import { choosePolicy } from './policy-choice.js';
import { worldFrames } from './record-frames.js';
import type { RobotRun } from './ros-runner.js';
import { startOnRobot } from './start-robot.js';

export interface AlohaRunArgs {
  description: RobotDescription;
  ports: Record<AlohaSide, string>;
  /** The emulator's sim link (tcp://host:port); undefined: a real rig. */
  sim_link: string | undefined;
  /**
   * Holds <arm>_follower.json (what vla-calibrate --out writes), and <arm>_leader.json with leader_ports;
   * undefined: the emulator's shipped files.
   */
  calibration_dir: string | undefined;
  /** The leader arms' ports (a takeover device for fine-tuning sessions); undefined: none. */
  leader_ports?: Record<AlohaSide, string>;
  task?: string;
  policy?: string;
  noise: number;
  /** --allow-robot-mismatch: run a model trained for another robot (the user checked the action layout). */
  allow_robot_mismatch?: boolean;
  /** --policy zmq://... or ws://...: keys, JPEG, timeouts, the openpi mapping. */
  remote?: RemoteFlags;
  /** The user rested the arms: connecting may switch a motor's torque off to write an EEPROM register that differs. */
  allow_torque_off: boolean;
  /** --camera flags: cameras on this host (a real rig's only cameras; on the emulator in place of its frames). */
  cameras: string[];
  opts: RuntimeOptions & ClockOptions;
  log?: Logger;
  /** Changes what the runtime sees of the world (a person's judgement in place of the emulator's success). */
  wrap_world?: (w: WorldLink) => WorldLink;
}

const DEFAULT_IS_EXPERT =
  'no --policy given and no model ships for aloha, so the default is the scripted expert, which';

export async function startAlohaRun(
  a: AlohaRunArgs,
): Promise<RobotRun & { calibration_paths: Record<AlohaSide, string> }> {
  const calibration_paths = calibrationPaths(a.calibration_dir, a.sim_link !== undefined);
  const leaders = a.leader_ports
    ? {
        ports: a.leader_ports,
        calibration_paths: calibrationPaths(a.calibration_dir, a.sim_link !== undefined, 'leader'),
      }
    : undefined;
  // checked here as well as in the control thread: one clear message before anything starts
  await checkCalibration(calibration_paths, 'follower');
  if (leaders) await checkCalibration(leaders.calibration_paths, 'leader');
  const world = a.sim_link === undefined ? undefined : await openSimLink(a.sim_link);
  let policy: Policy | undefined;
  let local: LocalCameras | undefined;
  try {
    const task = world ? emulatorTask(world, a.task) : null;
    const spec = a.policy ?? defaultPolicy('aloha', task ?? TASKS_BY_ROBOT.aloha[0]);
    const worldCameras = world ? world.hello.cameras : [];
    const loaded = await choosePolicy({
      spec,
      robot: a.description,
      sim_task: task,
      noise: a.noise,
      allow_robot_mismatch: a.allow_robot_mismatch ?? false,
      remote: a.remote,
      fixed_delay_ticks: a.opts.fixed_delay_ticks,
      control_hz: a.description.control_hz,
      square_cameras_only: false,
      cameras: [...new Set([...worldCameras, ...a.description.cameras.map((c) => c.name)])],
      no_sim_hint:
        `${a.policy ? '--policy expert' : DEFAULT_IS_EXPERT}` +
        " needs the emulator's sim link (--sim-link): the scripted expert reads the simulator's task state, " +
        'which a real ALOHA rig does not have',
    });
    policy = loaded.policy;
    local = await startCameras(world, policy, spec, a);
    const base: WorldLink = world?.worldLink() ?? EMPTY_WORLD;
    const cams = local;
    const engine = await startOnRobot(
      {
        kind: 'aloha',
        ports: a.ports,
        calibration_paths,
        allow_torque_off: a.allow_torque_off,
        ...(leaders ? { leaders } : {}),
      },
      a.description,
      policy,
      () => {
        const link = cams ? cams.over(base) : base;
        return a.wrap_world ? a.wrap_world(link) : link;
      },
      a.opts,
    );
    return {
      engine,
      policy,
      warnings: loaded.warnings,
      sim_endpoint: world !== undefined,
      task,
      calibration_paths,
      max_ticks: task ? taskTickLimit(createTask(task), a.description.control_hz) : undefined,
      camera_usage: () => cams?.usage(),
      ...(world ? { frames: worldFrames(base), task_state: () => world.taskState() } : {}),
      ...(world && leaders ? { hold_leaders: (pose: readonly number[]) => world.holdLeaders(pose) } : {}),
    };
  } catch (err) {
    await policy?.close();
    await local?.stop();
    await world?.close();
    throw err;
  }
}

/** Both arms' calibration files (of one role), refused with a usage error naming what is wrong. */
async function checkCalibration(paths: Record<AlohaSide, string>, role: 'follower' | 'leader'): Promise<void> {
  await loadAlohaCalibration(paths, role).catch((err: unknown) => {
    if (err instanceof DriverSetupError) throw new UsageError(`${err.message}; nothing was commanded`);
    throw err;
  });
}

async function openSimLink(address: string): Promise<SimLinkWorld> {
  try {
    return await SimLinkWorld.open(address);
  } catch (err) {
    if (err instanceof SimLinkUnavailable) throw new UsageError(`${err.message}; nothing was commanded`);
    throw err;
  }
}

/**
 * Local cameras first (--camera, the profile's sources), the emulator's frames for the rest; a real rig has only
 * local ones.
 */
async function startCameras(
  world: SimLinkWorld | undefined,
  policy: Policy,
  spec: string,
  a: AlohaRunArgs,
): Promise<LocalCameras | undefined> {
  const wanted = policy.describe().cameras.map((c) => ({ name: c.name, size: c.width }));
  const specs = localCameraSpecs(
    a.cameras,
    a.description.cameras,
    wanted.map((c) => c.name),
    policy.describe().name,
  );
  const fromWorld = wanted.filter((c) => !specs.some((s) => s.name === c.name));
  if (fromWorld.length && !world) {
    throw new UsageError(
      `${spec} reads cameras ${fromWorld.map((c) => c.name).join(', ')}: on a real rig give each a device on this ` +
        `host ` +
        `(--camera ${fromWorld[0].name}=/dev/videoN), or run against the emulator with --sim-link`,
    );
  }
  const local = await startLocalCameras(specs, a.log);
  try {
    await world?.startCameras(fromWorld);
  } catch (err) {
    await local?.stop();
    if (err instanceof SimLinkUnavailable) throw new UsageError(`${err.message}; nothing was commanded`);
    throw err;
  }
  return local;
}

/**
 * --calibration DIR, or the emulator's shipped files when the ports are the emulator's. A real rig must
 * name its own: the shipped files describe the emulator's mounting, and would put every joint's zero in
 * the wrong place on real arms.
 */
function calibrationPaths(
  dir: string | undefined,
  emulator: boolean,
  role: 'follower' | 'leader' = 'follower',
): Record<AlohaSide, string> {
  if (dir !== undefined) return { left: join(dir, `left_${role}.json`), right: join(dir, `right_${role}.json`) };
  if (!emulator) {
    throw new UsageError(
      '--calibration DIR is required without --sim-link (a real rig): the shipped calibration describes the ' +
        "emulator's arms; write yours with vla-calibrate --robot aloha --ports ... --out DIR",
    );
  }
  return { left: builtinAlohaCalibrationPath('left', role), right: builtinAlohaCalibrationPath('right', role) };
}

/** The emulator runs one task: --task may only confirm it. */
function emulatorTask(world: SimLinkWorld, asked: string | undefined): TaskName {
  const running = world.task as TaskName;
  if (!TASKS_BY_ROBOT.aloha.includes(running))
    throw new UsageError(
      `the emulator at ${world.address} runs task '${running}', which aloha does not have (valid: ` +
        `${TASKS_BY_ROBOT.aloha.join(', ')})`,
    );
  if (asked !== undefined && asked !== running)
    throw new UsageError(
      `--task ${asked}: the emulator at ${world.address} runs '${running}' (start it with vla-sim dynamixel --task ` +
        `${asked})`,
    );
  return running;
}
