// Records one episode (50 Hz ticks of joint state, action and camera frames) to an MCAP file that
// Foxglove Studio opens as is. See schemas.ts for the layout and episode-reader.ts for reading back.
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { McapWriter } from '@mcap/core';
import { compressChunk } from './chunk-compression.js';
import { describeFsError, EpisodeFileError, reasonOf } from './errors.js';
import { FileWritable, makeFolders } from './file-io.js';
import { checkLength, copyMeta } from './meta-check.js';
import { encodeRawImage, RAW_IMAGE_SCHEMA_NAME, rawImageDescriptorSet } from './raw-image.js';
import { copyReplayMeta, type ReplayMeta } from './replay-meta.js';
import {
  ACTION_SCHEMA,
  cameraTopic,
  EPISODE_METADATA_NAME,
  EPISODE_OUTCOMES,
  type EpisodeOutcomeName,
  encodeEpisodeMetadata,
  IMAGE_MESSAGE_ENCODING,
  IMAGE_SCHEMA_ENCODING,
  JOINT_STATE_SCHEMA,
  MCAP_LIBRARY,
  MESSAGE_ENCODING,
  numberArrayJson,
  SCHEMA_ENCODING,
  type SchemaDef,
  schemaBytes,
  type TickClock,
  TOPIC_ACTION,
  TOPIC_JOINT_STATE,
  timeJson,
} from './schemas.js';

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

const MAX_TICK = 2 ** 31 - 1; // the reader hands ticks back as Int32Array
const MAX_STAMP = 2n ** 63n - 1n; // ... and stamps as BigInt64Array

interface CameraChannel {
  info: CameraInfo;
  channelId: number;
}
type Pending = { channelId: number; data: Uint8Array }[];

/** How an episode ended, for close(); outcome defaults to success or failure from `success`. */
export interface EpisodeResult {
  success: boolean;
  outcome?: EpisodeOutcomeName;
  /** Why the robot was stopped (an interrupted episode). */
  fault?: string;
}

/**
 * Writes ticks as they come; the file is only complete (footer, index, episode metadata) after
 * close(). A killed process leaves a file that readEpisode reports as truncated.
 *
 * Calls need not be awaited one by one: writes are queued in call order, because McapWriter corrupts
 * its output if a call starts before the previous one finished. Everything taken from a TickRecord is
 * serialized before writeTick returns, so callers may reuse their arrays right away.
 */
export class EpisodeWriter {
  readonly path: string;
  readonly meta: EpisodeMeta;
  #fh: FileHandle;
  #out: FileWritable;
  #mcap: McapWriter;
  #jointChannel: number;
  #actionChannel: number;
  #cameras: Map<string, CameraChannel>;
  #jointNamesJson: string;
  #actionNamesJson: string;
  #encoder = new TextEncoder();
  #queue: Promise<void> = Promise.resolve();
  #failure: unknown;
  #closed = false;
  #ticks = 0;
  #lastTick = -1;
  #firstStamp: bigint | undefined;
  #lastStamp = -1n;

  private constructor(
    path: string,
    meta: EpisodeMeta,
    fh: FileHandle,
    out: FileWritable,
    mcap: McapWriter,
    jointChannel: number,
    actionChannel: number,
    cameras: Map<string, CameraChannel>,
  ) {
    this.path = path;
    this.meta = meta;
    this.#fh = fh;
    this.#out = out;
    this.#mcap = mcap;
    this.#jointChannel = jointChannel;
    this.#actionChannel = actionChannel;
    this.#cameras = cameras;
    this.#jointNamesJson = JSON.stringify(meta.joint_names);
    this.#actionNamesJson = JSON.stringify(meta.action_names);
  }

  /** Creates (or overwrites) `path`, creating missing parent directories. */
  static async open(path: string, meta: EpisodeMeta): Promise<EpisodeWriter> {
    const own = copyMeta(meta, path);
    let fh: FileHandle;
    try {
      await makeFolders(dirname(path));
      fh = await open(path, 'w');
    } catch (err) {
      throw new EpisodeFileError(path, describeFsError(err, 'create'), { cause: err });
    }
    try {
      const out = new FileWritable(fh);
      const mcap = new McapWriter({ writable: out, compressChunk });
      await mcap.start({ profile: '', library: MCAP_LIBRARY });
      const channel = (topic: string, schemaId: number, messageEncoding: string) =>
        mcap.registerChannel({ topic, schemaId, messageEncoding, metadata: new Map() });
      const json = async (topic: string, def: SchemaDef) => {
        const id = await mcap.registerSchema({ name: def.name, encoding: SCHEMA_ENCODING, data: schemaBytes(def) });
        return channel(topic, id, MESSAGE_ENCODING);
      };
      const joint = await json(TOPIC_JOINT_STATE, JOINT_STATE_SCHEMA);
      const action = await json(TOPIC_ACTION, ACTION_SCHEMA);
      const cameras = new Map<string, CameraChannel>();
      if (own.cameras.length > 0) {
        const imageSchema = await mcap.registerSchema({
          name: RAW_IMAGE_SCHEMA_NAME,
          encoding: IMAGE_SCHEMA_ENCODING,
          data: rawImageDescriptorSet(),
        });
        for (const info of own.cameras) {
          const channelId = await channel(cameraTopic(info.name), imageSchema, IMAGE_MESSAGE_ENCODING);
          cameras.set(info.name, { info, channelId });
        }
      }
      return new EpisodeWriter(path, own, fh, out, mcap, joint, action, cameras);
    } catch (err) {
      await fh.close().catch(() => {});
      throw new EpisodeFileError(path, `cannot start recording: ${describeFsError(err, 'write')}`, { cause: err });
    }
  }

