// Turns the log-time-ordered message stream of an episode back into per-tick rows, checking each
// message against its schema and the episode metadata. All messages of one tick share one log time
// (the writer enforces strictly increasing stamps), so a change of log time closes a tick. Camera frames
// are format 2's protobuf foxglove.RawImage or format 1's JSON CompressedImage (base64 PNG).

import { decodePngRgb } from '../codecs/png.js';
import type { EpisodeFrames } from './episode-reader.js';
import type { EpisodeMeta } from './episode-writer.js';
import { decodeRawImage, RAW_IMAGE_ENCODING, type RawImage } from './raw-image.js';
import { cameraTopic, TOPIC_ACTION, TOPIC_JOINT_STATE } from './schemas.js';

type Json = Record<string, unknown>;
type FrameMessage = { raw: RawImage } | { json: Json };
interface Group {
  logTime: bigint;
  jointTick?: number;
  actionTick?: number;
  frames: { camera: string; msg: FrameMessage }[];
}

/** A problem found in the data, phrased for the user; never thrown from here. */
class Problem {
  constructor(readonly text: string) {}
}

export class TickAssembler {
  readonly tick: Int32Array;
  readonly stamp_ns: BigInt64Array;
  /** When each tick executed (ms, the episode's tick_clock); NaN where the file does not say (format 1). */
  readonly t_mono_ms: Float64Array;
  readonly position_rad: Float64Array;
  readonly velocity_rad_s: Float64Array;
  readonly gripper: Float64Array;
  readonly action: Float64Array;
  readonly frames = new Map<string, { tick: number[]; rgb: Uint8Array[] }>();
  #rows = 0;
  #group: Group | undefined;
  #decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(
    private readonly meta: EpisodeMeta,
    private readonly expectedTicks: number,
    private readonly decodeFrames: boolean,
  ) {
    const n = expectedTicks;
    this.tick = new Int32Array(n);
    this.stamp_ns = new BigInt64Array(n);
    this.t_mono_ms = new Float64Array(n).fill(NaN);
    this.position_rad = new Float64Array(n * meta.joint_names.length);
    this.velocity_rad_s = new Float64Array(n * meta.joint_names.length);
    this.gripper = new Float64Array(n * meta.gripper_names.length);
    this.action = new Float64Array(n * meta.action_names.length);
    for (const c of meta.cameras) this.frames.set(c.name, { tick: [], rgb: [] });
  }

  /** Each camera's decoded frames, as an Episode holds them (empty when frames were not decoded). */
  episodeFrames(): Record<string, EpisodeFrames> {
    const out: Record<string, EpisodeFrames> = {};
    if (!this.decodeFrames) return out;
    for (const cam of this.meta.cameras) {
      const got = this.frames.get(cam.name)!;
      out[cam.name] = { width: cam.width, height: cam.height, tick: Int32Array.from(got.tick), rgb: got.rgb };
    }
    return out;
  }

  /**
   * `kind` is 'joint', 'action' or 'camera:<name>'; `encoding` the channel's message encoding ('json', or
   * 'protobuf' for format 2 frames). Returns a problem description, or undefined.
   */
  add(kind: string, logTime: bigint, data: Uint8Array, encoding = 'json'): string | undefined {
    try {
      this.#add(kind, logTime, data, encoding);
      return undefined;
    } catch (err) {
      if (err instanceof Problem) return err.text;
      throw err;
    }
  }

  /** Closes the last tick and checks the count against the metadata. */
  finish(): string | undefined {
    try {
      if (this.#group) this.#close(this.#group);
      this.#group = undefined;
      if (this.#rows !== this.expectedTicks) {
        throw new Problem(`episode metadata says ${this.expectedTicks} ticks but the file holds ${this.#rows}`);
      }
      return undefined;
    } catch (err) {
      if (err instanceof Problem) return err.text;
      throw err;
    }
  }

  #add(kind: string, logTime: bigint, data: Uint8Array, encoding: string): void {
    let g = this.#group;
    if (g && logTime < g.logTime) throw new Problem(`messages are not in log-time order at log time ${logTime}`);
    if (!g || logTime !== g.logTime) {
      if (g) this.#close(g);
      g = this.#group = { logTime, frames: [] };
    }
    const topic = kind === 'joint' ? TOPIC_JOINT_STATE : kind === 'action' ? TOPIC_ACTION : cameraTopic(kind.slice(7));
    const where = `${topic} message at log time ${logTime}`;
    if (kind.startsWith('camera:')) {
      const camera = kind.slice(7);
      if (g.frames.some((f) => f.camera === camera)) throw new Problem(`two ${topic} messages at log time ${logTime}`);
      g.frames.push({ camera, msg: this.#frameMessage(data, encoding, logTime, where) });
      return;
    }
    const msg = this.#parse(data, where);
    checkTimestamp(msg, logTime, where);
    const tick = msg.tick;
    if (!Number.isSafeInteger(tick) || (tick as number) < 0 || (tick as number) > 2 ** 31 - 1) {
      throw new Problem(`${where}: "tick" is not a tick number`);
    }
    if (this.#rows >= this.expectedTicks) {
      throw new Problem(`${where}: more ticks than the ${this.expectedTicks} the episode metadata says`);
    }
    const at = `${where} (tick ${tick})`;
    const row = this.#rows;
    const m = this.meta;
    if (kind === 'joint') {
      if (g.jointTick !== undefined) throw new Problem(`two ${topic} messages at log time ${logTime}`);
      g.jointTick = tick as number;
      const t = msg.t_mono_ms;
      if (typeof t === 'number') this.t_mono_ms[row] = t;
      else if (t !== undefined && t !== null) throw new Problem(`${at}: "t_mono_ms" is not a number`);
      checkNames(msg.name, m.joint_names, at, 'joint_names');
      readNumbers(msg.position, this.position_rad, row, m.joint_names.length, at, 'position');
      readNumbers(msg.velocity, this.velocity_rad_s, row, m.joint_names.length, at, 'velocity');
      readNumbers(msg.gripper, this.gripper, row, m.gripper_names.length, at, 'gripper');
    } else {
      if (g.actionTick !== undefined) throw new Problem(`two ${topic} messages at log time ${logTime}`);
      g.actionTick = tick as number;
      checkNames(msg.name, m.action_names, at, 'action_names');
      readNumbers(msg.action, this.action, row, m.action_names.length, at, 'action');
    }
  }

  #close(g: Group): void {
    const { jointTick, actionTick, logTime } = g;
    if (jointTick === undefined && actionTick === undefined) {
      const cams = g.frames.map((f) => f.camera).join(', ');
      throw new Problem(
        `camera frame(s) from ${cams} at log time ${logTime} belong to no tick (no ${TOPIC_JOINT_STATE} or ` +
          `${TOPIC_ACTION} at that time)`,
      );
    }
    const tick = (jointTick ?? actionTick)!;
    if (jointTick === undefined)
      throw new Problem(`tick ${tick} (log time ${logTime}) has no ${TOPIC_JOINT_STATE} message`);
    if (actionTick === undefined)
      throw new Problem(`tick ${tick} (log time ${logTime}) has no ${TOPIC_ACTION} message`);
    if (jointTick !== actionTick) {
      throw new Problem(
        `log time ${logTime} has ${TOPIC_JOINT_STATE} for tick ${jointTick} but ${TOPIC_ACTION} for tick ${actionTick}`,
      );
    }
    const row = this.#rows;
    if (row > 0 && tick <= this.tick[row - 1]!) {
      throw new Problem(
        `tick ${tick} (log time ${logTime}) comes after tick ${this.tick[row - 1]} in log time; ticks must increase`,
      );
    }
    if (this.decodeFrames) for (const f of g.frames) this.#decodeFrame(f.camera, f.msg, tick);
    this.tick[row] = tick;
    this.stamp_ns[row] = logTime;
    this.#rows++;
  }

  #frameMessage(data: Uint8Array, encoding: string, logTime: bigint, where: string): FrameMessage {
    if (encoding === 'json') {
      const json = this.#parse(data, where);
      checkTimestamp(json, logTime, where);
      return { json };
    }
    let raw: RawImage;
    try {
      raw = decodeRawImage(data);
    } catch (err) {
      throw new Problem(`${where} is not a valid foxglove.RawImage (${err instanceof Error ? err.message : err})`);
    }
    if (raw.stamp_ns !== logTime) throw new Problem(`${where}: "timestamp" does not match the log time`);
    return { raw };
  }

  #decodeFrame(camera: string, msg: FrameMessage, tick: number): void {
    const at = `${cameraTopic(camera)} message at tick ${tick}`;
    const img = 'raw' in msg ? rawRgb(msg.raw, at) : pngRgb(msg.json, at);
    const cam = this.meta.cameras.find((c) => c.name === camera)!;
    if (img.width !== cam.width || img.height !== cam.height) {
      throw new Problem(`${at}: image is ${img.width}x${img.height}, episode metadata says ${cam.width}x${cam.height}`);
    }
    const list = this.frames.get(camera)!;
    list.tick.push(tick);
    list.rgb.push(img.rgb);
  }

  #parse(data: Uint8Array, where: string): Json {
    let v: unknown;
    try {
      v = JSON.parse(this.#decoder.decode(data));
    } catch {
      throw new Problem(`${where} is not valid JSON`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Problem(`${where} is not a JSON object`);
    return v as Json;
  }
}

function rawRgb(raw: RawImage, at: string): { width: number; height: number; rgb: Uint8Array } {
  if (raw.encoding !== RAW_IMAGE_ENCODING)
    throw new Problem(`${at}: encoding is ${JSON.stringify(raw.encoding)}, only "${RAW_IMAGE_ENCODING}" is supported`);
  const { width, height } = raw;
  if (raw.step !== width * 3 || raw.data.length !== width * height * 3) {
    throw new Problem(`${at}: ${raw.data.length} bytes of rgb8 (step ${raw.step}) do not make ${width}x${height}`);
  }
  // a copy: the message is a view into its whole decompressed chunk
  return { width, height, rgb: raw.data.slice() };
}

/** Format 1: a JSON foxglove.CompressedImage with base64 PNG data. */
function pngRgb(msg: Json, at: string): { width: number; height: number; rgb: Uint8Array } {
  if (msg.format !== 'png')
    throw new Problem(`${at}: format is ${JSON.stringify(msg.format)}, only "png" is supported`);
  if (typeof msg.data !== 'string') throw new Problem(`${at}: "data" is not a base64 string`);
  try {
    return decodePngRgb(Buffer.from(msg.data, 'base64'));
  } catch (err) {
    throw new Problem(`${at}: cannot decode PNG (${err instanceof Error ? err.message : String(err)})`);
  }
}

function checkTimestamp(msg: Json, logTime: bigint, where: string): void {
  const t = msg.timestamp as Json | undefined;
  const ok =
    typeof t === 'object' &&
    t !== null &&
    Number.isSafeInteger(t.sec) &&
    Number.isSafeInteger(t.nsec) &&
    BigInt(t.sec as number) * 1_000_000_000n + BigInt(t.nsec as number) === logTime;
  if (!ok) throw new Problem(`${where}: "timestamp" is missing or does not match the log time`);
}

function checkNames(names: unknown, expected: string[], at: string, metaKey: string): void {
  if (!Array.isArray(names) || names.length !== expected.length || names.some((n, i) => n !== expected[i])) {
    throw new Problem(`${at}: "name" does not match the episode's ${metaKey}`);
  }
}

function readNumbers(values: unknown, out: Float64Array, row: number, width: number, at: string, field: string): void {
  if (!Array.isArray(values)) throw new Problem(`${at}: "${field}" is not an array`);
  if (values.length !== width) throw new Problem(`${at}: "${field}" has ${values.length} values, expected ${width}`);
  const base = row * width;
  for (let i = 0; i < width; i++) {
    const v = values[i];
    // null is how the writer stores NaN/Infinity (JSON has neither).
    if (v === null) out[base + i] = NaN;
    else if (typeof v === 'number') out[base + i] = v;
    else throw new Problem(`${at}: "${field}"[${i}] is not a number`);
  }
}
