// The embedded sim's state at the start of an episode: taken when an episode is recorded (right after the reset
// from its seed), and put back when it is replayed, so the replay starts where the recording did even if
// reset(seed) would now place things elsewhere. A recording from a robot has no sim state: its replay starts from
// the task's scene for the seed with the arms where the recording's first joint state says they were.
import { loadMujoco, type MjData, type MjModel, nameToId } from '../../../sim/mujoco.js';
import type { SimEnv } from '../../../sim/sim-env.js';
import { SIM_START_FIELDS, type SimStartState, sha256 } from '../../recording/index.js';

type StateField = (typeof SIM_START_FIELDS)[number];

const view = (data: MjData, f: StateField): Float64Array => data[f] as Float64Array;

/** The state of `env` now: call right after reset(seed), before the first step. */
export function captureSimStart(env: SimEnv): SimStartState {
  const d = env.data;
  return {
    qpos: Array.from(view(d, 'qpos')),
    qvel: Array.from(view(d, 'qvel')),
    act: Array.from(view(d, 'act')),
    ctrl: Array.from(view(d, 'ctrl')),
    mocap_pos: Array.from(view(d, 'mocap_pos')),
    mocap_quat: Array.from(view(d, 'mocap_quat')),
  };
}

/** What identifies the sim an episode ran in: the generated model (timestep included) and the MuJoCo build. */
export async function simModelInfo(env: SimEnv): Promise<{ sim_model_sha256: string; mujoco_version: string }> {
  const mj = await loadMujoco();
  return { sim_model_sha256: sha256(env.xml), mujoco_version: mj.mj_versionString() };
}

/** Why `start` does not fit this model (array sizes), or undefined. */
export function simStartMismatch(env: SimEnv, start: SimStartState): string | undefined {
  for (const f of SIM_START_FIELDS) {
    const n = view(env.data, f).length;
    if (start[f].length !== n) return `the recorded sim state has ${start[f].length} ${f} values, this model ${n}`;
  }
  return undefined;
}

/** Largest difference between two start states of the same model, and where it is. */
export function simStartDiff(a: SimStartState, b: SimStartState): { max_abs: number; where: string } {
  let max_abs = 0;
  let where = '';
  for (const f of SIM_START_FIELDS) {
    for (let i = 0; i < a[f].length; i++) {
      const d = Math.abs(a[f][i] - b[f][i]);
      if (d > max_abs) {
        max_abs = d;
        where = `${f}[${i}]`;
      }
    }
  }
  return { max_abs, where };
}

export type Mujoco = Awaited<ReturnType<typeof loadMujoco>>;

/** The MuJoCo module, for the functions below that must not wait (they run inside a sim's reset). */
export const loadMujocoModule = loadMujoco;

/** Puts a recorded start state into `env` (sizes checked by simStartMismatch first) and recomputes what follows. */
export function applySimStart(mj: Mujoco, env: SimEnv, start: SimStartState): void {
  for (const f of SIM_START_FIELDS) view(env.data, f).set(start[f]);
  mj.mj_forward(env.model, env.data);
}

/** A robot's measured start: joints (rad) and velocities in the robot's joint order, grippers 0 closed .. 1 open. */
export interface ArmStart {
  position_rad: ArrayLike<number>;
  velocity_rad_s: ArrayLike<number>;
  gripper: ArrayLike<number>;
}

/**
 * Puts the arms where a robot recording started (joint positions and velocities, both fingers at the recorded
 * opening, servo targets on that pose); objects stay where the task's reset placed them.
 */
export function applyArmStart(mj: Mujoco, env: SimEnv, arm: ArmStart): void {
  const { model, data } = env;
  const qpos = view(data, 'qpos');
  const qvel = view(data, 'qvel');
  const ctrl = view(data, 'ctrl');
  let j = 0;
  env.robot.arms.forEach((a, g) => {
    for (const link of a.links) {
      const joint = jointId(mj, model, a.prefix + link.joint);
      qpos[(model.jnt_qposadr as Int32Array)[joint]] = arm.position_rad[j];
      qvel[(model.jnt_dofadr as Int32Array)[joint]] = arm.velocity_rad_s[j];
      ctrl[nameToId(mj, model, 'actuator', a.prefix + link.joint)] = arm.position_rad[j];
      j++;
    }
    const opening_m = arm.gripper[g] * a.gripper.finger_travel_m;
    for (const side of ['left', 'right']) {
      qpos[(model.jnt_qposadr as Int32Array)[jointId(mj, model, `${a.prefix}finger_${side}_joint`)]] = opening_m;
    }
    ctrl[nameToId(mj, model, 'actuator', `${a.prefix}gripper`)] = opening_m;
  });
  mj.mj_forward(model, data);
}

function jointId(mj: Mujoco, model: MjModel, name: string): number {
  return nameToId(mj, model, 'joint', name);
}
