// What replaying an episode needs beyond robot, task and seed, kept in the `vla.episode` metadata: which driver
// ran it, and for the embedded sim the physics rate, a hash of the generated MuJoCo model, the MuJoCo version
// and the sim's state right after the reset (robosuite's lesson: actions alone do not replay once the sim or
// its start changes); the robot profile's hash (its limits shape what safety let through) and the scripted
// expert's noise. Every key is optional, so files written before they existed still read; replay says which
// one is missing when it needs it.
import { createHash } from 'node:crypto';
import type { RobotDescription } from '../robot/index.js';

/** Which driver ran the episode: the embedded sim, a UR over rosbridge, ALOHA over serial. */
export const EPISODE_DRIVERS = ['sim', 'ur', 'aloha'] as const;
export type EpisodeDriver = (typeof EPISODE_DRIVERS)[number];

/** The MuJoCo state an episode started from (after the reset from its seed, before the first tick). */
export interface SimStartState {
  qpos: number[];
  qvel: number[];
  act: number[];
  ctrl: number[];
  mocap_pos: number[];
  mocap_quat: number[];
}
export const SIM_START_FIELDS = ['qpos', 'qvel', 'act', 'ctrl', 'mocap_pos', 'mocap_quat'] as const;

export interface ReplayMeta {
  driver?: EpisodeDriver;
  /** Embedded sim: physics steps per second (a whole multiple of control_hz). */
  physics_hz?: number;
  /** Embedded sim: sha256 of the generated MJCF (bodies, joints, actuators, timestep). */
  sim_model_sha256?: string;
  mujoco_version?: string;
  sim_start?: SimStartState;
  /** sha256 of what the robot profile says (profileSha256): limits, steps, home, layout, rate. */
  profile_sha256?: string;
  /** The scripted expert's --noise (expert episodes only). */
  expert_noise?: number;
}

export const REPLAY_META_KEYS = [
  'driver',
  'physics_hz',
  'sim_model_sha256',
  'mujoco_version',
  'sim_start',
  'profile_sha256',
  'expert_noise',
] as const satisfies readonly (keyof ReplayMeta)[];

