// Records one episode (50 Hz ticks of joint state, action and camera frames) to an MCAP file that
// Foxglove Studio opens as is. See schemas.ts for the layout and episode-reader.ts for reading back.
// A recording survives its process: chunks are written every second of ticks (or 1 MiB, whichever first) and
// synced, so a kill, a power cut or a full disk loses at most that much; the file is always a valid MCAP
// prefix, and the reader recovers the complete ticks of a file that has no summary (episode-recovery.ts).
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { compressChunk } from './chunk-compression.js';
import { ChunkedMcapWriter } from './chunked-mcap-writer.js';
import { describeFsError, EpisodeFileError, reasonOf } from './errors.js';
import { FileWritable, makeFolders } from './file-io.js';
import { copyMeta } from './meta-check.js';
import { RAW_IMAGE_SCHEMA_NAME, rawImageDescriptorSet } from './raw-image.js';
import { copyReplayMeta, type ReplayMeta } from './replay-meta.js';
import {
  ACTION_SCHEMA,
  cameraTopic,
  EPISODE_METADATA_NAME,
  EPISODE_OUTCOMES,
  EPISODE_START_METADATA_NAME,
  type EpisodeOutcomeName,
  encodeEpisodeMetadata,
  IMAGE_MESSAGE_ENCODING,
  IMAGE_SCHEMA_ENCODING,
  JOINT_STATE_SCHEMA,
  MCAP_LIBRARY,
  MESSAGE_ENCODING,
  numberArrayJson,
  RL_DECISION_SCHEMA,
  SCHEMA_ENCODING,
  type SchemaDef,
  schemaBytes,
  type TickClock,
  TOPIC_ACTION,
  TOPIC_JOINT_STATE,
  TOPIC_RL_DECISION,
  timeJson,
} from './schemas.js';
import { type CameraChannel, TickEncoder } from './tick-encoder.js';

export interface CameraInfo {
  name: string;
  width: number;
  height: number;
}
/** What the episode is; the replay fields (replay-meta.ts) are optional, as older files lack them. */
export interface EpisodeMeta extends ReplayMeta {
  robot: string;
  task: string;
  seed: number;
  control_hz: number;
  joint_names: string[];
  gripper_names: string[];
  action_names: string[];
  cameras: CameraInfo[];
  policy?: string;
  /** What the ticks' t_mono_ms are measured on (absent: not said, as in format 1). */
  tick_clock?: TickClock;
}
export interface RecordedFrame {
  camera: string;
  width: number;
  height: number;
  rgb: Uint8Array /* row-major RGB, 3 bytes/pixel */;
}
export interface TickRecord {
  tick: number;
  /** Log time of this tick in ns since the Unix epoch (wall time at the start + the tick's actual time since). */
  stamp_ns: bigint;
  /** When the tick executed on the meta's tick_clock (ms); stored as null when absent. */
  t_mono_ms?: number;
  position_rad: ArrayLike<number>;
  velocity_rad_s: ArrayLike<number>;
  gripper: ArrayLike<number>;
  action: ArrayLike<number>;
  frames?: RecordedFrame[];
}

/** How an episode ended, for close(); outcome defaults to success or failure from `success`. */
export interface EpisodeResult {
  success: boolean;
  outcome?: EpisodeOutcomeName;
  /** Why the robot was stopped (an interrupted episode). */
  fault?: string;
  /** In the sim: the task's figures when the episode ended (metadata `task_outcome`, JSON). */
  task_outcome?: Record<string, number | boolean>;
}

/**
 * How much a killed process may lose: a chunk is written once it holds this much robot time of ticks, or this
 * many bytes (frames make chunks big long before a second is up), whichever comes first.
 */
export const CHUNK_FLUSH_S = 1;
export const CHUNK_FLUSH_BYTES = 1 << 20;

export interface WriterOptions {
  /** Robot time per chunk (s); default CHUNK_FLUSH_S. */
  flush_s?: number;
  /** Bytes per chunk (uncompressed); default CHUNK_FLUSH_BYTES. */
  flush_bytes?: number;
  /** fdatasync after each chunk, so a power cut loses no more than a kill (default true). */
  sync?: boolean;
  /** Add the /rl/decision channel (a fine-tuning session's residual decisions: writeDecision). */
  rl_decisions?: boolean;
}

/** One residual decision, as writeDecision records it (schemas.ts RL_DECISION_SCHEMA). */
export interface DecisionRecord {
  tick: number;
  base_action: ArrayLike<number>;
  u: ArrayLike<number>;
  correction: ArrayLike<number>;
  takeover: boolean;
  label?: ArrayLike<number>;
}

/**
 * Writes ticks as they come; the file is complete (summary, index, the final episode metadata) after close().
 * Before that it is a valid MCAP prefix: header, schemas, channels, a `vla.episode.start` metadata record (the
 * meta, written with the first chunk) and whole-tick chunks, which readEpisode recovers.
 *
 * Calls need not be awaited one by one: writes are queued in call order. Everything taken from a TickRecord is
 * serialized before writeTick returns, so callers may reuse their arrays right away.
 */
