// `--policy expert|tick-stamp|model.onnx` for a run: the sim's scripted expert (it reads the simulator's
// task state, so only where a simulated world supplies it), the diagnostic tick-stamp policy (every action
// says which tick it is for: the summary counts actions executed at another tick), or an ONNX model
// checked against the robot. Whatever cannot drive the robot is refused before anything moves (exit 2).
import { ExpertPolicy } from '../../../sim/experts/expert-policy.js';
import { type RobotName, robotModel } from '../../../sim/robots/index.js';
import type { TaskName } from '../../../sim/tasks/index.js';
import { type LoadedPolicy, loadOnnxPolicy, PolicyMismatch } from '../../policy/load-policy.js';
import { TickStampPolicy } from '../../policy/tick-stamp.js';
import type { RobotDescription } from '../../robot/index.js';
import { UsageError } from '../common.js';

export interface PolicyChoice {
  spec: string;
  robot: RobotDescription;
  /** The simulated world's task, when there is one (embedded sim, or a simulated endpoint). */
  sim_task: TaskName | null;
  noise: number;
  control_hz: number;
  /** Cameras the world can give. */
  cameras: readonly string[];
  /** The embedded sim renders square images only. */
  square_cameras_only: boolean;
  /** Said when the expert is asked for where there is no simulated world. */
  no_sim_hint: string;
  /** What the user has checked and accepts: a model trained for another robot (--allow-robot-mismatch). */
  allow_robot_mismatch: boolean;
  /** --delay N: the first N ticks of every chunk are dropped; undefined: auto. */
  fixed_delay_ticks: number | undefined;
}

export async function choosePolicy(c: PolicyChoice): Promise<LoadedPolicy> {
  const loaded = await load(c);
  const { horizon, action_offset } = loaded.policy.describe();
  // a chunk covers ticks obs+offset .. obs+offset+H-1; dropping N ticks from obs leaves none when N reaches the end
  const usable = horizon + action_offset - 1;
  if (c.fixed_delay_ticks !== undefined && c.fixed_delay_ticks >= usable) {
    await loaded.policy.close();
    throw new UsageError(
      `--delay ${c.fixed_delay_ticks} drops every action of every chunk: a chunk of the policy covers ticks ` +
        `${action_offset}..${usable} after its observation (horizon ${horizon}); use --delay ${usable - 1} or less, ` +
        'or --delay auto',
    );
  }
  return loaded;
}

async function load(c: PolicyChoice): Promise<LoadedPolicy> {
  if (c.spec === 'tick-stamp') {
    if (c.noise) throw new UsageError('--noise applies to the scripted expert only (--policy expert)');
    return { policy: new TickStampPolicy(c.robot), warnings: [] };
  }
  if (c.spec === 'expert') {
    if (!c.sim_task) throw new UsageError(c.no_sim_hint);
    return {
      policy: new ExpertPolicy(robotModel(c.robot.robot as RobotName), c.robot, c.sim_task, { noise: c.noise }),
      warnings: [],
    };
  }
  if (c.noise) throw new UsageError('--noise applies to the scripted expert only (--policy expert)');
  try {
    return await loadOnnxPolicy(c.spec, {
      robot: c.robot,
      control_hz: c.control_hz,
      cameras: c.cameras,
      square_cameras_only: c.square_cameras_only,
      allow_robot_mismatch: c.allow_robot_mismatch,
    });
  } catch (err) {
    if (err instanceof PolicyMismatch) throw new UsageError(err.message);
    throw err;
  }
}