/** The same hash for the same limits, steps, home, layout and rate, wherever the profile file lives. */
export function profileSha256(d: RobotDescription): string {
  const relevant = {
    robot: d.robot,
    control_hz: d.control_hz,
    joint_names: d.joint_names,
    gripper_names: d.gripper_names,
    action_names: d.action_names,
    position_limits_rad: d.position_limits_rad,
    velocity_limits_rad_s: d.velocity_limits_rad_s,
    max_step_rad: d.max_step_rad ?? null,
    home_rad: d.home_rad,
    home_gripper: d.home_gripper,
  };
  return sha256(JSON.stringify(relevant));
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Validates and copies the replay fields of a meta for the writer; `fail` throws with the problem. */
export function copyReplayMeta(meta: ReplayMeta, fail: (what: string) => never): ReplayMeta {
  const out: ReplayMeta = {};
  if (meta.driver !== undefined) {
    if (!EPISODE_DRIVERS.includes(meta.driver)) fail(`driver must be one of ${EPISODE_DRIVERS.join(', ')}`);
    out.driver = meta.driver;
  }
  if (meta.physics_hz !== undefined) {
    if (!(Number.isFinite(meta.physics_hz) && meta.physics_hz > 0)) fail('physics_hz must be a positive number');
    out.physics_hz = meta.physics_hz;
  }
  for (const key of ['sim_model_sha256', 'profile_sha256'] as const) {
    const v = meta[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !HEX64.test(v)) fail(`${key} must be 64 lowercase hex digits`);
    out[key] = v;
  }
  if (meta.mujoco_version !== undefined) {
    if (typeof meta.mujoco_version !== 'string') fail('mujoco_version must be a string');
    out.mujoco_version = meta.mujoco_version;
  }
  if (meta.sim_start !== undefined) {
    const problem = simStartProblem(meta.sim_start);
    if (problem) fail(`sim_start: ${problem}`);
    const s = meta.sim_start;
    out.sim_start = {
      qpos: [...s.qpos],
      qvel: [...s.qvel],
      act: [...s.act],
      ctrl: [...s.ctrl],
      mocap_pos: [...s.mocap_pos],
      mocap_quat: [...s.mocap_quat],
    };
  }
  if (meta.expert_noise !== undefined) {
    if (!(Number.isFinite(meta.expert_noise) && meta.expert_noise >= 0)) fail('expert_noise must be a number >= 0');
    out.expert_noise = meta.expert_noise;
  }
  return out;
}

/** Writes the replay keys that are set into the metadata map. */
export function encodeReplayMeta(meta: ReplayMeta, m: Map<string, string>): void {
  if (meta.driver !== undefined) m.set('driver', meta.driver);
  if (meta.physics_hz !== undefined) m.set('physics_hz', String(meta.physics_hz));
  if (meta.sim_model_sha256 !== undefined) m.set('sim_model_sha256', meta.sim_model_sha256);
  if (meta.mujoco_version !== undefined) m.set('mujoco_version', meta.mujoco_version);
  if (meta.sim_start !== undefined) m.set('sim_start', simStartJson(meta.sim_start));
  if (meta.profile_sha256 !== undefined) m.set('profile_sha256', meta.profile_sha256);
  if (meta.expert_noise !== undefined) m.set('expert_noise', String(meta.expert_noise));
}

/** The replay keys found in a metadata map; throws Error naming the key that is malformed. */
export function decodeReplayMeta(m: ReadonlyMap<string, string>): ReplayMeta {
  const out: ReplayMeta = {};
  const bad = (key: string, what: string): never => {
    throw new Error(`"${key}" is ${JSON.stringify(m.get(key))}, expected ${what}`);
  };
  const driver = m.get('driver');
  if (driver !== undefined) {
    if (!(EPISODE_DRIVERS as readonly string[]).includes(driver)) bad('driver', EPISODE_DRIVERS.join(' or '));
    out.driver = driver as EpisodeDriver;
  }
  const num = (key: string, ok: (n: number) => boolean, what: string): number | undefined => {
    const s = m.get(key);
    if (s === undefined) return undefined;
    const n = s.trim() === '' ? NaN : Number(s);
    return ok(n) ? n : bad(key, what);
  };
  const physics = num('physics_hz', (n) => Number.isFinite(n) && n > 0, 'a positive number');
  if (physics !== undefined) out.physics_hz = physics;
  for (const key of ['sim_model_sha256', 'profile_sha256'] as const) {
    const v = m.get(key);
    if (v === undefined) continue;
    if (!HEX64.test(v)) bad(key, '64 hex digits');
    out[key] = v;
  }
  const version = m.get('mujoco_version');
  if (version !== undefined) out.mujoco_version = version;
  const start = m.get('sim_start');
  if (start !== undefined) out.sim_start = parseSimStart(start);
  const noise = num('expert_noise', (n) => Number.isFinite(n) && n >= 0, 'a number >= 0');
  if (noise !== undefined) out.expert_noise = noise;
  return out;
}

function parseSimStart(text: string): SimStartState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('"sim_start" is not valid JSON');
  }
  const problem = simStartProblem(v);
  if (problem) throw new Error(`"sim_start": ${problem}`);
  return v as SimStartState;
}

function simStartProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'not an object';
  const o = v as Record<string, unknown>;
  for (const f of SIM_START_FIELDS) {
    const a = o[f];
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'number' && Number.isFinite(x)))
      return `${f} is not an array of finite numbers`;
  }
  return undefined;
}

/** JSON with -0 kept (JSON.stringify writes 0), so the start is restored bit for bit. */
function simStartJson(s: SimStartState): string {
  const arr = (a: number[]) => `[${a.map((x) => (Object.is(x, -0) ? '-0' : String(x))).join(',')}]`;
  return `{${SIM_START_FIELDS.map((f) => `"${f}":${arr(s[f])}`).join(',')}}`;
}
