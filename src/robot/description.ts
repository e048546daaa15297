// The robot description: joint names and order, limits, per-tick step, home pose, grippers, action layout
// and cameras, in one immutable object built from a validated robot profile. Safety, the action ring, the
// drivers, the sim and the experts all take it; nothing else describes a robot.
import type { DhParameters } from './dh-chain.js';
import type { RobotProfile } from './profile-schema.js';

export interface CameraSpec {
  name: string;
  width: number;
  height: number;
  /** A device on the robot host feeding this camera, when the profile names one. */
  source?: string;
}

export interface RobotDescription {
  readonly robot: string;
  /** The profile it was loaded from, for messages. */
  readonly source: string;
  readonly control_hz: number;
  /** Arm joints in the order of the measured state (rad). */
  readonly joint_names: readonly string[];
  /** Grippers, 0 closed .. 1 open. */
  readonly gripper_names: readonly string[];
  /** The action vector: per arm its joint targets (rad), then its gripper. */
  readonly action_names: readonly string[];
  /** Per joint. */
  readonly position_limits_rad: readonly (readonly [number, number])[];
  readonly velocity_limits_rad_s: readonly number[];
  /** Per-tick step cap on top of velocity x period (rad); undefined: none. */
  readonly max_step_rad: number | undefined;
  readonly home_rad: readonly number[];
  readonly home_gripper: readonly number[];
  readonly cameras: readonly CameraSpec[];
  /** For each action index: the joint index (>= 0), or -1 - the gripper index. */
  readonly action_source: Int32Array;
  /** The profile's `ros` section (UR cells), as written. */
  readonly ros: RobotProfile['ros'];
  /** The arm's standard DH parameters (joint order), when the profile has them: the flange's position. */
  readonly dh: DhParameters | undefined;
}

export function describeRobot(profile: RobotProfile, source: string): RobotDescription {
  const joint_names = profile.joints.map((j) => j.name);
  const action_source = Int32Array.from(profile.action, (name) => {
    const j = joint_names.indexOf(name);
    return j >= 0 ? j : -1 - profile.grippers.indexOf(name);
  });
  return Object.freeze({
    robot: profile.robot,
    source,
    control_hz: profile.control_hz,
    joint_names,
    gripper_names: [...profile.grippers],
    action_names: [...profile.action],
    position_limits_rad: profile.joints.map((j) => [j.min_rad, j.max_rad] as const),
    velocity_limits_rad_s: profile.joints.map((j) => j.max_velocity_rad_s),
    max_step_rad: profile.max_step_rad,
    home_rad: [...profile.home_rad],
    home_gripper: [...profile.home_gripper],
    cameras: profile.cameras.map((c) => ({ ...c })),
    action_source,
    ros: profile.ros,
    dh: profile.kinematics?.dh,
  });
}

/** The home pose in the action layout. */
export function homeAction(desc: RobotDescription, out = new Float64Array(desc.action_names.length)): Float64Array {
  for (let i = 0; i < out.length; i++) {
    const src = desc.action_source[i];
    out[i] = src >= 0 ? desc.home_rad[src] : desc.home_gripper[-1 - src];
  }
  return out;
}

/** A state (joints, grippers) in the action layout, written into `out` (no allocation). */
export function actionLayout<T extends Float32Array | Float64Array>(
  desc: RobotDescription,
  s: { position_rad: ArrayLike<number>; gripper: ArrayLike<number> },
  out: T,
): T {
  const source = desc.action_source;
  for (let i = 0; i < source.length; i++) {
    const src = source[i];
    out[i] = src >= 0 ? s.position_rad[src] : s.gripper[-1 - src];
  }
  return out;
}

/** Whether action index i is a gripper. */
export function isGripperAction(desc: RobotDescription, i: number): boolean {
  return desc.action_source[i] < 0;
}
