// Writes the MuJoCo XML for a scene: arms from their ArmSpecs, a table, task objects and cameras.
// Collision filtering keeps the physics cheap: arm links (contype 2) touch only the table; palm,
// finger pads, objects and table (contype 1) touch each other; finger stems are for looks only.

import type { Vec3 } from './math3d.js';
import type { ArmSpec, CapsuleGeom } from './robots/arm-spec.js';

export interface CameraSpec {
  name: string;
  /** Body the camera is fixed to ('world' for a fixed camera). */
  body: string;
  /** Position and look-at point in that body's frame; `up` is a hint for the image's up direction. */
  pos: Vec3;
  lookat: Vec3;
  up: Vec3;
  fovy_deg: number;
}

export type SceneObject =
  | { kind: 'box'; name: string; half_m: Vec3; mass_kg: number; rgba: Rgba; friction: number; pos: Vec3 }
  | { kind: 'marker'; name: string; radius_m: number; rgba: Rgba; pos: Vec3 };

export type Rgba = [number, number, number, number];

export interface SceneSpec {
  name: string;
  timestep_s: number;
  arms: ArmSpec[];
  /** Table top surface is at z = 0; the table spans half_xy around centre_xy. */
  table: { centre_xy: [number, number]; half_xy: [number, number]; rgba: Rgba };
  objects: SceneObject[];
  cameras: CameraSpec[];
  /** Geom pairs with a contact sensor each (data "found": how many contacts the pair has now). */
  contact_sensors: readonly (readonly [string, string])[];
}

/** The name of the contact sensor of geoms a and b (either order). */
export function contactSensorName(a: string, b: string): string {
  return a < b ? `contact:${a}:${b}` : `contact:${b}:${a}`;
}

/**
 * Finger joints reach a little past the actuator's range, so that a fully open or closed gripper does not
 * sit on its joint limit (an active limit is one more constraint row in every physics step).
 */
const FINGER_LIMIT_MARGIN_M = 0.002;

/** N/m on the finger difference: 1 mm of asymmetry costs 1 N. */
const FINGER_SYNC_STIFFNESS = 1000;

/** A little passive joint damping (N m s / rad), as gearboxes have; the servo's own damping is kv. */
const JOINT_FRICTION_DAMPING = 1;

/**
 * Solver settings, chosen by measuring expert pick-place episodes (success and ticks per second):
 * implicitfast integrates the servo damping (kv) stably at 2 ms; elliptic friction cones with Newton
 * were the fastest combination that grasps reliably; default iteration limits, because capping the
 * line search let grasps blow up. Resting objects may sleep, which skips their contacts.
 */
const PHYSICS_OPTIONS = 'integrator="implicitfast" cone="elliptic"';
const PHYSICS_FLAGS = 'sleep="enable"';

/**
 * Pads and objects: sliding friction only (condim 3). Torsional friction and elliptic impratio were
 * measured too: slower, and no more grasps held.
 */
const GRASP_CONTACT = 'condim="3"';

const n = (x: number) => (Math.abs(x) < 1e-12 ? '0' : String(Number(x.toFixed(6))));
const v = (a: ArrayLike<number>) => Array.from(a, n).join(' ');

