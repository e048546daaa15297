// Opening a LeRobot dataset folder: info.json, the tasks and the episode index, so that each episode can later be
// read on its own (its rows in a data file, its stretch of each video file). Nothing per frame is read here.
// v3.0 episode index: meta/episodes/chunk-XXX/file-XXX.parquet with episode_index, tasks, length, data/chunk_index,
// data/file_index, dataset_from_index, dataset_to_index and per video key videos/<key>/chunk_index, file_index,
// from_timestamp, to_timestamp (LeRobotDatasetMetadata, aggregate.py); some official datasets (libero) have no
// `tasks` column, their frames' task_index says it. Tasks: meta/tasks.parquet with the task string as the pandas
// index (named "task", or "__index_level_0__" from older writers) and a task_index column.
// v2.x: meta/episodes.jsonl ({episode_index, tasks, length}) and meta/tasks.jsonl ({task_index, task}).
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { EpisodeFileError } from '../../recording/errors.js';
import {
  EPISODES_DIR,
  formatPath,
  INFO_PATH,
  isVideo,
  type LayoutVersion,
  LEGACY_EPISODES_PATH,
  LEGACY_TASKS_PATH,
  type LeRobotInfo,
  layoutOf,
  readInfo,
  TASKS_PATH,
} from './layout.js';
import { ParquetTable } from './parquet.js';
import { decodeVlaRecord, VLA_EPISODE_COLUMN, type VlaEpisodeRecord } from './vla-fields.js';

export interface EpisodeVideoRef {
  path: string;
  /** Where the episode starts in the file (s): 0 in v2.x, where one file is one episode. */
  from_s: number;
}

export interface EpisodeRef {
  index: number;
  length: number;
  tasks: string[];
  /** The parquet file holding the episode's rows (with other episodes' rows in v3.0). */
  data_path: string;
  videos: Record<string, EpisodeVideoRef>;
  /** What our own export stored about the episode (absent in other datasets). */
  vla?: VlaEpisodeRecord;
}

export interface LeRobotDataset {
  root: string;
  /** The folder's name, for labels. */
  name: string;
  layout: LayoutVersion;
  info: LeRobotInfo;
  tasks: Map<number, string>;
  episodes: EpisodeRef[];
  /** Video feature keys, in info.json's order. */
  video_keys: string[];
}

/** Whether `dir` looks like a LeRobot dataset (it has meta/info.json). */
export async function isDatasetFolder(dir: string): Promise<boolean> {
  return (await stat(join(dir, INFO_PATH)).catch(() => undefined))?.isFile() === true;
}

export async function openDataset(dir: string): Promise<LeRobotDataset> {
  const root = resolve(dir);
  const info = await readInfo(root);
  const layout = layoutOf(info, join(root, INFO_PATH));
  const video_keys = Object.entries(info.features)
    .filter(([, f]) => isVideo(f))
    .map(([k]) => k);
  if (video_keys.length > 0 && !info.video_path) {
    throw new EpisodeFileError(join(root, INFO_PATH), `video features (${video_keys.join(', ')}) but no video_path`);
  }
  const base = { root, name: basename(root), layout, info, video_keys };
  if (layout === 'v3.0') {
    const tasks = await readTasksTable(join(root, TASKS_PATH));
    return { ...base, tasks, episodes: await readEpisodesTables(root, info, video_keys) };
  }
  const tasks = await readTasksJsonl(join(root, LEGACY_TASKS_PATH));
  return { ...base, tasks, episodes: await readEpisodesJsonl(root, info, video_keys) };
}

async function readTasksTable(path: string): Promise<Map<number, string>> {
  const table = await ParquetTable.open(path);
  const pandas = table.keyValue('pandas');
  let index: string | undefined;
  try {
    index = pandas ? (JSON.parse(pandas).index_columns?.[0] as string | undefined) : undefined;
  } catch {
    // a damaged pandas note: fall back to the column names below
  }
  const columns = table.columns;
  const taskColumn = [index, 'task', '__index_level_0__'].find((c) => c !== undefined && columns.includes(c));
  if (!taskColumn || !columns.includes('task_index')) {
    throw new EpisodeFileError(path, `expected columns task_index and task (found ${columns.join(', ')})`);
  }
  const cols = await table.read([taskColumn, 'task_index']);
  const out = new Map<number, string>();
  for (const [i, task] of cols[taskColumn].entries()) out.set(Number(cols.task_index[i]), String(task));
  return out;
}

async function readTasksJsonl(path: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const [line, row] of await readJsonl(path)) {
    if (typeof row.task !== 'string' || !Number.isInteger(row.task_index))
      throw new EpisodeFileError(path, `line ${line}: expected {"task_index": int, "task": string}`);
    out.set(row.task_index as number, row.task);
  }
  return out;
}

