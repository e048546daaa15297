// The LeRobotDataset layout on disk: meta/info.json and the path templates it holds. Facts from LeRobot's source
// (src/lerobot/datasets/utils.py, dataset_metadata.py, io_utils.py; v2.1 paths from the v2.1 metadata class):
//  v3.0: data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet, several episodes per file, located through
//        meta/episodes/chunk-XXX/file-XXX.parquet; videos/{video_key}/chunk-XXX/file-XXX.mp4, one file holds
//        several episodes one after the other, each at [from_timestamp, to_timestamp) of the file.
//  v2.x: data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet and
//        videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4 (one file per episode,
//        episode_chunk = episode_index // chunks_size); meta/episodes.jsonl, meta/tasks.jsonl.
// Paths are read from info.json's templates, not assumed, so a dataset with other templates still reads.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { EpisodeFileError } from '../../recording/errors.js';

export const CODEBASE_VERSION = 'v3.0';
export const INFO_PATH = 'meta/info.json';
export const STATS_PATH = 'meta/stats.json';
export const TASKS_PATH = 'meta/tasks.parquet';
export const EPISODES_DIR = 'meta/episodes';
const CHUNK_FILE = 'chunk-{chunk_index:03d}/file-{file_index:03d}';
export const EPISODES_PATH = `${EPISODES_DIR}/${CHUNK_FILE}.parquet`;
export const DATA_PATH = `data/${CHUNK_FILE}.parquet`;
export const VIDEO_PATH = `videos/{video_key}/${CHUNK_FILE}.mp4`;
export const LEGACY_EPISODES_PATH = 'meta/episodes.jsonl';
export const LEGACY_TASKS_PATH = 'meta/tasks.jsonl';
/** LeRobot's defaults: files per chunk folder, and the sizes at which it starts a new data or video file. */
export const DEFAULT_CHUNKS_SIZE = 1000;
export const DEFAULT_DATA_FILES_SIZE_MB = 100;
export const DEFAULT_VIDEO_FILES_SIZE_MB = 200;

/** The per-frame columns every LeRobot dataset has (DEFAULT_FEATURES): timestamp float32, the rest int64. */
export const DEFAULT_FEATURES: Readonly<Record<string, FeatureSpec>> = {
  timestamp: { dtype: 'float32', shape: [1], names: null },
  frame_index: { dtype: 'int64', shape: [1], names: null },
  episode_index: { dtype: 'int64', shape: [1], names: null },
  index: { dtype: 'int64', shape: [1], names: null },
  task_index: { dtype: 'int64', shape: [1], names: null },
};

const Feature = z
  .object({
    dtype: z.string().min(1),
    shape: z.array(z.number().int().nonnegative()),
    // a list of names, a dict of one list ({"motors": [...]}, {"axes": [...]}) or null
    names: z.union([z.array(z.string()), z.record(z.string(), z.array(z.string())), z.null()]).optional(),
    info: z.record(z.string(), z.unknown()).nullish(),
  })
  .loose();
export type FeatureSpec = z.infer<typeof Feature>;

const Info = z
  .object({
    codebase_version: z.string().regex(/^v\d+\.\d+$/, 'expected "v<major>.<minor>"'),
    fps: z.number().positive(),
    robot_type: z.string().nullish(),
    features: z.record(z.string(), Feature),
    total_episodes: z.number().int().nonnegative(),
    total_frames: z.number().int().nonnegative(),
    total_tasks: z.number().int().nonnegative().optional(),
    chunks_size: z.number().int().positive().default(DEFAULT_CHUNKS_SIZE),
    data_path: z.string().min(1),
    video_path: z.string().nullish(),
  })
  .loose();
export type LeRobotInfo = z.infer<typeof Info>;

/** The layouts this reader knows. */
export type LayoutVersion = 'v3.0' | 'v2.1' | 'v2.0';

export function layoutOf(info: LeRobotInfo, path: string): LayoutVersion {
  const v = info.codebase_version;
  if (v === 'v3.0' || v === 'v2.1' || v === 'v2.0') return v;
  throw new EpisodeFileError(path, `codebase_version "${v}": this reader knows v2.0, v2.1 and v3.0`);
}

/** Reads and checks meta/info.json; a missing or malformed file is an EpisodeFileError naming it and the field. */
export async function readInfo(root: string): Promise<LeRobotInfo> {
  const path = join(root, INFO_PATH);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new EpisodeFileError(path, `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new EpisodeFileError(path, `not valid JSON (${(err as Error).message})`);
  }
  const parsed = Info.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new EpisodeFileError(path, `not a LeRobot info.json: ${issues}`);
  }
  return parsed.data;
}

/**
 * Python's str.format for the fields LeRobot's templates use: `{name}` and `{name:0Nd}`. A field the template
 * names but `values` lacks is an error (a template we do not understand), never a silent "undefined".
 */
export function formatPath(template: string, values: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{([A-Za-z_]+)(?::0(\d+)d)?\}/g, (_, name: string, width?: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`path template "${template}": no value for {${name}}`);
    return width === undefined ? String(v) : String(v).padStart(Number(width), '0');
  });
}

/** The names of a vector feature's dimensions: a list, or the one list of a dict ({"motors": [...]}). */
export function featureNames(spec: FeatureSpec): string[] | undefined {
  const names = spec.names;
  if (Array.isArray(names)) return names;
  if (names && typeof names === 'object') {
    const lists = Object.values(names);
    if (lists.length === 1) return lists[0];
  }
  return undefined;
}

/** Number of values of a vector feature (shape [n]); 1 for a scalar (shape [1] or []). */
export function featureWidth(spec: FeatureSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1);
}

export const isVideo = (spec: FeatureSpec): boolean => spec.dtype === 'video';
