// `--policy expert|model.onnx` to a Policy, refused before anything moves if it cannot drive the robot.
import type { Policy } from './policy.js';
import { ExpertPolicy } from './expert-policy.js';
import { OnnxPolicy } from './onnx/onnx-policy.js';
import { PolicyLoadError, checkPolicyFitsRobot } from './onnx/manifest.js';
import type { RobotDescription } from '../../drivers/driver.js';
import type { RobotModel } from '../../sim/robots/index.js';
import type { TaskName } from '../../sim/tasks/task.js';

/** The policy cannot be used with this robot (or at all): bad input, exit 2. */
export class PolicyMismatch extends Error {}

export interface LoadedPolicy {
  policy: Policy;
  warnings: string[];
}

export async function loadPolicy(spec: string, robot: RobotDescription, sim: { model: RobotModel; task: TaskName } | undefined, control_hz: number,
  opts: { expert_noise?: number } = {}): Promise<LoadedPolicy> {
  if (spec === 'expert') {
    if (!sim) throw new PolicyMismatch('--policy expert needs the simulator (--sim): the scripted experts read the simulated task state');
    return { policy: new ExpertPolicy(sim.model, sim.task, { control_hz, noise: opts.expert_noise }), warnings: [] };
  }
  if (opts.expert_noise) throw new PolicyMismatch('--noise applies to the scripted expert only (--policy expert)');
  let policy: OnnxPolicy;
  try {
    policy = await OnnxPolicy.load(spec);
  } catch (err) {
    if (err instanceof PolicyLoadError) throw new PolicyMismatch(err.message);
    throw err;
  }
  const desc = policy.describe();
  const problems = checkPolicyFitsRobot(desc, {
    name: robot.robot, action_dim: robot.action_names.length, state_dim: robot.action_names.length,
    cameras: robot.cameras.map((c) => c.name), control_hz,
  });
  const errors = problems.filter((p) => p.severity === 'error').map((p) => p.message);
  if (errors.length) {
    await policy.close();
    throw new PolicyMismatch(`${spec} does not fit ${robot.robot}: ${errors.join('; ')}`);
  }
  for (const c of desc.cameras) {
    if (c.width !== c.height && robot.sim) {
      await policy.close();
      throw new PolicyMismatch(`${spec}: camera '${c.name}' is ${c.width}x${c.height}; the simulator renders square images only`);
    }
  }
  return { policy, warnings: problems.filter((p) => p.severity === 'warning').map((p) => p.message) };
}