export function sceneToMjcf(scene: SceneSpec): string {
  const out: string[] = [];
  out.push(`<mujoco model="${scene.name}">`);
  out.push('  <compiler angle="radian" autolimits="true"/>');
  out.push(`  <option timestep="${n(scene.timestep_s)}" ${PHYSICS_OPTIONS}><flag ${PHYSICS_FLAGS}/></option>`);
  out.push('  <size memory="4M"/>');
  out.push('  <worldbody>');
  const [tx, ty] = scene.table.centre_xy;
  const [hx, hy] = scene.table.half_xy;
  // a plane: cheaper than a box both for contacts (measured) and for the camera rays that nearly all end on it
  out.push(
    `    <geom name="table" type="plane" pos="${v([tx, ty, 0])}" size="${v([hx, hy, 0.05])}" ` +
      `rgba="${v(scene.table.rgba)}" contype="1" conaffinity="3"/>`,
  );
  for (const cam of scene.cameras.filter((c) => c.body === 'world')) out.push(`    ${cameraXml(cam)}`);
  for (const arm of scene.arms) armXml(arm, scene.cameras, out, '    ');
  for (const obj of scene.objects) out.push(...objectXml(obj).map((l) => `    ${l}`));
  out.push('  </worldbody>');
  out.push('  <tendon>');
  for (const arm of scene.arms) {
    const l = `${arm.prefix}finger_left_joint`,
      r = `${arm.prefix}finger_right_joint`;
    // the one gripper actuator drives the mean finger opening
    out.push(
      `    <fixed name="${arm.prefix}gripper"><joint joint="${l}" coef="0.5"/><joint joint="${r}" coef="0.5"/></fixed>`,
    );
    // a stiff spring on the difference keeps the fingers symmetric; unlike an equality constraint it is
    // a passive force, so steps without contacts skip the constraint solver entirely
    out.push(
      `    <fixed name="${arm.prefix}finger_sync" stiffness="${n(FINGER_SYNC_STIFFNESS)}" ` +
        `damping="${n(FINGER_SYNC_STIFFNESS * 0.01)}" springlength="0"><joint joint="${l}" coef="1"/><joint ` +
        `joint="${r}" coef="-1"/></fixed>`,
    );
  }
  out.push('  </tendon>');
  out.push('  <actuator>');
  for (const arm of scene.arms) {
    for (const l of arm.links) {
      out.push(
        `    <position name="${arm.prefix}${l.joint}" joint="${arm.prefix}${l.joint}" kp="${n(l.kp)}" ` +
          `kv="${n(l.kv)}" ctrlrange="${v(l.range_rad)}" forcerange="${v([-l.max_torque_nm, l.max_torque_nm])}"/>`,
      );
    }
    const g = arm.gripper;
    out.push(
      `    <position name="${arm.prefix}gripper" tendon="${arm.prefix}gripper" kp="${n(g.kp)}" ` +
        `kv="${n(g.kp * 0.02)}" ctrlrange="0 ${n(g.finger_travel_m)}" ` +
        `forcerange="${v([-g.max_force_n, g.max_force_n])}"/>`,
    );
  }
  out.push('  </actuator>');
  if (scene.contact_sensors.length > 0) {
    out.push('  <sensor>');
    for (const [a, b] of scene.contact_sensors)
      out.push(`    <contact name="${contactSensorName(a, b)}" geom1="${a}" geom2="${b}" data="found"/>`);
    out.push('  </sensor>');
  }
  out.push('</mujoco>');
  return `${out.join('\n')}\n`;
}

function capsuleXml(g: CapsuleGeom, contype: number, conaffinity: number): string {
  return (
    `<geom type="capsule" fromto="${v([...g.from, ...g.to])}" size="${n(g.radius_m)}" mass="${n(g.mass_kg)}" ` +
    `rgba="${v(g.rgba)}" contype="${contype}" conaffinity="${conaffinity}"/>`
  );
}

