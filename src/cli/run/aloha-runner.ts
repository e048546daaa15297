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
import { AlohaSerialDriver } from '../../../drivers/aloha/aloha-serial-driver.js';
import { alohaMotors, ALOHA_ARM_SIDES, type AlohaSide } from '../../../drivers/aloha/motor-map.js';
import { SimLinkUnavailable, SimLinkWorld } from '../../../drivers/aloha/sim-link-world.js';
import { builtinAlohaCalibrationPath, CalibrationError, loadArmCalibration, type ArmCalibration } from '../../../calibration/motor-calibration.js';
import { builtinProfilePath, loadRobotProfile } from '../../../calibration/robot-profile.js';
import { robotModel } from '../../../sim/robots/index.js';
import { createTask, TASKS_BY_ROBOT, type TaskName } from '../../../sim/tasks/index.js';
import { RealtimeRuntime } from '../../runtime/realtime.js';
import { loadPolicy, PolicyMismatch } from '../../policy/load-policy.js';
import { defaultPolicy } from '../../policy/default-policy.js';
import type { Policy } from '../../policy/policy.js';
import type { RobotDescription } from '../../../drivers/driver.js';
import type { RuntimeOptions } from '../../runtime/runtime-types.js';
import { UsageError } from '../common.js';
import { robotRunner, type Runner } from './runner.js';
import { localCameraSpecs, startLocalCameras } from './local-camera-args.js';
import type { CameraUse, LocalCameras } from '../../runtime/local-cameras.js';
import type { WorldLink } from '../../runtime/world-link.js';
import type { Logger } from '../../telemetry/log.js';

/** A joint state older than this holds the arms: 5 ticks at 50 Hz, longer than a read with all its retries. */
const STALE_STATE_MS = 100;

export interface AlohaRunArgs {
  ports: Record<AlohaSide, string>;
  /** The emulator's sim link (tcp://host:port); undefined: a real rig. */
  sim_link: string | undefined;
  /** Holds <arm>_follower.json (what vla-calibrate --out writes); undefined: the emulator's shipped files. */
  calibration_dir: string | undefined;
  task?: string;
  policy?: string;
  noise: number;
  hz: number;
  fault_timeout_ms: number;
  /**
   * The user rested the arms: connecting may switch a motor's torque off to write an EEPROM register
   * that differs from the calibration. Without it such a change is refused (exit 2, nothing written).
   */
  allow_torque_off: boolean;
  /** --camera flags: cameras on this host (a real rig's only cameras; on the emulator in place of its frames). */
  cameras: string[];
  opts: RuntimeOptions;
  log?: Logger;
}

export interface AlohaRun {
  runner: Runner;
  policy: Policy;
  desc: RobotDescription;
  warnings: string[];
  /** The emulator's task; null on a real rig. */
  task: TaskName | null;
  calibration_paths: Record<AlohaSide, string>;
  /** What each camera on this host gave the policy (none: undefined). */
  camera_usage: () => Record<string, CameraUse> | undefined;
}

