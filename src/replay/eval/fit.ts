// Does a recording fit the policy and the robot the evaluation runs for? A policy sees a recording as it would
// see that robot: same robot (or the user said otherwise), same action layout, same rate, and a frame from
// every camera it reads. Anything else is refused before a single inference, expected vs found (exit 2).
import type { PolicyDescription } from '../../policy/policy.js';
import type { Episode } from '../../recording/index.js';
import type { RobotDescription } from '../../robot/index.js';

/** A recording that cannot be evaluated with this policy: bad input, exit 2. */
export class EvalInputError extends Error {}

export interface FitTarget {
  robot: RobotDescription;
  policy: PolicyDescription & { robot?: string; action_names?: string[] };
  /** The policy was trained for another robot and the user accepts it (--allow-robot-mismatch). */
  allow_robot_mismatch: boolean;
}

/** Every way `ep` does not fit, each as "what: expected X, found Y". */
export function recordingProblems(ep: Episode, t: FitTarget): string[] {
  const m = ep.meta;
  const problems: string[] = [];
  const differ = (what: string, expected: unknown, found: unknown): void =>
    void problems.push(`${what}: expected ${String(expected)}, found ${String(found)}`);
  const policy = `policy '${t.policy.name}'`;
  const trained = t.policy.robot;
  if (m.robot !== t.robot.robot) differ('robot', `${t.robot.robot} (as the episodes before)`, m.robot);
  else if (trained !== undefined && trained !== m.robot && !t.allow_robot_mismatch)
    differ('robot', `${trained} (the robot ${policy} was trained for; --allow-robot-mismatch to go on)`, m.robot);
  if (!same(m.action_names, t.robot.action_names))
    differ('action names', list(t.robot.action_names), list(m.action_names));
  else if (t.policy.action_names && !same(m.action_names, t.policy.action_names))
    differ(`action names (${policy})`, list(t.policy.action_names), list(m.action_names));
  if (!same(m.joint_names, t.robot.joint_names)) differ('joint names', list(t.robot.joint_names), list(m.joint_names));
  if (!same(m.gripper_names, t.robot.gripper_names))
    differ('gripper names', list(t.robot.gripper_names), list(m.gripper_names));
  if (t.policy.control_hz !== undefined && m.control_hz !== t.policy.control_hz)
    differ('control rate', `${t.policy.control_hz} Hz (${policy} was trained at it)`, `${m.control_hz} Hz`);
  const recorded = m.cameras.map((c) => c.name);
  for (const c of t.policy.cameras) {
    const frames = ep.frames[c.name]?.rgb.length ?? 0;
    if (!recorded.includes(c.name))
      differ(`camera '${c.name}'`, `frames (${policy} reads it)`, `not recorded (recorded: ${list(recorded)})`);
    else if (frames === 0 && ep.ticks > 0)
      differ(`camera '${c.name}'`, `frames (${policy} reads it)`, `none in ${ep.ticks} ticks`);
  }
  return problems;
}

/** Throws EvalInputError naming the file and everything that differs. */
export function checkRecording(ep: Episode, t: FitTarget): void {
  const problems = recordingProblems(ep, t);
  if (problems.length) throw new EvalInputError(`${ep.path}: does not fit: ${problems.join('; ')}`);
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function list(xs: readonly string[]): string {
  return xs.length ? xs.join(', ') : '(none)';
}
