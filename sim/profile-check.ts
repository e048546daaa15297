// The profile is the robot; the sim model must agree with it (sim-env.ts calls this on every model it builds).
import { ProfileError, type RobotDescription } from '../src/robot/index.js';
import { jointNames } from './robots/arm-spec.js';
import { actionNames, type RobotModel } from './robots/index.js';

/** Tolerance when comparing a profile's limits with the model's (profiles store 6 decimals). */
const LIMIT_TOLERANCE_RAD = 1e-5;

/**
 * The profile is the robot; the sim model must agree with it: the same joints in the same order, the same
 * action layout, and limits the model's joints can honour. ProfileError names the file and the field.
 */
export function checkAgainstModel(desc: RobotDescription, model: RobotModel): void {
  const fail = (field: string, what: string) => {
    throw new ProfileError(`${desc.source}: ${field}: ${what} (the ${model.name} sim model)`);
  };
  const joints = model.arms.flatMap(jointNames);
  if (desc.joint_names.join() !== joints.join())
    fail('joints', `expected ${joints.length} joints ${joints.join(', ')}, found ${desc.joint_names.join(', ')}`);
  const actions = actionNames(model);
  if (desc.action_names.join() !== actions.join())
    fail('action', `expected ${actions.join(', ')}, found ${desc.action_names.join(', ')}`);
  const ranges = model.arms.flatMap((a) => a.links.map((l) => l.range_rad));
  desc.position_limits_rad.forEach(([lo, hi], i) => {
    if (lo < ranges[i][0] - LIMIT_TOLERANCE_RAD || hi > ranges[i][1] + LIMIT_TOLERANCE_RAD) {
      fail(
        `joints.${i}`,
        `${joints[i]} limits ${lo}..${hi} rad reach beyond the joint's range ` +
          `${ranges[i][0].toFixed(6)}..${ranges[i][1].toFixed(6)}`,
      );
    }
  });
}
