// What our exports add to a LeRobot dataset so an episode reads back exactly as it was recorded, in places LeRobot
// tolerates:
//  - data columns `vla.*` (declared as features in info.json, as LeRobot's loader requires of every column): the
//    float64 joint positions, velocities, grippers and actions (observation.state and action are float32, which
//    rounds), the tick, its log time and when it executed. Their names start with neither "observation" nor
//    "action", so LeRobot's dataset_to_policy_features never hands them to a policy.
//  - one episodes-table column `vla/episode`: a JSON object with the whole EpisodeMeta (any key it has, also keys
//    added after this was written), how the episode ended, which feature holds which camera, and the rows where a
//    camera had no fresh frame (a real-time recording; the video repeats the previous frame there). LeRobot keeps
//    unknown episode columns (load_episodes drops only stats/*) and copies them when it aggregates datasets.
// Nothing goes into info.json beyond LeRobot's own keys: its DatasetInfo drops unknown keys with a warning.
import type { EpisodeMeta } from '../../recording/episode-writer.js';
import { EPISODE_OUTCOMES, type EpisodeOutcomeName, isFigures } from '../../recording/schemas.js';

export const VLA_COLUMNS = {
  position_rad: 'vla.position_rad',
  velocity_rad_s: 'vla.velocity_rad_s',
  gripper: 'vla.gripper',
  action: 'vla.action',
  tick: 'vla.tick',
  stamp_ns: 'vla.stamp_ns',
  t_mono_ms: 'vla.t_mono_ms',
} as const;
export const VLA_EPISODE_COLUMN = 'vla/episode';
/** Bumped when the record below changes incompatibly. */
export const VLA_RECORD_VERSION = 1;

export interface VlaEpisodeRecord {
  version: number;
  meta: EpisodeMeta;
  format_version: number;
  success: boolean;
  outcome: EpisodeOutcomeName;
  fault?: string;
  /** In the sim: the task's figures when the episode ended (the recording's `task_outcome`). */
  task_outcome?: Record<string, number | boolean>;
  /** The recording it was exported from. */
  source?: string;
  /** Camera name -> its video feature key. */
  camera_features: Record<string, string>;
  /** Camera name -> [start, end) row ranges whose frame is a repeat (no frame was recorded at that tick). */
  stale_frames?: Record<string, [number, number][]>;
}

/** Row ranges where `fresh` is false, as [start, end) pairs. */
export function staleRanges(fresh: ArrayLike<boolean>): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < fresh.length; i++) {
    if (fresh[i]) continue;
    const last = out[out.length - 1];
    if (last && last[1] === i) last[1] = i + 1;
    else out.push([i, i + 1]);
  }
  return out;
}

export function encodeVlaRecord(rec: VlaEpisodeRecord): string {
  // NaN (a seed a foreign dataset never had) becomes null in JSON; decode turns it back
  return JSON.stringify(rec);
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Parses and checks a `vla/episode` cell; throws an Error saying which field is wrong. */
export function decodeVlaRecord(text: unknown): VlaEpisodeRecord {
  if (typeof text !== 'string') throw new Error(`${VLA_EPISODE_COLUMN} is not a string`);
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(text);
  } catch {
    throw new Error(`${VLA_EPISODE_COLUMN} is not valid JSON`);
  }
  const fail = (what: string): never => {
    throw new Error(`${VLA_EPISODE_COLUMN}: ${what}`);
  };
  if (typeof rec !== 'object' || rec === null) return fail('not an object');
  if (rec.version !== VLA_RECORD_VERSION) {
    fail(`version ${JSON.stringify(rec.version)}; this reader knows ${VLA_RECORD_VERSION} (a newer vla-runtime?)`);
  }
  const meta = rec.meta as Record<string, unknown>;
  if (typeof meta !== 'object' || meta === null) return fail('no meta');
  if (typeof meta.robot !== 'string' || typeof meta.task !== 'string') fail('meta.robot and meta.task must be strings');
  if (typeof meta.control_hz !== 'number') fail('meta.control_hz must be a number');
  for (const k of ['joint_names', 'gripper_names', 'action_names']) if (!isStrings(meta[k])) fail(`meta.${k}`);
  if (!Array.isArray(meta.cameras)) fail('meta.cameras must be a list');
  if (meta.seed === null) meta.seed = NaN;
  if (typeof meta.seed !== 'number') fail('meta.seed must be a number');
  if (!(EPISODE_OUTCOMES as readonly unknown[]).includes(rec.outcome)) fail(`outcome ${JSON.stringify(rec.outcome)}`);
  if (typeof rec.success !== 'boolean' || typeof rec.format_version !== 'number') fail('success or format_version');
  if (rec.task_outcome !== undefined && !isFigures(rec.task_outcome)) fail('task_outcome');
  const features = rec.camera_features as Record<string, unknown>;
  if (typeof features !== 'object' || features === null || !Object.values(features).every((v) => typeof v === 'string'))
    fail('camera_features');
  return rec as unknown as VlaEpisodeRecord;
}
