// --scale-deg: the residual's bound, one value for every joint or one per joint (a wrist may need more room than
// a shoulder: turning the gripper to a cube moves nothing else).
import { numArg, UsageError } from '../common.js';

const MAX_DEG = 45;

/** Degrees to radians: one number for all joints, or a list in the robot's joint order. */
export function jointBoundsArg(value: string, joint_names: readonly string[]): number | number[] {
  const parts = value.split(',');
  const rad = (part: string) => (numArg('--scale-deg', part.trim(), 0.01, MAX_DEG) * Math.PI) / 180;
  if (parts.length === 1) return rad(parts[0]);
  if (parts.length !== joint_names.length)
    throw new UsageError(
      `--scale-deg: ${parts.length} values for ${joint_names.length} joints; give one for all or one per joint ` +
        `(${joint_names.join(', ')})`,
    );
  return parts.map(rad);
}
