// The nominal travel of an ALOHA motor in calibrated ticks: its joint's limits (or the gripper's travel),
// 2048 ticks being the joint's zero. What a calibration records when nobody moves the arm through its
// range (vla-calibrate --yes), and the emulator's exact calibration.

import { ALOHA_GRIPPER_CLOSED_RAD, ALOHA_GRIPPER_OPEN_RAD, type AlohaMotor } from '../protocols/aloha/motor-map.js';
import { CENTRE_TICKS, TICKS_PER_REV } from '../protocols/dynamixel/control-table.js';
import { RANGE_MAX_TICKS, RANGE_MIN_TICKS } from './motor-calibration.js';

const TICKS_PER_RAD = TICKS_PER_REV / (2 * Math.PI);

/** One arm's six joint limits (rad), in joint order. */
export type ArmJointLimits = readonly (readonly [number, number])[];

export function nominalRange(m: AlohaMotor, motors: readonly AlohaMotor[], limits: ArmJointLimits): [number, number] {
  const joint = m.shadow_of !== undefined ? motors.find((p) => p.id === m.shadow_of)!.joint : m.joint;
  const [lo, hi] = joint === 'gripper' ? [ALOHA_GRIPPER_CLOSED_RAD, ALOHA_GRIPPER_OPEN_RAD] : limits[joint!];
  return [
    Math.max(RANGE_MIN_TICKS, Math.ceil(CENTRE_TICKS + lo * TICKS_PER_RAD)),
    Math.min(RANGE_MAX_TICKS, Math.floor(CENTRE_TICKS + hi * TICKS_PER_RAD)),
  ];
}
