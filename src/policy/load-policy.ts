// `--policy model.onnx` to a Policy, refused before anything moves if it cannot drive the robot. (The
// scripted expert is the sim's: sim/experts/expert-policy.ts; a remote policy: remote/load-remote.ts.)

import type { RobotDescription } from '../robot/index.js';
import { checkPolicyFitsRobot, PolicyLoadError } from './onnx/manifest.js';
import { OnnxPolicy } from './onnx/onnx-policy.js';
import type { Policy, PolicyDescription } from './policy.js';

/** The policy cannot be used with this robot (or at all): bad input, exit 2. */
export class PolicyMismatch extends Error {}

export interface LoadedPolicy {
  policy: Policy;
  warnings: string[];
}

export interface PolicyTarget {
  robot: RobotDescription;
  control_hz: number;
  /** Cameras the robot's world can give. */
  cameras: readonly string[];
  /** The simulator renders square images only. */
  square_cameras_only: boolean;
  /** A model whose manifest names another robot runs anyway (the user said so); else it is refused. */
  allow_robot_mismatch?: boolean;
}

export async function loadOnnxPolicy(path: string, target: PolicyTarget): Promise<LoadedPolicy> {
  let policy: OnnxPolicy;
  try {
    policy = await OnnxPolicy.load(path);
  } catch (err) {
    if (err instanceof PolicyLoadError) throw new PolicyMismatch(err.message);
    throw err;
  }
  const { errors, warnings } = policyFit(policy.describe(), target);
  if (errors.length) {
    await policy.close();
    throw new PolicyMismatch(`${path} does not fit ${target.robot.robot}: ${errors.join('; ')}`);
  }
  return { policy, warnings };
}

/** Why a policy (local or remote) cannot drive the target robot (errors), and what the user accepted (warnings). */
export function policyFit(
  desc: PolicyDescription & { state_dim?: number; robot?: string },
  target: PolicyTarget,
): { errors: string[]; warnings: string[] } {
  const { robot } = target;
  const problems = checkPolicyFitsRobot(
    desc,
    {
      name: robot.robot,
      action_dim: robot.action_names.length,
      state_dim: robot.action_names.length,
      cameras: [...target.cameras],
      control_hz: target.control_hz,
    },
    { allow_robot_mismatch: target.allow_robot_mismatch ?? false },
  );
  const errors = problems.filter((p) => p.severity === 'error').map((p) => p.message);
  for (const c of desc.cameras) {
    if (c.width !== c.height && target.square_cameras_only)
      errors.push(`camera '${c.name}' is ${c.width}x${c.height}; the simulator renders square images only`);
  }
  return { errors, warnings: problems.filter((p) => p.severity === 'warning').map((p) => p.message) };
}
