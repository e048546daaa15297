// The embedded sim for vla-run and vla-sim run: on the virtual clock in this thread, or in real time with
// the control thread, with the policy chosen for it.

import { type RobotName, robotModel } from '../../../sim/robots/index.js';
import { SimDriver } from '../../../sim/sim-driver.js';
import type { TaskName } from '../../../sim/tasks/index.js';
import type { Policy } from '../../policy/policy.js';
import type { RemoteFlags } from '../../policy/remote/load-remote.js';
import { ProfileError, type RobotDescription } from '../../robot/index.js';
import { FaultSpecError } from '../../runtime/fault-injection.js';
import { type ClockOptions, type EpisodeEngine, startVirtual } from '../../runtime/runtime.js';
import type { RuntimeOptions } from '../../runtime/runtime-types.js';
import type { LatencyModelSpec } from '../../runtime/timing/latency-model.js';
import { directWorld, snapshotWorld } from '../../world/sim-world.js';
import { UsageError } from '../common.js';
import { choosePolicy } from './policy-choice.js';
import { type FrameSource, sceneFrames } from './record-frames.js';
import { startOnRobot } from './start-robot.js';

export interface SimRunArgs {
  robot: RobotName;
  task: TaskName;
  description: RobotDescription;
  clock: 'realtime' | 'fast';
  physics_hz: number;
  policy: string;
  noise: number;
  /** --allow-robot-mismatch: run a model trained for another robot (the user checked the action layout). */
  allow_robot_mismatch?: boolean;
  /** --policy zmq://... or ws://...: keys, JPEG, timeouts, the openpi mapping. */
  remote?: RemoteFlags;
  opts: RuntimeOptions & ClockOptions & { latency_model: LatencyModelSpec };
}

export interface SimRun {
  engine: EpisodeEngine;
  policy: Policy;
  warnings: string[];
  /** The sim stepped in this thread (virtual clock), e.g. to render recorded frames; absent in real time. */
  driver: SimDriver | undefined;
  /** Real time: recorded frames, rendered here from the control thread's scene (close() it after the run). */
  frames?: FrameSource;
}

export async function startSimRun(a: SimRunArgs): Promise<SimRun> {
  const hz = a.description.control_hz;
  if (a.physics_hz % hz !== 0) throw new UsageError(`--physics-hz ${a.physics_hz} must be a multiple of --hz ${hz}`);
  const { policy, warnings } = await choosePolicy({
    spec: a.policy,
    robot: a.description,
    sim_task: a.task,
    noise: a.noise,
    allow_robot_mismatch: a.allow_robot_mismatch ?? false,
    remote: a.remote,
    fixed_delay_ticks: a.opts.fixed_delay_ticks,
    control_hz: hz,
    cameras: robotModel(a.robot).cameras.map((c) => c.name),
    square_cameras_only: true,
    no_sim_hint: '',
  });
  try {
    if (a.clock === 'fast') {
      const driver = await simDriver(a);
      return { engine: startVirtual(driver, policy, directWorld(driver), a.opts), policy, warnings, driver };
    }
    const sim = { robot: a.robot, task: a.task, physics_hz: a.physics_hz, control_hz: hz, description: a.description };
    const wantsCameras = policy.describe().cameras.length > 0;
    const engine = await startOnRobot(
      { kind: 'sim', robot: a.robot, task: a.task, physics_hz: a.physics_hz },
      a.description,
      policy,
      () => snapshotWorld(sim, wantsCameras),
      a.opts,
    );
    return { engine, policy, warnings, driver: undefined, frames: sceneFrames(() => engine.observe(), sim) };
  } catch (err) {
    await policy.close();
    throw err instanceof FaultSpecError ? new UsageError(err.message) : err;
  }
}

async function simDriver(a: SimRunArgs): Promise<SimDriver> {
  try {
    return await SimDriver.create({
      robot: a.robot,
      task: a.task,
      description: a.description,
      physics_hz: a.physics_hz,
      control_hz: a.description.control_hz,
      time: 'virtual',
    });
  } catch (err) {
    if (err instanceof ProfileError) throw new UsageError(err.message);
    throw err;
  }
}
