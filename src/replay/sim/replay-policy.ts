// `vla-replay sim --policy X`: the policy a closed-loop replay runs, loaded as vla-run loads it and refused before
// anything runs if it cannot drive the recording's robot: the sim's scripted expert (by default with the noise
// the recording was made with), the tick-stamp diagnostic, an ONNX model with its manifest, or a policy served
// by vla-serve (zmq:// or tcp://, keys and timeouts in the address's query).
import { ExpertPolicy } from '../../../sim/experts/expert-policy.js';
import { type RobotName, robotModel } from '../../../sim/robots/index.js';
import type { TaskName } from '../../../sim/tasks/index.js';
import { type LoadedPolicy, loadOnnxPolicy, PolicyMismatch, type PolicyTarget } from '../../policy/load-policy.js';
import { isRemotePolicySpec, loadRemotePolicy } from '../../policy/remote/load-remote.js';
import { TickStampPolicy } from '../../policy/tick-stamp.js';
import type { RobotDescription } from '../../robot/index.js';
import { ReplayInputError } from './replay-input.js';

export interface ReplayPolicySpec {
  spec: string;
  /** The expert's noise; undefined: the recording's (0 when it does not say). */
  noise?: number;
  allow_robot_mismatch?: boolean;
}

export async function loadReplayPolicy(
  p: ReplayPolicySpec,
  robot: RobotDescription,
  task: TaskName,
  recorded_noise: number | undefined,
): Promise<LoadedPolicy> {
  if (p.spec === 'expert') {
    const noise = p.noise ?? recorded_noise ?? 0;
    return { policy: new ExpertPolicy(robotModel(robot.robot as RobotName), robot, task, { noise }), warnings: [] };
  }
  if (p.noise !== undefined)
    throw new ReplayInputError('--noise applies to the scripted expert only (--policy expert)');
  if (p.spec === 'tick-stamp') return { policy: new TickStampPolicy(robot), warnings: [] };
  const target: PolicyTarget = {
    robot,
    control_hz: robot.control_hz,
    cameras: robotModel(robot.robot as RobotName).cameras.map((c) => c.name),
    square_cameras_only: true,
    allow_robot_mismatch: p.allow_robot_mismatch ?? false,
  };
  try {
    if (isRemotePolicySpec(p.spec)) return await loadRemotePolicy(p.spec, target);
    if (p.spec.includes('://'))
      throw new ReplayInputError(`--policy ${p.spec}: replay takes expert, tick-stamp, model.onnx or zmq://host:port`);
    return await loadOnnxPolicy(p.spec, target);
  } catch (err) {
    if (err instanceof PolicyMismatch) throw new ReplayInputError(err.message);
    throw err;
  }
}
