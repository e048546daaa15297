// vla-run --rosbridge: a UR5/UR5e through rosbridge with the real UrDriver in the control thread, and the
// cell's world (cameras; episodes on the simulated endpoint) read over a second connection here.
// Cameras come from the cell's image topics, or from devices on this host (--camera) where named.
// Everything that can be refused is refused before anything moves, with exit 2: a refused connection,
// bad ROS settings, a policy that does not fit, the scripted expert without the simulated endpoint, a
// camera topic or device that sends nothing.
import { RosWorld } from '../../../drivers/ur/ros-world.js';
import { UrDriver, RosConnectionError } from '../../../drivers/ur/ur-driver.js';
import { CameraError } from '../../../drivers/cameras/camera-source.js';
import { resolveRosSettings, RosSettingsError, type RosLayout, type RosSettings, type UrRobotName } from '../../../calibration/ros-settings.js';
import { builtinProfilePath, loadRobotProfile } from '../../../calibration/robot-profile.js';
import { robotModel } from '../../../sim/robots/index.js';
import { createTask, TASKS_BY_ROBOT, type TaskName } from '../../../sim/tasks/index.js';
import { RealtimeRuntime } from '../../runtime/realtime.js';
import { loadPolicy, PolicyMismatch } from '../../policy/load-policy.js';
import { defaultPolicy } from '../../policy/default-policy.js';
import type { Policy } from '../../policy/policy.js';
import type { RobotDescription } from '../../../drivers/driver.js';
import type { RuntimeOptions } from '../../runtime/runtime-types.js';
import type { Logger } from '../../telemetry/log.js';
import { UsageError } from '../common.js';
import { robotRunner, type Runner } from './runner.js';
import { localCameraSpecs, startLocalCameras } from './local-camera-args.js';
import type { CameraUse, LocalCameras } from '../../runtime/local-cameras.js';

export interface RosRunArgs {
  robot: UrRobotName;
  /** ws://host:port, or undefined: the robot profile's. */
  url: string | undefined;
  layout?: RosLayout;
  command_mode?: RosSettings['command_mode'];
  task?: string;
  policy?: string;
  noise: number;
  hz: number;
  fault_timeout_ms: number;
  /** --camera flags: cameras on this host in place of the cell's topics. */
  cameras: string[];
  opts: RuntimeOptions;
  log: Logger;
}

export interface RosRun {
  runner: Runner;
  policy: Policy;
  desc: RobotDescription;
  warnings: string[];
  url: string;
  /** The far end is `vla-sim serve`: episodes reset with their seed and judged by its success topic. */
  sim_endpoint: boolean;
  /** The endpoint's task; null on a real robot. */
  task: TaskName | null;
  /** What each camera on this host gave the policy (none: undefined). */
  camera_usage: () => Record<string, CameraUse> | undefined;
}

export async function startRosRun(a: RosRunArgs): Promise<RosRun> {
  const profile = await loadRobotProfile(builtinProfilePath(a.robot));
  let settings: RosSettings;
  try {
    settings = resolveRosSettings({ ...profile.ros, ...(a.url ? { url: a.url } : {}), ...(a.command_mode ? { command_mode: a.command_mode } : {}) }, a.layout ?? profile.ros?.layout);
  } catch (err) {
    if (err instanceof RosSettingsError) throw new UsageError(err.message);
    throw err;
  }
  const url = settings.url;
  let world: RosWorld;
  try {
    world = await RosWorld.open({ url, settings, log: a.log });
  } catch (err) {
    if (err instanceof RosConnectionError) throw new UsageError(`${err.message} (is rosbridge, or \`vla-sim serve --robot ${a.robot}\`, running there?); nothing was commanded`);
    throw err;
  }
  let policy: Policy | undefined;
  let local: LocalCameras | undefined;
  try {
    const task = endpointTask(a.robot, world, a.task);
    const desc = new UrDriver({ robot: a.robot, settings, url, control_hz: a.hz, cameras: profile.cameras, sim: world.simEndpoint }).describe();
    const spec = a.policy ?? defaultPolicy(a.robot, task ?? TASKS_BY_ROBOT[a.robot][0]);
    if (spec === 'expert' && !task) {
      throw new UsageError(`--policy expert needs the simulated endpoint (vla-sim serve): the scripted expert reads the simulator's task state, which a real ${a.robot} at ${url} does not publish`);
    }
    let loaded;
    try {
      loaded = await loadPolicy(spec, desc, task ? { model: robotModel(a.robot), task } : undefined, a.hz, { expert_noise: a.noise });
    } catch (err) {
      if (err instanceof PolicyMismatch) throw new UsageError(err.message);
      throw err;
    }
    policy = loaded.policy;
    const policyCameras = policy.describe().cameras.map((c) => c.name);
    const specs = localCameraSpecs(a.cameras, profile, policyCameras, policy.describe().name);
    local = await startLocalCameras(specs, a.log);
    try {
      await world.startCameras(policyCameras.filter((name) => !specs.some((s) => s.name === name)));
    } catch (err) {
      if (err instanceof CameraError) throw new UsageError(`${err.message}; nothing was commanded`);
      throw err;
    }
    const loadedPolicy = policy;
    const worldLink = local ? local.over(world.worldLink()) : world.worldLink();
    const runner = await robotRunner(() => RealtimeRuntime.start({ kind: 'ur', robot: a.robot, url, settings, control_hz: a.hz, sim_endpoint: world.simEndpoint }, loadedPolicy,
      { ...a.opts, control_hz: a.hz, fault_timeout_ms: a.fault_timeout_ms }, worldLink), task ?? undefined);
    const cams = local;
    return { runner, policy, desc, warnings: loaded.warnings, url, sim_endpoint: world.simEndpoint, task, camera_usage: () => cams?.usage() };
  } catch (err) {
    await policy?.close();
    await local?.stop();
    await world.close();
    throw err;
  }
}

/** The simulated endpoint runs one task: --task may only confirm it. A real robot has no task of ours. */
function endpointTask(robot: UrRobotName, world: RosWorld, asked: string | undefined): TaskName | null {
  const running = world.simTask?.task;
  if (!running) return null;
  if (!TASKS_BY_ROBOT[robot].includes(running)) throw new UsageError(`the endpoint runs task '${running}', which ${robot} does not have (valid: ${TASKS_BY_ROBOT[robot].join(', ')})`);
  if (asked !== undefined && asked !== running) throw new UsageError(`--task ${asked}: the endpoint at ${world.connection.url} runs '${running}' (start it with vla-sim serve --task ${asked})`);
  return running;
}