function armXml(arm: ArmSpec, cameras: CameraSpec[], out: string[], indent: string): void {
  const p = arm.prefix;
  out.push(`${indent}<body name="${p}base" pos="${v(arm.base_pos)}" quat="${v(arm.base_quat)}">`);
  // the base and the first link stand on the table: they never collide with it
  for (const g of arm.base_geoms) out.push(`${indent}  ${capsuleXml(g, 0, 0)}`);
  let ind = `${indent}  `;
  for (const [i, l] of arm.links.entries()) {
    // gravcomp: the real controllers compensate gravity, so a held pose does not sag
    out.push(`${ind}<body name="${p}${l.body}" pos="${v(l.pos)}" quat="${v(l.quat)}" gravcomp="1">`);
    out.push(
      `${ind}  <joint name="${p}${l.joint}" axis="${v(l.axis)}" range="${v(l.range_rad)}" ` +
        `damping="${n(JOINT_FRICTION_DAMPING)}" armature="${n(l.armature)}"/>`,
    );
    for (const g of l.geoms) out.push(`${ind}  ${capsuleXml(g, i === 0 ? 0 : 2, 0)}`);
    ind += '  ';
  }
  const g = arm.gripper;
  const palmLen = 2 * g.palm_half_m[2];
  out.push(`${ind}<body name="${p}gripper" pos="${v(arm.flange_pos)}" quat="${v(arm.flange_quat)}" gravcomp="1">`);
  out.push(
    `${ind}  <geom name="${p}palm" type="box" pos="0 0 ${n(g.palm_half_m[2])}" size="${v(g.palm_half_m)}" mass="0.5" ` +
      `rgba="${v(g.rgba)}" contype="1" conaffinity="1"/>`,
  );
  out.push(`${ind}  <site name="${p}tcp" pos="0 0 ${n(arm.tcp_offset_m)}" size="0.005"/>`);
  for (const cam of cameras.filter((c) => c.body === `${p}gripper`)) out.push(`${ind}  ${cameraXml(cam)}`);
  for (const [side, sign] of [
    ['left', 1],
    ['right', -1],
  ] as const) {
    out.push(`${ind}  <body name="${p}finger_${side}" pos="0 0 ${n(palmLen)}" gravcomp="1">`);
    out.push(
      `${ind}    <joint name="${p}finger_${side}_joint" type="slide" axis="0 ${sign} 0" ` +
        `range="${v([-FINGER_LIMIT_MARGIN_M, g.finger_travel_m + FINGER_LIMIT_MARGIN_M])}" damping="2" ` +
        `armature="0.01"/>`,
    );
    // pads sit on stems below the palm; the palm never touches what the pads hold
    const [px, py, pz] = g.pad_half_m;
    const z0 = g.finger_stem_m;
    out.push(
      `${ind}    <geom name="${p}stem_${side}" type="box" pos="${v([0, sign * py, z0 / 2])}" ` +
        `size="${v([px, py * 0.6, z0 / 2])}" mass="0.02" rgba="${v(g.rgba)}" contype="0" conaffinity="0"/>`,
    );
    out.push(
      `${ind}    <geom name="${p}pad_${side}" type="box" pos="${v([0, sign * py, z0 + pz])}" ` +
        `size="${v(g.pad_half_m)}" mass="0.05" rgba="${v(g.rgba)}" friction="${n(g.friction)} 0.02 0.0001" ` +
        `${GRASP_CONTACT} contype="1" conaffinity="1"/>`,
    );
    out.push(`${ind}  </body>`);
  }
  out.push(`${ind}</body>`);
  for (let i = arm.links.length; i >= 0; i--) {
    out.push(`${indent}${'  '.repeat(i)}</body>`);
  }
}

function objectXml(obj: SceneObject): string[] {
  if (obj.kind === 'box') {
    return [
      `<body name="${obj.name}" pos="${v(obj.pos)}">`,
      `  <freejoint name="${obj.name}_joint"/>`,
      `  <geom name="${obj.name}" type="box" size="${v(obj.half_m)}" mass="${n(obj.mass_kg)}" rgba="${v(obj.rgba)}" ` +
        `friction="${n(obj.friction)} 0.02 0.0001" ${GRASP_CONTACT} contype="1" conaffinity="1"/>`,
      `</body>`,
    ];
  }
  // a flat disc on the table top, moved between episodes as a mocap body; it never collides
  return [
    `<body name="${obj.name}" mocap="true" pos="${v(obj.pos)}">`,
    `  <geom name="${obj.name}" type="cylinder" size="${n(obj.radius_m)} 0.0005" rgba="${v(obj.rgba)}" contype="0" ` +
      `conaffinity="0"/>`,
    `</body>`,
  ];
}

function cameraXml(cam: CameraSpec): string {
  const f = norm(sub(cam.lookat, cam.pos));
  const right = norm(cross(f, cam.up));
  const up = cross(right, f);
  return `<camera name="${cam.name}" pos="${v(cam.pos)}" xyaxes="${v([...right, ...up])}" fovy="${n(cam.fovy_deg)}"/>`;
}

const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const cross = (a: Vec3, b: Vec3): Vec3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
const norm = (a: Vec3): Vec3 => {
  const l = Math.hypot(a[0], a[1], a[2]);
  return [a[0] / l, a[1] / l, a[2] / l];
};