  get ticks(): number {
    return this.#ticks;
  }

  /**
   * Adds replay fields known only once the episode runs (the sim's state after its reset); validated now,
   * written with the rest of the metadata by close().
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
    const messages = this.#encodeTick(rec);
    const stamp = rec.stamp_ns;
    return this.#enqueue(async () => {
      for (const m of messages) {
        await this.#mcap.addMessage({
          channelId: m.channelId,
          sequence: rec.tick,
          logTime: stamp,
          publishTime: stamp,
          data: m.data,
        });
      }
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
    const metadata = encodeEpisodeMetadata(this.meta, {
      success: result.success,
      outcome,
      ...(result.fault !== undefined ? { fault: result.fault } : {}),
      ticks: this.#ticks,
      start_ns: this.#firstStamp,
      end_ns: this.#ticks > 0 ? this.#lastStamp : undefined,
    });
    let firstError: unknown;
    try {
      await this.#enqueue(async () => {
        await this.#mcap.addMetadata({ name: EPISODE_METADATA_NAME, metadata });
        await this.#mcap.end();
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

  #encodeTick(rec: TickRecord): Pending {
    const fail = (what: string): never => {
      throw new RangeError(`${this.path}: tick ${rec?.tick}: ${what}`);
    };
    if (this.#closed) fail('writeTick() after close()');
    const { tick, stamp_ns } = rec;
    if (!Number.isInteger(tick) || tick < 0 || tick > MAX_TICK) fail(`tick must be an integer in [0, ${MAX_TICK}]`);
    if (tick <= this.#lastTick) fail(`ticks must increase; the previous tick was ${this.#lastTick}`);
    if (typeof stamp_ns !== 'bigint' || stamp_ns < 0n || stamp_ns > MAX_STAMP)
      fail('stamp_ns must be a non-negative bigint (ns since the Unix epoch)');
    // Equal or backward log times would let another tick's messages interleave on playback.
    if (stamp_ns <= this.#lastStamp) {
      fail(
        `stamp_ns ${stamp_ns} is not after the previous tick's ${this.#lastStamp}; use a monotonic clock or start + ` +
          `tick*dt`,
      );
    }
    const m = this.meta;
    checkLength(rec.position_rad, m.joint_names.length, 'position_rad', 'joint_names', fail);
    checkLength(rec.velocity_rad_s, m.joint_names.length, 'velocity_rad_s', 'joint_names', fail);
    checkLength(rec.gripper, m.gripper_names.length, 'gripper', 'gripper_names', fail);
    checkLength(rec.action, m.action_names.length, 'action', 'action_names', fail);
    const frames = rec.frames ?? [];
    const seen = new Set<string>();
    for (const f of frames) {
      const cam = this.#cameras.get(f?.camera as string);
      if (!cam)
        fail(
          `frame for unknown camera ${JSON.stringify(f?.camera)} (meta.cameras: ` +
            `${[...this.#cameras.keys()].join(', ') || 'none'})`,
        );
      if (seen.has(f.camera)) fail(`two frames for camera "${f.camera}"`);
      seen.add(f.camera);
      const { width, height } = cam!.info;
      if (f.width !== width || f.height !== height)
        fail(`camera "${f.camera}" frame is ${f.width}x${f.height}, meta says ${width}x${height}`);
      if (!(f.rgb instanceof Uint8Array) || f.rgb.length !== width * height * 3) {
        fail(
          `camera "${f.camera}" rgb has ${f.rgb?.length} bytes, expected ${width}x${height}x3 = ${width * height * 3}`,
        );
      }
    }

    const t = timeJson(stamp_ns);
    const mono = Number.isFinite(rec.t_mono_ms) ? String(rec.t_mono_ms) : 'null';
    const out: Pending = [
      {
        channelId: this.#jointChannel,
        data: this.#encoder.encode(
          `{"timestamp":${t},"tick":${tick},"t_mono_ms":${mono},"name":${this.#jointNamesJson},` +
            `"position":${numberArrayJson(rec.position_rad)},"velocity":${numberArrayJson(rec.velocity_rad_s)},` +
            `"gripper":${numberArrayJson(rec.gripper)}}`,
        ),
      },
      {
        channelId: this.#actionChannel,
        data: this.#encoder.encode(
          `{"timestamp":${t},"tick":${tick},"name":${this.#actionNamesJson},"action":${numberArrayJson(rec.action)}}`,
        ),
      },
    ];
    for (const f of frames) {
      out.push({
        channelId: this.#cameras.get(f.camera)!.channelId,
        data: encodeRawImage(stamp_ns, f.camera, f.width, f.height, f.rgb),
      });
    }
    this.#lastTick = tick;
    this.#lastStamp = stamp_ns;
    this.#firstStamp ??= stamp_ns;
    this.#ticks++;
    return out;
  }
}
