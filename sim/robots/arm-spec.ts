// A serial arm described once, as a chain of bodies, and used twice: to write the MuJoCo model (mjcf.ts)
// and for forward/inverse kinematics in the scripted experts (kinematics.ts). Keeping one description
// means the expert's IK and the simulated arm cannot disagree.
import type { Quat, Vec3 } from '../math3d.js';

export interface CapsuleGeom {
  kind: 'capsule';
  from: Vec3;
  to: Vec3;
  radius_m: number;
  mass_kg: number;
  rgba: [number, number, number, number];
}

export interface ArmLink {
  /** Body name; the joint is called `${joint}`. */
  body: string;
  joint: string;
  /** Body origin and orientation in the parent body's frame. */
  pos: Vec3;
  quat: Quat;
  /** Hinge axis in this body's frame. */
  axis: Vec3;
  range_rad: [number, number];
  max_velocity_rad_s: number;
  /**
   * Position servo: torque = kp * (target - q) - kv * qdot, clipped to +-max_torque_nm. kv sits in the
   * servo, not in the joint, so that it costs lag (kv / kp seconds) but not top speed.
   */
  kp: number;
  kv: number;
  armature: number;
  max_torque_nm: number;
  geoms: CapsuleGeom[];
}

export interface GripperSpec {
  /** Travel of each finger from closed (0) to fully open (m). */
  finger_travel_m: number;
  /** Palm box half-sizes (m); the palm starts at the flange and extends along its +z. */
  palm_half_m: Vec3;
  /** Finger pad half-sizes (m): x across the closing direction, y along it, z along the approach axis. */
  pad_half_m: Vec3;
  /** Stem between palm and pad (m): keeps the palm clear of an object the pads hold. */
  finger_stem_m: number;
  /** Position gain (N/m) and force limit (N) of the single finger actuator. */
  kp: number;
  max_force_n: number;
  friction: number;
  rgba: [number, number, number, number];
}

export interface ArmSpec {
  /** Prefix for every name in the model ('' for a single arm, 'left_'/'right_' for ALOHA). */
  prefix: string;
  base_pos: Vec3;
  base_quat: Quat;
  links: ArmLink[];
  /** Flange frame in the last link's frame; the gripper is mounted here, approach axis = flange +z. */
  flange_pos: Vec3;
  flange_quat: Quat;
  gripper: GripperSpec;
  /** Tool centre point along the flange +z (between the finger pads), metres. */
  tcp_offset_m: number;
  base_geoms: CapsuleGeom[];
}

export function jointNames(arm: ArmSpec): string[] {
  return arm.links.map((l) => arm.prefix + l.joint);
}