export class EpisodeWriter {
  readonly path: string;
  readonly meta: EpisodeMeta;
  #fh: FileHandle;
  #out: FileWritable;
  #mcap: ChunkedMcapWriter;
  #ticks: TickEncoder;
  #jointChannel: number;
  #actionChannel: number;
  #decisionChannel: number | undefined;
  /** Each recorded tick's log time, by tick index (a decision is stamped with its tick's). */
  #stamps = new Map<number, bigint>();
  #flushTicks: number;
  #flushBytes: number;
  #sync: boolean;
  #chunkTicks = 0;
  #flushedTicks = 0;
  #queue: Promise<void> = Promise.resolve();
  #failure: unknown;
  #closed = false;

  private constructor(path: string, meta: EpisodeMeta, fh: FileHandle, opts: WriterOptions) {
    this.path = path;
    this.meta = meta;
    this.#fh = fh;
    this.#out = new FileWritable(fh);
    const mcap = new ChunkedMcapWriter(this.#out, compressChunk);
    this.#mcap = mcap;
    const channel = (topic: string, schemaId: number, messageEncoding: string) =>
      mcap.registerChannel({ topic, schemaId, messageEncoding, metadata: new Map() });
    const json = (topic: string, def: SchemaDef) =>
      channel(
        topic,
        mcap.registerSchema({ name: def.name, encoding: SCHEMA_ENCODING, data: schemaBytes(def) }),
        MESSAGE_ENCODING,
      );
    this.#jointChannel = json(TOPIC_JOINT_STATE, JOINT_STATE_SCHEMA);
    this.#actionChannel = json(TOPIC_ACTION, ACTION_SCHEMA);
    if (opts.rl_decisions) this.#decisionChannel = json(TOPIC_RL_DECISION, RL_DECISION_SCHEMA);
    const cameras = new Map<string, CameraChannel>();
    if (meta.cameras.length > 0) {
      const image = mcap.registerSchema({
        name: RAW_IMAGE_SCHEMA_NAME,
        encoding: IMAGE_SCHEMA_ENCODING,
        data: rawImageDescriptorSet(),
      });
      for (const info of meta.cameras)
        cameras.set(info.name, { info, channelId: channel(cameraTopic(info.name), image, IMAGE_MESSAGE_ENCODING) });
    }
    this.#ticks = new TickEncoder(path, meta, this.#jointChannel, this.#actionChannel, cameras);
    this.#flushTicks = Math.max(1, Math.round((opts.flush_s ?? CHUNK_FLUSH_S) * meta.control_hz));
    this.#flushBytes = opts.flush_bytes ?? CHUNK_FLUSH_BYTES;
    this.#sync = opts.sync ?? true;
  }

  /**
   * Creates (or overwrites) `path`, creating missing parent directories. Nothing is written yet: the first bytes
   * go out with the first chunk, so a full disk shows up as a failed write (the recording stops), not here.
   */
  static async open(path: string, meta: EpisodeMeta, opts: WriterOptions = {}): Promise<EpisodeWriter> {
    const own = copyMeta(meta, path);
    let fh: FileHandle;
    try {
      await makeFolders(dirname(path));
      fh = await open(path, 'w');
    } catch (err) {
      throw new EpisodeFileError(path, describeFsError(err, 'create'), { cause: err });
    }
    return new EpisodeWriter(path, own, fh, opts);
  }

  get ticks(): number {
    return this.#ticks.ticks;
  }

  /** Ticks whose chunk is on disk: what a reader finds if the process dies now (or a write failed). */
  get flushed_ticks(): number {
    return this.#flushedTicks;
  }

  /**
   * Adds replay fields known only once the episode runs (the sim's state after its reset); validated now,
   * written with the rest of the metadata (the start record if no chunk went out yet, and close()).
   */
  amendMeta(fields: ReplayMeta): void {
    if (this.#closed) throw new Error(`${this.path}: amendMeta() after close()`);
    Object.assign(
      this.meta,
      copyReplayMeta(fields, (what) => {
        throw new TypeError(`${this.path}: invalid episode meta: ${what}`);
      }),
    );
  }

  /** Bytes written so far (after close(): the file's size). */
  get bytes(): number {
    return Number(this.#out.position());
  }

  /** Validates against the episode meta (rejecting leaves the file untouched), then queues the tick. */
  async writeTick(rec: TickRecord): Promise<void> {
    if (this.#closed) throw new RangeError(`${this.path}: tick ${rec?.tick}: writeTick() after close()`);
    const messages = this.#ticks.encode(rec);
    const stamp = rec.stamp_ns;
    if (this.#decisionChannel !== undefined) this.#stamps.set(rec.tick, stamp);
    return this.#enqueue(async () => {
      for (const m of messages) {
        const message = { channelId: m.channelId, sequence: rec.tick, logTime: stamp, publishTime: stamp };
        this.#mcap.addMessage({ ...message, data: m.data });
      }
      // chunks end on tick boundaries: a chunk on disk never holds part of a tick
      this.#chunkTicks++;
      if (this.#chunkTicks >= this.#flushTicks || this.#mcap.chunkBytes >= this.#flushBytes) await this.#flush();
    });
  }

  /**
   * Queues a residual decision (the file was opened with rl_decisions), stamped with its tick's log time; a
   * decision whose tick was not recorded takes the last recorded tick's.
   */
  async writeDecision(d: DecisionRecord): Promise<void> {
    const channelId = this.#decisionChannel;
    if (channelId === undefined) throw new Error(`${this.path}: writeDecision() needs rl_decisions when opened`);
    if (this.#closed) throw new RangeError(`${this.path}: decision at tick ${d.tick}: writeDecision() after close()`);
    const stamp = this.#stamps.get(d.tick) ?? (this.#ticks.ticks > 0 ? this.#ticks.lastStamp : 0n);
    const names = JSON.stringify(this.meta.action_names);
    const text =
      `{"timestamp":${timeJson(stamp)},"tick":${d.tick},"name":${names},` +
      `"base_action":${numberArrayJson(d.base_action)},"u":${numberArrayJson(d.u)},` +
      `"correction":${numberArrayJson(d.correction)},"takeover":${d.takeover}` +
      `${d.label ? `,"label":${numberArrayJson(d.label)}` : ''}}`;
    const data = new TextEncoder().encode(text);
    return this.#enqueue(async () => {
      this.#mcap.addMessage({ channelId, sequence: d.tick, logTime: stamp, publishTime: stamp, data });
    });
  }

  /** Writes the episode metadata (with how it ended) and the MCAP summary/footer, then closes the file. */
  async close(result: EpisodeResult): Promise<void> {
    if (this.#closed) throw new Error(`${this.path}: EpisodeWriter.close() called twice`);
    if (typeof result?.success !== 'boolean') throw new TypeError(`${this.path}: close() needs { success: boolean }`);
    const outcome = result.outcome ?? (result.success ? 'success' : 'failure');
    if (!EPISODE_OUTCOMES.includes(outcome) || (outcome === 'success') !== result.success) {
      throw new TypeError(`${this.path}: outcome "${outcome}" does not go with success ${result.success}`);
    }
    this.#closed = true;
    const t = this.#ticks;
    const metadata = encodeEpisodeMetadata(this.meta, {
      success: result.success,
      outcome,
      ...(result.fault !== undefined ? { fault: result.fault } : {}),
      ...(result.task_outcome !== undefined ? { task_outcome: result.task_outcome } : {}),
      ticks: t.ticks,
      start_ns: t.firstStamp,
      end_ns: t.ticks > 0 ? t.lastStamp : undefined,
    });
    let firstError: unknown;
    try {
      await this.#enqueue(async () => {
        await this.#flush(false); // one sync below covers the chunk and the summary
        await this.#mcap.addMetadata({ name: EPISODE_METADATA_NAME, metadata });
        await this.#mcap.end();
        if (this.#sync) await this.#fh.datasync();
      });
    } catch (err) {
      firstError = err;
    }
    // The handle is released even when the writes failed; the first error is the one to report.
    try {
      await this.#fh.close();
    } catch (err) {
      firstError ??= new EpisodeFileError(this.path, describeFsError(err, 'write'), { cause: err });
    }
    if (firstError !== undefined) throw firstError;
  }

  /** The open chunk to disk (and synced): what a crash from now on cannot take away. */
  async #flush(sync = this.#sync): Promise<void> {
    await this.#begin();
    await this.#mcap.flushChunk();
    this.#flushedTicks += this.#chunkTicks;
    this.#chunkTicks = 0;
    if (sync) await this.#fh.datasync();
  }

  /** Header, schemas, channels and the episode's meta: what a reader needs to make sense of any later chunk. */
  async #begin(): Promise<void> {
    if (this.#mcap.started) return;
    await this.#mcap.start({ profile: '', library: MCAP_LIBRARY });
    const metadata = encodeEpisodeMetadata(this.meta, { success: false, outcome: 'interrupted', ticks: 0 });
    await this.#mcap.addMetadata({ name: EPISODE_START_METADATA_NAME, metadata });
  }

  #enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#failure !== undefined) {
        throw new EpisodeFileError(this.path, `an earlier write failed (${reasonOf(this.#failure)})`, {
          cause: this.#failure,
        });
      }
      try {
        await op();
      } catch (err) {
        this.#failure = err;
        throw new EpisodeFileError(this.path, describeFsError(err, 'write'), { cause: err });
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}
