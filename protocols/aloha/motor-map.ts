// The motors of one ALOHA arm (ViperX 300 s follower / WidowX 250 s leader): IDs, names, models, drive
// and operating modes, and the shadow motors that follow their primary through Secondary_ID. Names are
// LeRobot's, so calibration files are interchangeable.
import type { ModelName } from '../dynamixel/control-table.js';

/** The six joints of an ALOHA arm, in motor order (LeRobot's names). */
export const ALOHA_JOINT_NAMES = ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate'] as const;

export const ALOHA_ARM_SIDES = ['left', 'right'] as const;
export type AlohaSide = (typeof ALOHA_ARM_SIDES)[number];
export type AlohaRole = 'follower' | 'leader';

export interface AlohaMotor {
  name: string;
  id: number;
  model: ModelName;
  /** Drive_Mode register: 1 = reversed direction. */
  drive_mode: 0 | 1;
  /** Operating_Mode register: 4 extended position (joints), 5 current-based position (follower gripper). */
  operating_mode: 3 | 4 | 5;
  /** A shadow answers to its primary's ID through Secondary_ID; one goal drives both. */
  shadow_of?: number;
  /** Index into the arm's joints (0..5), or 'gripper', or undefined for a shadow. */
  joint?: number | 'gripper';
}

const follower: AlohaMotor[] = [
  { name: 'waist', id: 1, model: 'XM540-W270', drive_mode: 0, operating_mode: 4, joint: 0 },
  { name: 'shoulder', id: 2, model: 'XM540-W270', drive_mode: 1, operating_mode: 4, joint: 1 },
  { name: 'shoulder_shadow', id: 3, model: 'XM540-W270', drive_mode: 0, operating_mode: 4, shadow_of: 2 },
  { name: 'elbow', id: 4, model: 'XM540-W270', drive_mode: 1, operating_mode: 4, joint: 2 },
  { name: 'elbow_shadow', id: 5, model: 'XM540-W270', drive_mode: 0, operating_mode: 4, shadow_of: 4 },
  { name: 'forearm_roll', id: 6, model: 'XM540-W270', drive_mode: 0, operating_mode: 4, joint: 3 },
  { name: 'wrist_angle', id: 7, model: 'XM540-W270', drive_mode: 1, operating_mode: 4, joint: 4 },
  { name: 'wrist_rotate', id: 8, model: 'XM430-W350', drive_mode: 0, operating_mode: 4, joint: 5 },
  { name: 'gripper', id: 9, model: 'XM430-W350', drive_mode: 0, operating_mode: 5, joint: 'gripper' },
];

/** Leader arms (WidowX 250 s) are XM430/XL430 and are only read; their gripper is a position handle. */
const leader: AlohaMotor[] = follower.map((m) => ({
  ...m,
  model: m.id <= 5 ? 'XM430-W350' : 'XL430-W250',
  operating_mode: m.joint === 'gripper' ? 3 : 4,
}));

export function alohaMotors(role: AlohaRole = 'follower'): readonly AlohaMotor[] {
  return role === 'follower' ? follower : leader;
}

/** Joint motor IDs in joint order (6), and the gripper ID. */
export const ALOHA_JOINT_IDS = [1, 2, 4, 6, 7, 8] as const;
export const ALOHA_GRIPPER_ID = 9;
/** Every motor, the order of the per-tick SYNC_READ (shadows included, so their alerts are seen). */
export const ALOHA_READ_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9] as const;
/** The per-tick SYNC_WRITE: primaries only; the shadows take the same goal through Secondary_ID. */
export const ALOHA_WRITE_IDS = [1, 2, 4, 6, 7, 8, 9] as const;

/** The calibration pose of an arm: ACT's start pose (rad, joint order), gripper fully open. */
export const ALOHA_CALIBRATION_POSE_RAD = [0, -0.96, 1.16, 0, -0.3, 0] as const;

/**
 * The follower gripper motor's travel: -0.6213 rad closed .. 1.4910 rad open (ALOHA's
 * FOLLOWER_GRIPPER_JOINT_CLOSE/OPEN). Used by the emulator and as the nominal range when calibrating.
 */
export const ALOHA_GRIPPER_CLOSED_RAD = -0.6213;
export const ALOHA_GRIPPER_OPEN_RAD = 1.491;
