// UR5 (CB3) and UR5e (e-Series) as ArmSpecs, built from the published standard DH parameters so that
// joint angles in the sim mean the same as on the real controller. Standard DH per joint i:
//   T_i = Rz(theta_i) * Tz(d_i) * Tx(a_i) * Rx(alpha_i)
// A body rotating with joint i therefore places its child at (a_i, 0, d_i) rotated by Rx(alpha_i).
import { type Quat, quatFromAxisAngle, type Vec3 } from '../math3d.js';
import type { ArmLink, ArmSpec, CapsuleGeom, GripperSpec } from './arm-spec.js';

export const UR_JOINT_NAMES = [
  'shoulder_pan_joint',
  'shoulder_lift_joint',
  'elbow_joint',
  'wrist_1_joint',
  'wrist_2_joint',
  'wrist_3_joint',
] as const;

interface UrFacts {
  d: [number, number, number, number, number, number];
  a: [number, number, number, number, number, number];
  /** Link masses (kg) shoulder .. wrist 3, from the UR description packages. */
  mass_kg: [number, number, number, number, number, number];
}

const ALPHA = [Math.PI / 2, 0, 0, Math.PI / 2, -Math.PI / 2, 0];

export const UR5E_DH: UrFacts = {
  d: [0.1625, 0, 0, 0.1333, 0.0997, 0.0996],
  a: [0, -0.425, -0.3922, 0, 0, 0],
  mass_kg: [3.761, 8.058, 2.846, 1.37, 1.3, 0.365],
};

export const UR5_DH: UrFacts = {
  d: [0.089159, 0, 0, 0.10915, 0.09465, 0.0823],
  a: [0, -0.425, -0.39225, 0, 0, 0],
  mass_kg: [3.7, 8.393, 2.275, 1.219, 1.219, 0.1879],
};

const TWO_PI = 2 * Math.PI;
/** Joint limits from the UR description packages: +-2 pi, elbow +-pi, pi rad/s on every joint. */
const RANGE_RAD: [number, number][] = [
  [-TWO_PI, TWO_PI],
  [-TWO_PI, TWO_PI],
  [-Math.PI, Math.PI],
  [-TWO_PI, TWO_PI],
  [-TWO_PI, TWO_PI],
  [-TWO_PI, TWO_PI],
];
export const UR_MAX_VELOCITY_RAD_S = Math.PI;
/** Torque limits: 150 N m base/shoulder/elbow, 28 N m wrists. */
const MAX_TORQUE_NM = [150, 150, 150, 28, 28, 28];

const SERVO_LAG_S = 0.03;

const GREY: CapsuleGeom['rgba'] = [0.72, 0.74, 0.78, 1];
const BLUE: CapsuleGeom['rgba'] = [0.16, 0.42, 0.72, 1];

/** A parallel two-finger gripper sized like a Robotiq 2F-85 (85 mm stroke). */
export const UR_GRIPPER: GripperSpec = {
  finger_travel_m: 0.0425,
  palm_half_m: [0.03, 0.055, 0.03],
  // 32 mm pads: shorter than the 40 mm cube, so a centred grasp never rests a pad on the cube's edge
  pad_half_m: [0.011, 0.006, 0.016],
  finger_stem_m: 0.02,
  kp: 800,
  max_force_n: 60,
  friction: 1.5,
  rgba: [0.15, 0.15, 0.17, 1],
};

export function urArm(variant: 'ur5' | 'ur5e'): ArmSpec {
  const f = variant === 'ur5e' ? UR5E_DH : UR5_DH;
  const links: ArmLink[] = [];
  let pos: Vec3 = [0, 0, 0];
  let quat: Quat = [1, 0, 0, 0];
  const radii = [0.06, 0.054, 0.045, 0.04, 0.04, 0.035];
  for (let i = 0; i < 6; i++) {
    const child: Vec3 = [f.a[i], 0, f.d[i]];
    // the wrist 3 "link" ends at the flange: its geometry reaches (0, 0, d6)
    const geoms: CapsuleGeom[] = [
      {
        kind: 'capsule',
        from: [0, 0, 0],
        to: child,
        radius_m: radii[i],
        mass_kg: f.mass_kg[i],
        rgba: i % 2 === 0 ? BLUE : GREY,
      },
    ];
    links.push({
      body: UR_JOINT_NAMES[i].replace('_joint', '_link'),
      joint: UR_JOINT_NAMES[i],
      pos,
      quat,
      axis: [0, 0, 1],
      range_rad: RANGE_RAD[i],
      max_velocity_rad_s: UR_MAX_VELOCITY_RAD_S,
      kp: i < 3 ? 3500 : 3000,
      // the same kv/kp (tracking lag) on every joint: joints that lag differently bend the tool path,
      // and a gripper that dips while lifting squeezes the cube out
      kv: (i < 3 ? 3500 : 3000) * SERVO_LAG_S,
      armature: i < 3 ? 0.1 : 0.05,
      max_torque_nm: MAX_TORQUE_NM[i],
      geoms,
    });
    pos = child;
    quat = quatFromAxisAngle([1, 0, 0], ALPHA[i]);
  }
  return {
    prefix: '',
    // The DH base frame's x axis points away from the workspace used here; turn the base so that the
    // arm works over +x of the table.
    base_pos: [0, 0, 0],
    base_quat: quatFromAxisAngle([0, 0, 1], Math.PI),
    links,
    // the last DH row (d6) puts the flange at (0, 0, d6) of the wrist 3 body with no extra rotation
    flange_pos: pos,
    flange_quat: quat,
    gripper: UR_GRIPPER,
    tcp_offset_m: 2 * UR_GRIPPER.palm_half_m[2] + UR_GRIPPER.finger_stem_m + UR_GRIPPER.pad_half_m[2],
    base_geoms: [{ kind: 'capsule', from: [0, 0, 0], to: [0, 0, 0.05], radius_m: 0.075, mass_kg: 4, rgba: GREY }],
  };
}

/** A comfortable start pose: upper arm up, forearm forward, tool pointing down. */
export const UR_HOME_RAD = [0, -Math.PI / 2, Math.PI / 2, -Math.PI / 2, -Math.PI / 2, 0];
