// vla-run --rosbridge: a UR5/UR5e through rosbridge with the real UrDriver in the control thread, and the
// cell's world (cameras; episodes on the simulated endpoint) read over a second connection here.
// Cameras come from the cell's image topics, or from devices on this host (--camera) where named.
// Everything that can be refused is refused before anything moves, with exit 2: a refused connection,
// bad ROS settings, a command topic nobody subscribes to, a policy that does not fit, the scripted expert
// without the simulated endpoint, a camera topic or device that sends nothing.

import { type RosSettings, RosSettingsError, resolveRosSettings } from '../../../calibration/ros-settings.js';
import { CameraError } from '../../../drivers/cameras/camera-source.js';
import { RosConnectionError } from '../../../drivers/ur/ros-connection.js';
import type { RosLayout } from '../../../protocols/ros/layout.js';
import { createTask, TASKS_BY_ROBOT, type TaskName, taskTickLimit } from '../../../sim/tasks/index.js';
import { defaultPolicy } from '../../policy/default-policy.js';
import type { Policy } from '../../policy/policy.js';
import type { RemoteFlags } from '../../policy/remote/load-remote.js';
import type { RobotDescription } from '../../robot/index.js';
import type { ClockOptions, EpisodeEngine } from '../../runtime/runtime.js';
import type { RuntimeOptions } from '../../runtime/runtime-types.js';
import type { WorldLink } from '../../runtime/world-link.js';
import type { Logger } from '../../telemetry/log.js';
import type { CameraUse, LocalCameras } from '../../world/local-cameras.js';
import { RosWorld } from '../../world/ros-world.js';
import { UsageError } from '../common.js';
import { localCameraSpecs, startLocalCameras } from './local-camera-args.js';
import { choosePolicy } from './policy-choice.js';
import { type FrameSource, worldFrames } from './record-frames.js';
import { startOnRobot } from './start-robot.js';

export interface RosRunArgs {
  description: RobotDescription;
  /** ws://host:port, or undefined: the robot profile's. */
  url: string | undefined;
  layout?: RosLayout;
  command_mode?: RosSettings['command_mode'];
  task?: string;
  policy?: string;
  noise: number;
  /** --allow-robot-mismatch: run a model trained for another robot (the user checked the action layout). */
  allow_robot_mismatch?: boolean;
  /** --policy zmq://... or ws://...: keys, JPEG, timeouts, the openpi mapping. */
  remote?: RemoteFlags;
  /** --camera flags: cameras on this host in place of the cell's topics. */
  cameras: string[];
  /** Changes what the runtime sees of the world (a person's judgement in place of the cell's success). */
  wrap_world?: (w: WorldLink) => WorldLink;
  opts: RuntimeOptions & ClockOptions;
  log: Logger;
}

export interface RobotRun {
  engine: EpisodeEngine;
  policy: Policy;
  warnings: string[];
  /** The far end simulates the world: episodes reset with their seed and judged by it. */
  sim_endpoint: boolean;
  /** The simulated world's task; null on a real robot. */
  task: TaskName | null;
  /** The task's episode limit in ticks (simulated world only). */
  max_ticks: number | undefined;
  /** What each camera on this host gave the policy (none: undefined). */
  camera_usage: () => Record<string, CameraUse> | undefined;
  /** --record's camera frames: the cell's or the emulator's cameras (not yet those on this host). */
  frames?: FrameSource;
  /** The simulated world's task state as last published (privileged: for a scripted operator); none on a robot. */
  task_state?: () => unknown;
  /** The emulator's leader arms, held in a pose (action layout): the scripted operator's hands. */
  hold_leaders?: (pose: readonly number[]) => void;
}

