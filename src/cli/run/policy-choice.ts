// `--policy expert|tick-stamp|model.onnx|zmq://host:port|ws://host:port` for a run: the sim's scripted
// expert (it reads the simulator's task state, so only where a simulated world supplies it), the diagnostic
// tick-stamp policy (every action says which tick it is for: the summary counts actions executed at another
// tick), an ONNX model, a policy served by vla-serve (zmq:// or tcp://) or an openpi server (ws://), each
// checked against the robot. Whatever cannot drive the robot (or cannot be reached) is refused before anything
// moves (exit 2).
import { ExpertPolicy } from '../../../sim/experts/expert-policy.js';
import { type RobotName, robotModel } from '../../../sim/robots/index.js';
import type { TaskName } from '../../../sim/tasks/index.js';
import { type LoadedPolicy, loadOnnxPolicy, PolicyMismatch, type PolicyTarget } from '../../policy/load-policy.js';
import { isRemotePolicySpec, loadRemotePolicy, type RemoteFlags } from '../../policy/remote/load-remote.js';
import { isOpenpiPolicySpec, loadOpenpiPolicy } from '../../policy/remote/openpi-load.js';
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
  /** For a remote policy (zmq://): CURVE keys, JPEG, timeouts (flags; the address's query may carry them too). */
  remote?: RemoteFlags;
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
  const target: PolicyTarget = {
    robot: c.robot,
    control_hz: c.control_hz,
    cameras: c.cameras,
    square_cameras_only: c.square_cameras_only,
    allow_robot_mismatch: c.allow_robot_mismatch,
  };
  try {
    if (isRemotePolicySpec(c.spec)) return await loadRemotePolicy(c.spec, target, c.remote);
    if (isOpenpiPolicySpec(c.spec)) {
      const { openpi_map, timeout_ms, connect_timeout_ms } = c.remote ?? {};
      return await loadOpenpiPolicy(c.spec, openpi_map, target, { timeout_ms, connect_timeout_ms });
    }
    return await loadOnnxPolicy(c.spec, target);
  } catch (err) {
    if (err instanceof PolicyMismatch) throw new UsageError(err.message);
    throw err;
  }
}