export async function startAlohaRun(a: AlohaRunArgs): Promise<AlohaRun> {
  const calibration_paths = calibrationPaths(a.calibration_dir, a.sim_link !== undefined);
  // checked here as well as in the control thread: one clear message before anything starts
  const calibration = {} as Record<AlohaSide, ArmCalibration>;
  for (const side of ALOHA_ARM_SIDES) {
    try {
      calibration[side] = await loadArmCalibration(calibration_paths[side], alohaMotors('follower'));
    } catch (err) {
      if (err instanceof CalibrationError) throw new UsageError(`${err.message}; nothing was commanded`);
      throw err;
    }
  }
  let world: SimLinkWorld | undefined;
  if (a.sim_link !== undefined) {
    try {
      world = await SimLinkWorld.open(a.sim_link);
    } catch (err) {
      if (err instanceof SimLinkUnavailable) throw new UsageError(`${err.message}; nothing was commanded`);
      throw err;
    }
  }
  let policy: Policy | undefined;
  let local: LocalCameras | undefined;
  try {
    const task = world ? emulatorTask(world, a.task) : null;
    const profile = await loadRobotProfile(builtinProfilePath('aloha'));
    const cameras = world ? profile.cameras.filter((c) => world.hello.cameras.includes(c.name)) : profile.cameras;
    const desc = (await AlohaSerialDriver.create({ ports: a.ports, calibration, control_hz: a.hz, cameras, sim: world !== undefined })).describe();
    const spec = a.policy ?? defaultPolicy('aloha', task ?? TASKS_BY_ROBOT.aloha[0]);
    if (spec === 'expert' && !task) {
      throw new UsageError(`${a.policy ? '--policy expert' : 'no --policy given and no model ships for aloha, so the default is the scripted expert, which'} needs the emulator's sim link (--sim-link): the scripted expert reads the simulator's task state, which a real ALOHA rig does not have`);
    }
    let loaded;
    try {
      loaded = await loadPolicy(spec, desc, task ? { model: robotModel('aloha'), task } : undefined, a.hz, { expert_noise: a.noise });
    } catch (err) {
      if (err instanceof PolicyMismatch) throw new UsageError(err.message);
      throw err;
    }
    policy = loaded.policy;
    const wanted = policy.describe().cameras.map((c) => ({ name: c.name, size: c.width }));
    const specs = localCameraSpecs(a.cameras, profile, wanted.map((c) => c.name), policy.describe().name);
    const fromWorld = wanted.filter((c) => !specs.some((s) => s.name === c.name));
    if (fromWorld.length && !world) {
      throw new UsageError(`${spec} reads cameras ${fromWorld.map((c) => c.name).join(', ')}: on a real rig give each a device on this host `
        + `(--camera ${fromWorld[0].name}=/dev/videoN), or run against the emulator with --sim-link`);
    }
    local = await startLocalCameras(specs, a.log);
    try {
      await world?.startCameras(fromWorld);
    } catch (err) {
      if (err instanceof SimLinkUnavailable) throw new UsageError(`${err.message}; nothing was commanded`);
      throw err;
    }
    const loadedPolicy = policy;
    const base: WorldLink = world?.worldLink() ?? { view: () => ({ images: [] }), close: async () => undefined };
    const runner = await robotRunner(() => RealtimeRuntime.start({
      kind: 'aloha', robot: 'aloha', ports: a.ports, calibration_paths, control_hz: a.hz, stale_state_ms: STALE_STATE_MS, sim_endpoint: world !== undefined,
      allow_torque_off: a.allow_torque_off,
    }, loadedPolicy, { ...a.opts, control_hz: a.hz, fault_timeout_ms: a.fault_timeout_ms }, local ? local.over(base) : base), task ?? undefined);
    const cams = local;
    return { runner, policy, desc, warnings: loaded.warnings, task, calibration_paths, camera_usage: () => cams?.usage() };
  } catch (err) {
    await policy?.close();
    await local?.stop();
    await world?.close();
    throw err;
  }
}

/**
 * --calibration DIR, or the emulator's shipped files when the ports are the emulator's. A real rig must
 * name its own: the shipped files describe the emulator's mounting, and would put every joint's zero in
 * the wrong place on real arms.
 */
function calibrationPaths(dir: string | undefined, emulator: boolean): Record<AlohaSide, string> {
  if (dir !== undefined) return { left: join(dir, 'left_follower.json'), right: join(dir, 'right_follower.json') };
  if (!emulator) {
    throw new UsageError('--calibration DIR is required without --sim-link (a real rig): the shipped calibration describes the emulator\'s arms; write yours with vla-calibrate --robot aloha --ports ... --out DIR');
  }
  return { left: builtinAlohaCalibrationPath('left'), right: builtinAlohaCalibrationPath('right') };
}

/** The emulator runs one task: --task may only confirm it. */
function emulatorTask(world: SimLinkWorld, asked: string | undefined): TaskName {
  const running = world.task as TaskName;
  if (!TASKS_BY_ROBOT.aloha.includes(running)) throw new UsageError(`the emulator at ${world.address} runs task '${running}', which aloha does not have (valid: ${TASKS_BY_ROBOT.aloha.join(', ')})`);
  if (asked !== undefined && asked !== running) throw new UsageError(`--task ${asked}: the emulator at ${world.address} runs '${running}' (start it with vla-sim dynamixel --task ${asked})`);
  return running;
}
