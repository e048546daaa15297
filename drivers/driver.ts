// The contract between the runtime and a robot, in the style of a ros2_control hardware interface: a
// lifecycle (configure, activate, deactivate, close) and, per control tick, read() into a preallocated
// state and write() of one command. A driver only reads and writes: safety limits, freshness rules, holds
// and timing live in the runtime above it, in one place for every robot.
import type { RobotDescription } from '../src/robot/index.js';

export interface JointState {
  /** Monotonic time of the measurement (ms; src/util/clock.ts, the same in every thread); -Infinity: none yet. */
  t_mono_ms: number;
  /** Arm joints in the description's joint order (rad). */
  position_rad: Float64Array;
  velocity_rad_s: Float64Array;
  /** One per gripper, 0 closed .. 1 open. */
  gripper: Float64Array;
  /**
   * A teleoperation device read with the robot, where the rig has one (ALOHA's leader arms): the pose a person
   * holds it in, in the action layout, and when it was read (-Infinity: never; a driver without one leaves it).
   * Only read: what it may command is decided above the driver (a takeover in a fine-tuning session).
   */
  teleop?: { t_mono_ms: number; action: Float64Array };
}

export function newJointState(desc: RobotDescription): JointState {
  return {
    t_mono_ms: -Infinity,
    position_rad: new Float64Array(desc.joint_names.length),
    velocity_rad_s: new Float64Array(desc.joint_names.length),
    gripper: new Float64Array(desc.gripper_names.length),
    teleop: { t_mono_ms: -Infinity, action: new Float64Array(desc.action_names.length) },
  };
}

/**
 * What a driver says about its link to the robot. 'stale' is never returned by a driver: it is the
 * runtime's verdict on a state whose measurement is too old (src/runtime/control/freshness.ts).
 */
export const HEALTH = [
  'ok',
  'stale',
  'connecting',
  'disconnected',
  'program_stopped',
  'io_error',
  'late',
  'hardware_alert',
] as const;
export type Health = (typeof HEALTH)[number];

/** Faults that cannot clear by themselves (a servo's hardware alert needs a person): the run ends at once. */
export function isLatched(h: Health): boolean {
  return h === 'hardware_alert';
}

/**
 * A missed read only: the actuators were given nothing new and stay on their last goal, so a short stretch
 * of these may go on with the plan (see the control loop).
 */
export function isMissedRead(h: Health): boolean {
  return h === 'late';
}

/** The driver could not set up the robot (unreachable, refused, malformed calibration): nothing was commanded. */
export class DriverSetupError extends Error {
  override name = 'DriverSetupError';
}

export interface Driver {
  readonly description: RobotDescription;
  /** Open the link and check the other side is there and set up (topics advertised, servos answering). */
  configure(): Promise<void>;
  /**
   * Get ready to move: a fresh measurement, and whatever the robot needs to accept commands (the UR's
   * program running). Resolves undefined when ready, or with why not (nothing was commanded).
   */
  activate(): Promise<string | undefined>;
  /**
   * The freshest measurement, copied into `into` (its t_mono_ms says when it was taken), and the
   * driver's health. Never blocks and never allocates.
   */
  read(into: JointState): Health;
  /** Why the health is not ok (names the arm, motor, topic or connection), for messages. */
  problem(): string;
  /**
   * One command in the description's action layout, already within limits; null: nothing new this tick
   * (the actuators keep their last goal, or the robot's own receive timeout stops it). Never blocks.
   */
  write(command: Float64Array | null): void;
  /** Stop commanding; anything still on the wire has left when this resolves. The robot holds its last goal. */
  deactivate(): Promise<void>;
  close(): Promise<void>;
  /** The driver's own fault counters, for the run's summary. */
  counters(): Record<string, number>;
}
