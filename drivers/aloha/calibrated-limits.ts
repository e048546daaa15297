// What an ALOHA rig can do is narrower than the robot's nominal limits where its calibration says so: each
// joint motor's recorded travel (range_min..range_max ticks, 2048 = the joint's zero). The driver reports
// the intersection as its description, so the runtime's one safety filter never commands a goal outside
// the calibrated travel, and the arm layer needs no clamp of its own.

import type { ArmCalibration } from '../../calibration/motor-calibration.js';
import { ALOHA_ARM_SIDES, ALOHA_JOINT_IDS, type AlohaSide, alohaMotors } from '../../protocols/aloha/motor-map.js';
import { CENTRE_TICKS, TICKS_PER_REV } from '../../protocols/dynamixel/control-table.js';
import type { RobotDescription } from '../../src/robot/index.js';

const RAD_PER_TICK = (2 * Math.PI) / TICKS_PER_REV;

export function narrowToCalibration(
  desc: RobotDescription,
  calibration: Record<AlohaSide, ArmCalibration>,
): RobotDescription {
  const motors = alohaMotors('follower');
  const limits = desc.position_limits_rad.map(([lo, hi], j) => {
    const side = ALOHA_ARM_SIDES[Math.floor(j / ALOHA_JOINT_IDS.length)];
    const motor = motors[ALOHA_JOINT_IDS[j % ALOHA_JOINT_IDS.length] - 1];
    const c = calibration[side][motor.name];
    return [
      Math.max(lo, (c.range_min - CENTRE_TICKS) * RAD_PER_TICK),
      Math.min(hi, (c.range_max - CENTRE_TICKS) * RAD_PER_TICK),
    ] as const;
  });
  return Object.freeze({ ...desc, position_limits_rad: limits });
}