export async function startRosRun(a: RosRunArgs): Promise<RobotRun & { url: string }> {
  const settings = rosSettings(a);
  const world = await openWorld(settings, a);
  let policy: Policy | undefined;
  let local: LocalCameras | undefined;
  try {
    const task = endpointTask(a.description.robot, world, a.task);
    const loaded = await choosePolicy({
      spec: a.policy ?? defaultPolicy(a.description.robot, task ?? TASKS_BY_ROBOT[a.description.robot as 'ur5'][0]),
      robot: a.description,
      sim_task: task,
      noise: a.noise,
      allow_robot_mismatch: a.allow_robot_mismatch ?? false,
      remote: a.remote,
      fixed_delay_ticks: a.opts.fixed_delay_ticks,
      control_hz: a.description.control_hz,
      cameras: a.description.cameras.map((c) => c.name),
      square_cameras_only: false,
      no_sim_hint:
        `--policy expert needs the simulated endpoint (vla-sim serve): the scripted expert reads the ` +
        `simulator's task state, which a real ${a.description.robot} at ${settings.url} does not publish`,
    });
    policy = loaded.policy;
    local = await startCameras(world, policy, a);
    const cams = local;
    const engine = await startOnRobot(
      { kind: 'ur', url: settings.url, settings },
      a.description,
      policy,
      () => {
        const link = cams ? cams.over(world.worldLink()) : world.worldLink();
        return a.wrap_world ? a.wrap_world(link) : link;
      },
      a.opts,
    );
    return {
      engine,
      policy,
      warnings: loaded.warnings,
      url: settings.url,
      sim_endpoint: world.simEndpoint,
      task,
      max_ticks: task ? taskTickLimit(createTask(task), a.description.control_hz) : undefined,
      camera_usage: () => cams?.usage(),
      frames: worldFrames(world.worldLink()),
      ...(world.simEndpoint ? { task_state: () => world.taskState() } : {}),
    };
  } catch (err) {
    await policy?.close();
    await local?.stop();
    await world.close();
    throw err;
  }
}

function rosSettings(a: RosRunArgs): RosSettings {
  const profile = a.description.ros;
  try {
    return resolveRosSettings(
      { ...profile, ...(a.url ? { url: a.url } : {}), ...(a.command_mode ? { command_mode: a.command_mode } : {}) },
      a.layout ?? profile?.layout,
    );
  } catch (err) {
    if (err instanceof RosSettingsError) throw new UsageError(err.message);
    throw err;
  }
}

async function openWorld(settings: RosSettings, a: RosRunArgs): Promise<RosWorld> {
  try {
    return await RosWorld.open({ url: settings.url, settings, log: a.log });
  } catch (err) {
    if (err instanceof RosConnectionError) {
      throw new UsageError(
        `${err.message} (is rosbridge, or \`vla-sim serve --robot ${a.description.robot}\`, running there?); nothing ` +
          `was commanded`,
      );
    }
    throw err;
  }
}

/** Local cameras first (--camera, the profile's sources), then the cell's topics for the rest. */
async function startCameras(world: RosWorld, policy: Policy, a: RosRunArgs): Promise<LocalCameras | undefined> {
  const policyCameras = policy.describe().cameras.map((c) => c.name);
  const specs = localCameraSpecs(a.cameras, a.description.cameras, policyCameras, policy.describe().name);
  const local = await startLocalCameras(specs, a.log);
  try {
    await world.startCameras(policyCameras.filter((name) => !specs.some((s) => s.name === name)));
  } catch (err) {
    await local?.stop();
    if (err instanceof CameraError) throw new UsageError(`${err.message}; nothing was commanded`);
    throw err;
  }
  return local;
}

/** The simulated endpoint runs one task: --task may only confirm it. A real robot has no task of ours. */
function endpointTask(robot: string, world: RosWorld, asked: string | undefined): TaskName | null {
  const running = world.simTask?.task;
  if (!running) return null;
  const valid = TASKS_BY_ROBOT[robot as 'ur5'] ?? [];
  if (!valid.includes(running))
    throw new UsageError(
      `the endpoint runs task '${running}', which ${robot} does not have (valid: ${valid.join(', ')})`,
    );
  if (asked !== undefined && asked !== running)
    throw new UsageError(
      `--task ${asked}: the endpoint at ${world.connection.url} runs '${running}' (start it with vla-sim serve ` +
        `--task ${asked})`,
    );
  return running;
}