async function readJsonl(path: string): Promise<[number, Record<string, unknown>][]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new EpisodeFileError(path, `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const out: [number, Record<string, unknown>][] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push([i + 1, JSON.parse(line)]);
    } catch {
      throw new EpisodeFileError(path, `line ${i + 1} is not valid JSON (truncated?)`);
    }
  });
  return out;
}

async function readEpisodesJsonl(root: string, info: LeRobotInfo, videoKeys: string[]): Promise<EpisodeRef[]> {
  const path = join(root, LEGACY_EPISODES_PATH);
  const out: EpisodeRef[] = [];
  for (const [line, row] of await readJsonl(path)) {
    const index = row.episode_index;
    const length = row.length;
    if (!Number.isInteger(index) || !Number.isInteger(length) || (length as number) < 0) {
      throw new EpisodeFileError(path, `line ${line}: expected integer episode_index and length`);
    }
    const at = { episode_index: index as number, episode_chunk: Math.floor((index as number) / info.chunks_size) };
    const videos: Record<string, EpisodeVideoRef> = {};
    for (const key of videoKeys) {
      videos[key] = { path: join(root, formatPath(info.video_path!, { ...at, video_key: key })), from_s: 0 };
    }
    const tasks = Array.isArray(row.tasks) ? row.tasks.map(String) : [];
    out.push({
      index: index as number,
      length: length as number,
      tasks,
      data_path: join(root, formatPath(info.data_path, at)),
      videos,
    });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** The episode index files, in the order LeRobot concatenates them (sorted chunk, then file names). */
async function episodeFiles(root: string): Promise<string[]> {
  const dir = join(root, EPISODES_DIR);
  const chunks = await readdir(dir).catch(() => {
    throw new EpisodeFileError(dir, 'missing: a v3.0 dataset keeps its episode index there');
  });
  const out: string[] = [];
  for (const chunk of chunks.sort()) {
    const files = await readdir(join(dir, chunk)).catch(() => [] as string[]);
    out.push(
      ...files
        .filter((f) => f.endsWith('.parquet'))
        .sort()
        .map((f) => join(dir, chunk, f)),
    );
  }
  if (out.length === 0) throw new EpisodeFileError(dir, 'no episode index (chunk-XXX/file-XXX.parquet) in it');
  return out;
}

async function readEpisodesTables(root: string, info: LeRobotInfo, videoKeys: string[]): Promise<EpisodeRef[]> {
  const out: EpisodeRef[] = [];
  for (const path of await episodeFiles(root)) {
    const table = await ParquetTable.open(path);
    const have = new Set(table.columns);
    const wanted = ['episode_index', 'data/chunk_index', 'data/file_index', 'dataset_from_index', 'dataset_to_index'];
    for (const key of videoKeys) wanted.push(`videos/${key}/chunk_index`, `videos/${key}/file_index`);
    for (const key of videoKeys) wanted.push(`videos/${key}/from_timestamp`);
    const optional = ['length', 'tasks', VLA_EPISODE_COLUMN].filter((c) => have.has(c));
    const cols = await table.read([...wanted, ...optional]);
    for (let i = 0; i < table.rows; i++) {
      const num = (c: string) => Number(cols[c][i]);
      const index = num('episode_index');
      const at = { chunk_index: num('data/chunk_index'), file_index: num('data/file_index') };
      const videos: Record<string, EpisodeVideoRef> = {};
      for (const key of videoKeys) {
        const file = { chunk_index: num(`videos/${key}/chunk_index`), file_index: num(`videos/${key}/file_index`) };
        const from_s = num(`videos/${key}/from_timestamp`);
        videos[key] = { path: join(root, formatPath(info.video_path!, { ...file, video_key: key })), from_s };
      }
      const length = have.has('length') ? num('length') : num('dataset_to_index') - num('dataset_from_index');
      const listed = have.has('tasks') ? cols.tasks[i] : undefined;
      let vla: VlaEpisodeRecord | undefined;
      if (have.has(VLA_EPISODE_COLUMN) && cols[VLA_EPISODE_COLUMN][i] != null) {
        try {
          vla = decodeVlaRecord(cols[VLA_EPISODE_COLUMN][i]);
        } catch (err) {
          throw new EpisodeFileError(path, `episode ${index}: ${(err as Error).message}`);
        }
      }
      out.push({
        index,
        length,
        tasks: Array.isArray(listed) ? listed.map(String) : [],
        data_path: join(root, formatPath(info.data_path, at)),
        videos,
        ...(vla ? { vla } : {}),
      });
    }
  }
  return out.sort((a, b) => a.index - b.index);
}
