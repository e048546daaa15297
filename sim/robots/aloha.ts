// The ALOHA rig: two ViperX-300-s-like 6-DoF follower arms facing each other across a table.
// Link offsets follow the public vx300s kinematics (waist 0.079 m high, 0.3 m upper arm with a
// 0.0596 m elbow offset, 0.3 m forearm split by the forearm-roll joint); joint ranges from gym-aloha.

import type { ALOHA_JOINT_NAMES } from '../../protocols/aloha/motor-map.js';
import { quatFromAxisAngle, type Vec3 } from '../math3d.js';
import type { ArmLink, ArmSpec, CapsuleGeom, GripperSpec } from './arm-spec.js';

/** XM540/XM430 no-load speeds are ~3 rad/s; the runtime limits commands to this. */
export const ALOHA_MAX_VELOCITY_RAD_S = Math.PI;

const DARK: CapsuleGeom['rgba'] = [0.12, 0.12, 0.14, 1];
const SILVER: CapsuleGeom['rgba'] = [0.62, 0.64, 0.68, 1];

/** Follower finger travel 0..0.037 m per side (gym-aloha: 0.021-0.057 m including the pad offset). */
export const ALOHA_GRIPPER: GripperSpec = {
  finger_travel_m: 0.037,
  palm_half_m: [0.025, 0.045, 0.02],
  pad_half_m: [0.01, 0.005, 0.02],
  finger_stem_m: 0.015,
  kp: 600,
  max_force_n: 40,
  friction: 1.5,
  rgba: [0.1, 0.1, 0.11, 1],
};

interface LinkFacts {
  joint: (typeof ALOHA_JOINT_NAMES)[number];
  pos: Vec3;
  axis: Vec3;
  range_rad: [number, number];
  kp: number;
  kv: number;
  armature: number;
  max_torque_nm: number;
  /** Where this link's geometry reaches (the next joint), in its own frame. */
  to: Vec3;
  radius_m: number;
  mass_kg: number;
}

const LINKS: LinkFacts[] = [
  {
    joint: 'waist',
    pos: [0, 0, 0.079],
    axis: [0, 0, 1],
    range_rad: [-Math.PI, Math.PI],
    kp: 300,
    kv: 9,
    armature: 0.05,
    max_torque_nm: 10,
    to: [0, 0, 0.04805],
    radius_m: 0.035,
    mass_kg: 0.48,
  },
  {
    joint: 'shoulder',
    pos: [0, 0, 0.04805],
    axis: [0, 1, 0],
    range_rad: [-1.85005, 1.25664],
    kp: 600,
    kv: 18,
    armature: 0.05,
    max_torque_nm: 20,
    to: [0.05955, 0, 0.3],
    radius_m: 0.03,
    mass_kg: 0.43,
  },
  {
    joint: 'elbow',
    pos: [0.05955, 0, 0.3],
    axis: [0, 1, 0],
    range_rad: [-1.76278, 1.6057],
    kp: 400,
    kv: 12,
    armature: 0.05,
    max_torque_nm: 15,
    to: [0.2, 0, 0],
    radius_m: 0.025,
    mass_kg: 0.26,
  },
  {
    joint: 'forearm_roll',
    pos: [0.2, 0, 0],
    axis: [1, 0, 0],
    range_rad: [-Math.PI, Math.PI],
    kp: 100,
    kv: 3,
    armature: 0.01,
    max_torque_nm: 6,
    to: [0.1, 0, 0],
    radius_m: 0.022,
    mass_kg: 0.1,
  },
  {
    joint: 'wrist_angle',
    pos: [0.1, 0, 0],
    axis: [0, 1, 0],
    range_rad: [-1.8675, 2.23402],
    kp: 100,
    kv: 3,
    armature: 0.01,
    max_torque_nm: 6,
    to: [0.069744, 0, 0],
    radius_m: 0.02,
    mass_kg: 0.1,
  },
  {
    joint: 'wrist_rotate',
    pos: [0.069744, 0, 0],
    axis: [1, 0, 0],
    range_rad: [-Math.PI, Math.PI],
    kp: 50,
    kv: 1.5,
    armature: 0.01,
    max_torque_nm: 3,
    to: [0.042825, 0, 0],
    radius_m: 0.02,
    mass_kg: 0.08,
  },
];

function vx300sArm(prefix: 'left_' | 'right_', base_pos: Vec3, yaw_rad: number): ArmSpec {
  const links: ArmLink[] = LINKS.map((f, i) => ({
    body: `${f.joint}_link`,
    joint: f.joint,
    pos: f.pos,
    quat: [1, 0, 0, 0],
    axis: f.axis,
    range_rad: f.range_rad,
    max_velocity_rad_s: ALOHA_MAX_VELOCITY_RAD_S,
    kp: f.kp,
    kv: f.kv,
    armature: f.armature,
    max_torque_nm: f.max_torque_nm,
    geoms: [
      {
        kind: 'capsule',
        from: [0, 0, 0],
        to: f.to,
        radius_m: f.radius_m,
        mass_kg: f.mass_kg,
        rgba: i % 2 === 0 ? DARK : SILVER,
      },
    ],
  }));
  return {
    prefix,
    base_pos,
    base_quat: quatFromAxisAngle([0, 0, 1], yaw_rad),
    links,
    // the gripper's approach axis (flange +z) points along the wrist's +x
    flange_pos: [0.042825, 0, 0],
    flange_quat: quatFromAxisAngle([0, 1, 0], Math.PI / 2),
    gripper: ALOHA_GRIPPER,
    tcp_offset_m: 2 * ALOHA_GRIPPER.palm_half_m[2] + ALOHA_GRIPPER.finger_stem_m + ALOHA_GRIPPER.pad_half_m[2],
    base_geoms: [{ kind: 'capsule', from: [0, 0, 0], to: [0, 0, 0.06], radius_m: 0.05, mass_kg: 1, rgba: DARK }],
  };
}

/** Arm bases 0.938 m apart along x, as in the ALOHA bimanual sims; both face the table centre. */
export function alohaArms(): ArmSpec[] {
  return [vx300sArm('left_', [-0.469, 0, 0], 0), vx300sArm('right_', [0.469, 0, 0], Math.PI)];
}
