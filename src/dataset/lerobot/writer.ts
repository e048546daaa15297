// Writes episodes into a LeRobotDataset v3.0 folder as they come, one at a time (an export of a thousand episodes
// never holds more than one episode's frames and one data file's rows): rows into data/chunk-C/file-F.parquet
// (one row group per episode, a new file past data_files_size_in_mb), frames into one mp4 per camera
// (videos/<key>/chunk-C/file-F.mp4, episodes one after the other, a new file past video_files_size_in_mb), and a
// row per episode for meta/episodes. finish() writes the metadata, info.json last: a folder whose export stopped
// half way has no info.json and is not taken for a dataset.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Episode } from '../../recording/episode-reader.js';
import {
  ACTION_FEATURE,
  cameraFeature,
  type DataColumn,
  dataColumns,
  type ExportSchema,
  infoFeatures,
  STATE_FEATURE,
} from './export-schema.js';
import {
  CODEBASE_VERSION,
  DATA_PATH,
  DEFAULT_CHUNKS_SIZE,
  DEFAULT_DATA_FILES_SIZE_MB,
  DEFAULT_VIDEO_FILES_SIZE_MB,
  EPISODES_PATH,
  formatPath,
  INFO_PATH,
  STATS_PATH,
  TASKS_PATH,
  VIDEO_PATH,
} from './layout.js';
import { type ColumnSpec, pandasIndexMetadata, writeParquet } from './parquet.js';
import {
  aggregateStats,
  type FeatureStats,
  ImageHistogram,
  STAT_KEYS,
  shapedStat,
  statsJson,
  vectorStats,
} from './stats.js';
import { DEFAULT_GOP, type VideoCodecName, VideoEncoder } from './video.js';
import { encodeVlaRecord, staleRanges, VLA_COLUMNS, VLA_EPISODE_COLUMN, VLA_RECORD_VERSION } from './vla-fields.js';

export interface WriterOptions {
  codec: VideoCodecName;
  gop?: number;
  chunksSize?: number;
  dataFileSizeMb?: number;
  /**
   * Start a new video file past this size (checked between episodes, on what ffmpeg has written so far: it lags
   * its input by a buffer, a few hundred kB at most, which a 200 MB limit does not notice).
   */
  videoFileSizeMb?: number;
  /** Also start a new video file after this many episodes: a bound that does not depend on ffmpeg's pace. */
  videoEpisodesPerFile?: number;
}

interface FileIndex {
  chunk: number;
  file: number;
}
const nextFile = (at: FileIndex, chunksSize: number): FileIndex =>
  at.file === chunksSize - 1 ? { chunk: at.chunk + 1, file: 0 } : { chunk: at.chunk, file: at.file + 1 };

interface CameraStream {
  at: FileIndex;
  encoder?: VideoEncoder;
  /** Frames already in the current file: where the next episode starts. */
  frames: number;
  episodes: number;
}

export class DatasetWriter {
  readonly files: string[] = [];
  #columns: DataColumn[];
  #rows = new Map<string, unknown[]>();
  #rowGroups: number[] = [];
  #data: FileIndex = { chunk: 0, file: 0 };
  #episodeRows: Record<string, unknown>[] = [];
  #episodeStats: Map<string, FeatureStats>[] = [];
  #tasks = new Map<string, number>();
  #cameras = new Map<string, CameraStream>();
  #frames = 0;
  #chunksSize: number;
  #dataBytes: number;
  #videoBytes: number;

  constructor(
    readonly out: string,
    readonly schema: ExportSchema,
    readonly opts: WriterOptions,
  ) {
    this.#columns = dataColumns(schema);
    for (const c of this.#columns) this.#rows.set(c.feature, []);
    for (const cam of schema.cameras)
      this.#cameras.set(cam.name, { at: { chunk: 0, file: 0 }, frames: 0, episodes: 0 });
    this.#chunksSize = opts.chunksSize ?? DEFAULT_CHUNKS_SIZE;
    this.#dataBytes = (opts.dataFileSizeMb ?? DEFAULT_DATA_FILES_SIZE_MB) * 2 ** 20;
    this.#videoBytes = (opts.videoFileSizeMb ?? DEFAULT_VIDEO_FILES_SIZE_MB) * 2 ** 20;
  }

  get episodes(): number {
    return this.#episodeRows.length;
  }

  get frames(): number {
    return this.#frames;
  }

  /** Adds one episode (with its frames); `source` is kept in its vla/episode record. */
  async add(ep: Episode, source: string): Promise<void> {
    const s = this.schema;
    const index = this.#episodeRows.length;
    const n = ep.ticks;
    const from = this.#frames;
    if (this.#pendingBytes() >= this.#dataBytes) await this.#flushData();
    const task = this.#tasks.get(ep.meta.task) ?? this.#tasks.size;
    this.#tasks.set(ep.meta.task, task);
    const values = this.#episodeValues(ep, index, task, from);
    const stats = new Map<string, FeatureStats>();
    for (const c of this.#columns) {
      const v = values.get(c.feature)!;
      const column = this.#rows.get(c.feature)!;
      for (let r = 0; r < n; r++) column.push(cell(c, v, r));
      stats.set(c.feature, vectorStats(Float64Array.from(v, Number), n, c.width));
    }
    this.#rowGroups.push(n);

    const row: Record<string, unknown> = {
      episode_index: BigInt(index),
      tasks: [ep.meta.task],
      length: BigInt(n),
      'data/chunk_index': BigInt(this.#data.chunk),
      'data/file_index': BigInt(this.#data.file),
      dataset_from_index: BigInt(from),
      dataset_to_index: BigInt(from + n),
    };
    const stale: Record<string, [number, number][]> = {};
    for (const cam of s.cameras) {
      const { histogram, staleRows, start } = await this.#writeFrames(ep, cam.name, n);
      const key = cameraFeature(cam.name);
      const at = this.#cameras.get(cam.name)!.at;
      row[`videos/${key}/chunk_index`] = BigInt(at.chunk);
      row[`videos/${key}/file_index`] = BigInt(at.file);
      row[`videos/${key}/from_timestamp`] = start / s.fps;
      row[`videos/${key}/to_timestamp`] = (start + n) / s.fps;
      stats.set(key, histogram.stats());
      if (staleRows.length > 0) stale[cam.name] = staleRows;
    }
    row[VLA_EPISODE_COLUMN] = encodeVlaRecord({
      version: VLA_RECORD_VERSION,
      meta: ep.meta,
      format_version: ep.format_version,
      success: ep.success,
      outcome: ep.outcome,
      ...(ep.fault !== undefined ? { fault: ep.fault } : {}),
      ...(ep.task_outcome !== undefined ? { task_outcome: ep.task_outcome } : {}),
      source,
      camera_features: Object.fromEntries(s.cameras.map((c) => [c.name, cameraFeature(c.name)])),
      ...(Object.keys(stale).length > 0 ? { stale_frames: stale } : {}),
    });
    this.#episodeRows.push(row);
    this.#episodeStats.push(stats);
    this.#frames += n;
  }

  /** Each data column's values for the episode's rows, flat, `width` per row. */
  #episodeValues(ep: Episode, index: number, task: number, from: number): Map<string, ArrayLike<unknown>> {
    const s = this.schema;
    const n = ep.ticks;
    const J = s.joint_names.length;
    const G = s.gripper_names.length;
    const state = new Float64Array(n * s.state_source.length);
    for (let r = 0; r < n; r++) {
      s.state_source.forEach((src, i) => {
        state[r * s.state_source.length + i] = src >= 0 ? ep.position_rad[r * J + src] : ep.gripper[r * G - 1 - src];
      });
    }
    const ints = (f: (r: number) => number | bigint) => Array.from({ length: n }, (_, r) => BigInt(f(r)));
    return new Map<string, ArrayLike<unknown>>([
      [STATE_FEATURE, state],
      [ACTION_FEATURE, ep.action],
      [VLA_COLUMNS.position_rad, ep.position_rad],
      [VLA_COLUMNS.velocity_rad_s, ep.velocity_rad_s],
      [VLA_COLUMNS.gripper, ep.gripper],
      [VLA_COLUMNS.action, ep.action],
      [VLA_COLUMNS.tick, ints((r) => ep.tick[r])],
      [VLA_COLUMNS.stamp_ns, ints((r) => ep.stamp_ns[r])],
      [VLA_COLUMNS.t_mono_ms, ep.t_mono_ms],
      // LeRobot's own timestamps: frame_index / fps from the episode's start
      ['timestamp', Float64Array.from({ length: n }, (_, r) => r / s.fps)],
      ['frame_index', ints((r) => r)],
      ['episode_index', ints(() => index)],
      ['index', ints((r) => from + r)],
      ['task_index', ints(() => task)],
    ]);
  }

  /**
   * One frame per row into the camera's video: the frame recorded at that tick, else the one before it (what a
   * reader takes), else the first one after; black if the camera sent none. Rows without their own frame are
   * listed, so a read gives back exactly the recorded frames.
   */
  async #writeFrames(ep: Episode, camera: string, n: number) {
    const cam = this.schema.cameras.find((c) => c.name === camera)!;
    const stream = this.#cameras.get(camera)!;
    const cap = this.opts.videoEpisodesPerFile ?? Number.POSITIVE_INFINITY;
    if (stream.encoder && (stream.episodes >= cap || (await stream.encoder.bytesSoFar()) >= this.#videoBytes)) {
      this.files.push(stream.encoder.path);
      await stream.encoder.finish();
      stream.encoder = undefined;
      stream.at = nextFile(stream.at, this.#chunksSize);
      stream.frames = 0;
      stream.episodes = 0;
    }
    if (!stream.encoder) {
      const path = join(
        this.out,
        formatPath(VIDEO_PATH, { ...fileValues(stream.at), video_key: cameraFeature(camera) }),
      );
      const { codec, gop = DEFAULT_GOP } = this.opts;
      stream.encoder = await VideoEncoder.start(path, {
        width: cam.width,
        height: cam.height,
        fps: this.schema.fps,
        codec,
        gop,
      });
    }
    const got = ep.frames[camera] ?? { tick: new Int32Array(0), rgb: [] };
    const byTick = new Map<number, Uint8Array>();
    for (const [i, t] of got.tick.entries()) byTick.set(t, got.rgb[i]);
    const fresh = new Array<boolean>(n).fill(false);
    let last: Uint8Array | undefined = got.rgb[0] ?? new Uint8Array(cam.width * cam.height * 3);
    const histogram = new ImageHistogram();
    const start = stream.frames;
    for (let r = 0; r < n; r++) {
      const own = byTick.get(ep.tick[r]);
      if (own) last = own;
      fresh[r] = own !== undefined;
      histogram.add(last);
      await stream.encoder.write(last);
    }
    stream.frames += n;
    stream.episodes++;
    return { histogram, staleRows: staleRanges(fresh), start };
  }

  #pendingBytes(): number {
    const perRow = this.#columns.reduce((a, c) => a + c.width * 8, 0);
    return this.#rows.get('index')!.length * perRow;
  }

  async #flushData(): Promise<void> {
    if (this.#rowGroups.length === 0) return;
    const path = join(this.out, formatPath(DATA_PATH, fileValues(this.#data)));
    await mkdir(dirname(path), { recursive: true });
    const columns: ColumnSpec[] = this.#columns.map((c) => ({
      name: c.feature,
      leaf: c.leaf,
      depth: c.width === 1 ? 0 : 1,
      data: this.#rows.get(c.feature)!,
    }));
    await writeParquet(path, columns, { rowGroupSize: this.#rowGroups });
    this.files.push(path);
    for (const c of this.#columns) this.#rows.set(c.feature, []);
    this.#rowGroups = [];
    this.#data = nextFile(this.#data, this.#chunksSize);
  }

  /** Closes the videos and writes the last data file and the metadata; returns every file written. */
  async finish(codec: VideoCodecName): Promise<string[]> {
    await this.#flushData();
    for (const stream of this.#cameras.values()) {
      if (!stream.encoder) continue;
      await stream.encoder.finish();
      this.files.push(stream.encoder.path);
    }
    const features = infoFeatures(this.schema, codec);
    const isImage = (f: string) => features[f]?.dtype === 'video';
    const statColumns: ColumnSpec[] = [];
    for (const feature of this.#episodeStats[0]?.keys() ?? []) {
      for (const k of STAT_KEYS) {
        const image = isImage(feature) && k !== 'count';
        statColumns.push({
          name: `stats/${feature}/${k}`,
          leaf: k === 'count' ? 'INT64' : 'DOUBLE',
          depth: image ? 3 : 1,
          data: this.#episodeStats.map((s) => {
            const v = shapedStat(s.get(feature)![k], k, isImage(feature));
            return k === 'count' ? v.map((x) => BigInt(x as number)) : v;
          }),
        });
      }
    }
    const rows = this.#episodeRows;
    const plain = Object.keys(rows[0] ?? {}).filter((k) => k !== VLA_EPISODE_COLUMN);
    const episodeColumns: ColumnSpec[] = [
      ...plain.map((name) => episodeColumn(name, rows)),
      ...statColumns,
      { name: 'meta/episodes/chunk_index', leaf: 'INT64', depth: 0, data: rows.map(() => 0n) },
      { name: 'meta/episodes/file_index', leaf: 'INT64', depth: 0, data: rows.map(() => 0n) },
      { name: VLA_EPISODE_COLUMN, leaf: 'STRING', depth: 0, data: rows.map((r) => r[VLA_EPISODE_COLUMN]) },
    ];
    await this.#write(formatPath(EPISODES_PATH, { chunk_index: 0, file_index: 0 }), episodeColumns);
    const tasks = [...this.#tasks.entries()].sort((a, b) => a[1] - b[1]);
    await this.#write(
      TASKS_PATH,
      [
        { name: 'task_index', leaf: 'INT64', depth: 0, data: tasks.map(([, i]) => BigInt(i)) },
        { name: 'task', leaf: 'STRING', depth: 0, data: tasks.map(([t]) => t) },
      ],
      [pandasIndexMetadata('task', ['task_index'])],
    );
    const total = new Map<string, FeatureStats>();
    for (const feature of this.#episodeStats[0]?.keys() ?? []) {
      total.set(feature, aggregateStats(this.#episodeStats.map((s) => s.get(feature)!)));
    }
    await this.#writeJson(STATS_PATH, statsJson(total, isImage));
    await this.#writeJson(INFO_PATH, {
      codebase_version: CODEBASE_VERSION,
      robot_type: this.schema.robot,
      total_episodes: rows.length,
      total_frames: this.#frames,
      total_tasks: this.#tasks.size,
      chunks_size: this.#chunksSize,
      data_files_size_in_mb: this.#dataBytes / 2 ** 20,
      video_files_size_in_mb: this.#videoBytes / 2 ** 20,
      fps: this.schema.fps,
      splits: { train: `0:${rows.length}` },
      data_path: DATA_PATH,
      video_path: this.schema.cameras.length > 0 ? VIDEO_PATH : null,
      features,
    });
    return this.files;
  }

  /** Stops the encoders of an export that failed. */
  async abort(): Promise<void> {
    for (const stream of this.#cameras.values()) await stream.encoder?.abort();
  }

  async #write(relative: string, columns: ColumnSpec[], keyValue?: { key: string; value: string }[]): Promise<void> {
    const path = join(this.out, relative);
    await mkdir(dirname(path), { recursive: true });
    await writeParquet(path, columns, keyValue ? { keyValue } : {});
    this.files.push(path);
  }

  async #writeJson(relative: string, value: unknown): Promise<void> {
    const path = join(this.out, relative);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, `${JSON.stringify(value, null, 4)}\n`);
    this.files.push(path);
  }
}

const fileValues = (at: FileIndex) => ({ chunk_index: at.chunk, file_index: at.file });

/** Row r of a column: a scalar (width 1, as LeRobot reads shape [1]) or a list. */
function cell(c: DataColumn, values: ArrayLike<unknown>, r: number): unknown {
  if (c.width === 1) return values[r];
  const out = new Array<unknown>(c.width);
  for (let i = 0; i < c.width; i++) out[i] = values[r * c.width + i];
  return out;
}

function episodeColumn(name: string, rows: Record<string, unknown>[]): ColumnSpec {
  const first = rows[0][name];
  const leaf = typeof first === 'bigint' ? 'INT64' : Array.isArray(first) ? 'STRING' : 'DOUBLE';
  return { name, leaf, depth: Array.isArray(first) ? 1 : 0, data: rows.map((r) => r[name]) };
}
