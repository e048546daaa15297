// Topics, schemas and the episode metadata map of a recorded episode (format 2):
//  - /joint_state and /action: JSON with a jsonschema (Foxglove plots them; the text stays greppable);
//  - /camera/<name>/image: foxglove.RawImage (rgb8) in protobuf, with its FileDescriptorSet (raw-image.ts);
//  - the vla.episode metadata record: robot, task, seed, outcome, ticks, names, cameras, and what replay needs
//    (replay-meta.ts: driver, physics rate, model hash, the sim's start state, ...), optional;
//  - chunks compressed with lz4 (MCAP's "lz4": the LZ4 frame format, which Foxglove reads).
// Format 1 (still read): the same, but uncompressed chunks, camera frames as JSON foxglove.CompressedImage
// holding base64 PNG on /camera/<name>/compressed, no outcome (success or failure only), and nominal tick
// times (start + tick * period).
import type { CameraInfo, EpisodeMeta } from './episode-writer.js';
import { decodeReplayMeta, encodeReplayMeta } from './replay-meta.js';

export const TOPIC_JOINT_STATE = '/joint_state';
export const TOPIC_ACTION = '/action';
/** Format 2: raw frames. */
export const cameraTopic = (camera: string): string => `/camera/${camera}/image`;
/** Format 1: base64 PNG in JSON. */
export const legacyCameraTopic = (camera: string): string => `/camera/${camera}/compressed`;

export const MESSAGE_ENCODING = 'json';
export const SCHEMA_ENCODING = 'jsonschema';
export const IMAGE_MESSAGE_ENCODING = 'protobuf';
export const IMAGE_SCHEMA_ENCODING = 'protobuf';
export const CHUNK_COMPRESSION = 'lz4';
export const EPISODE_METADATA_NAME = 'vla.episode';
/**
 * The same map written before the first chunk (outcome "interrupted", 0 ticks): a file whose writer never
 * finished still says what it holds, so its complete ticks can be recovered.
 */
export const EPISODE_START_METADATA_NAME = 'vla.episode.start';
/** Bumped when the layout changes incompatibly, so an old reader refuses instead of misreading. */
export const EPISODE_FORMAT_VERSION = '2';
/** Versions this reader understands (a file without the key is format 1). */
export const READABLE_FORMAT_VERSIONS = ['1', '2'] as const;
export const MCAP_LIBRARY = 'vla-runtime recording (@mcap/core)';

/**
 * How an episode ended: success or failure (the task's own end), truncated (a run's time budget, e.g.
 * --duration, ran out inside it) or interrupted (Ctrl-C, SIGTERM or a fault stopped the robot). Only the
 * first two say anything about the policy; training skips interrupted ones.
 */
export const EPISODE_OUTCOMES = ['success', 'failure', 'truncated', 'interrupted'] as const;
export type EpisodeOutcomeName = (typeof EPISODE_OUTCOMES)[number];
/** What the tick times are: the process's monotonic clock (a real-time run), or the virtual clock's time. */
export const TICK_CLOCKS = ['monotonic', 'virtual'] as const;
export type TickClock = (typeof TICK_CLOCKS)[number];

/** Camera names become topic segments and JSON strings, so keep them to a safe alphabet. */
export const CAMERA_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

const time = {
  type: 'object',
  title: 'time',
  properties: {
    sec: { type: 'integer', minimum: 0 },
    nsec: { type: 'integer', minimum: 0, maximum: 999_999_999 },
  },
};
// null stands for a non-finite value (JSON has no NaN/Infinity); the reader turns it back into NaN.
const numbers = (description: string) => ({
  type: 'array',
  items: { type: ['number', 'null'] },
  description,
});
const strings = (description: string) => ({ type: 'array', items: { type: 'string' }, description });

export interface SchemaDef {
  name: string;
  schema: object;
}

export const JOINT_STATE_SCHEMA: SchemaDef = {
  name: 'vla.JointState',
  schema: {
    title: 'vla.JointState',
    description: 'Measured robot joint state at one control tick',
    type: 'object',
    properties: {
      timestamp: { ...time, description: 'Log time of the tick' },
      tick: { type: 'integer', minimum: 0, description: 'Control tick index' },
      t_mono_ms: {
        type: ['number', 'null'],
        description: 'When the tick executed: monotonic ms (virtual ms on the virtual clock); null if unknown',
      },
      name: strings('Joint names, parallel to position and velocity'),
      position: numbers('Joint positions (rad)'),
      velocity: numbers('Joint velocities (rad/s)'),
      gripper: numbers('Gripper openings, in the order of the episode gripper_names'),
    },
    required: ['timestamp', 'tick', 'name', 'position', 'velocity', 'gripper'],
  },
};

export const ACTION_SCHEMA: SchemaDef = {
  name: 'vla.Action',
  schema: {
    title: 'vla.Action',
    description: 'Action commanded at one control tick',
    type: 'object',
    properties: {
      timestamp: { ...time, description: 'Log time of the tick' },
      tick: { type: 'integer', minimum: 0, description: 'Control tick index' },
      name: strings('Action dimension names, parallel to action'),
      action: numbers('Commanded action'),
    },
    required: ['timestamp', 'tick', 'name', 'action'],
  },
};

/** A fine-tuning session's residual decisions (vla-finetune on a robot), one message per decision. */
export const TOPIC_RL_DECISION = '/rl/decision';
export const RL_DECISION_SCHEMA: SchemaDef = {
  name: 'vla.ResidualDecision',
  schema: {
    title: 'vla.ResidualDecision',
    description:
      "A residual decision: from this tick until the next decision each command is the base policy's buffered " +
      'action plus correction, then the safety filter (the executed command is /action)',
    type: 'object',
    properties: {
      timestamp: { ...time, description: 'Log time of the tick the decision was made in' },
      tick: { type: 'integer', minimum: 0, description: 'Control tick index' },
      name: strings('Action dimension names, parallel to the arrays'),
      base_action: numbers("The base policy's action for this tick"),
      u: numbers("The residual in [-1, 1] per dimension (the operator's when it took over)"),
      correction: numbers('Added to the base action: u x the bound per dimension (action units)'),
      takeover: { type: 'boolean', description: 'The operator held the arm at this decision' },
      label: numbers("The operator's correction in u's units, where it labels every decision"),
    },
    required: ['timestamp', 'tick', 'name', 'base_action', 'u', 'correction', 'takeover'],
  },
};

// Format 1 only (kept to document what old files hold): Foxglove's foxglove.CompressedImage JSON schema.
export const COMPRESSED_IMAGE_SCHEMA: SchemaDef = {
  name: 'foxglove.CompressedImage',
  schema: {
    title: 'foxglove.CompressedImage',
    description: 'A compressed image',
    type: 'object',
    properties: {
      timestamp: { ...time, description: 'Timestamp of image' },
      frame_id: { type: 'string', description: 'Frame of reference for the image (the camera name)' },
      data: { type: 'string', contentEncoding: 'base64', description: 'Compressed image data' },
      format: { type: 'string', description: 'Image format (png)' },
    },
  },
};

export function schemaBytes(def: SchemaDef): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(def.schema));
}

/** `{"sec":..,"nsec":..}` for a log time; the JSON timestamp always equals the MCAP log time. */
export function timeJson(stamp_ns: bigint): string {
  return `{"sec":${stamp_ns / 1_000_000_000n},"nsec":${stamp_ns % 1_000_000_000n}}`;
}

/** JSON array text without an intermediate JS array (typed arrays would stringify as objects). */
export function numberArrayJson(values: ArrayLike<number>): string {
  let s = '[';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) s += ',';
    // -0 is kept so a round trip is exact; JSON.parse('-0') gives -0 back.
    s += Number.isFinite(v) ? (Object.is(v, -0) ? '-0' : String(v)) : 'null';
  }
  return `${s}]`;
}

export interface EpisodeSummary {
  success: boolean;
  outcome: EpisodeOutcomeName;
  /** Why the robot was stopped (interrupted episodes). */
  fault?: string;
  ticks: number;
  start_ns?: bigint;
  end_ns?: bigint;
  /** In the sim: the task's figures when the episode ended (e.g. cube_to_target_m), why it failed. */
  task_outcome?: Record<string, number | boolean>;
}

export interface DecodedMetadata {
  meta: EpisodeMeta;
  format_version: number;
  success: boolean;
  outcome: EpisodeOutcomeName;
  fault?: string;
  ticks: number;
  task_outcome?: Record<string, number | boolean>;
}

export function encodeEpisodeMetadata(meta: EpisodeMeta, summary: EpisodeSummary): Map<string, string> {
  const m = new Map<string, string>([
    ['format_version', EPISODE_FORMAT_VERSION],
    ['robot', meta.robot],
    ['task', meta.task],
    ['seed', String(meta.seed)],
    ['success', String(summary.success)],
    ['outcome', summary.outcome],
    ['ticks', String(summary.ticks)],
    ['control_hz', String(meta.control_hz)],
    ['joint_names', JSON.stringify(meta.joint_names)],
    ['gripper_names', JSON.stringify(meta.gripper_names)],
    ['action_names', JSON.stringify(meta.action_names)],
    ['cameras', JSON.stringify(meta.cameras.map(({ name, width, height }) => ({ name, width, height })))],
    ['topics', JSON.stringify([TOPIC_JOINT_STATE, TOPIC_ACTION, ...meta.cameras.map((c) => cameraTopic(c.name))])],
  ]);
  if (meta.policy !== undefined) m.set('policy', meta.policy);
  if (meta.tick_clock !== undefined) m.set('tick_clock', meta.tick_clock);
  encodeReplayMeta(meta, m);
  if (summary.fault !== undefined) m.set('fault', summary.fault);
  if (summary.task_outcome !== undefined) m.set('task_outcome', JSON.stringify(summary.task_outcome));
  if (summary.start_ns !== undefined) m.set('start_time_ns', String(summary.start_ns));
  if (summary.end_ns !== undefined) m.set('end_time_ns', String(summary.end_ns));
  return m;
}

/** Parses the metadata map back; throws Error whose message says which key is wrong. */
export function decodeEpisodeMetadata(m: ReadonlyMap<string, string>): DecodedMetadata {
  const get = (key: string): string => {
    const v = m.get(key);
    if (v === undefined) throw new Error(`key "${key}" is missing`);
    return v;
  };
  const version = m.get('format_version') ?? '1';
  if (!(READABLE_FORMAT_VERSIONS as readonly string[]).includes(version)) {
    throw new Error(
      `format_version is "${version}", this reader understands ${READABLE_FORMAT_VERSIONS.join(' and ')} ` +
        '(a newer vla-runtime wrote it?)',
    );
  }
  const num = (key: string, ok: (n: number) => boolean, what: string): number => {
    const s = get(key);
    const n = s.trim() === '' ? NaN : Number(s);
    if (!ok(n)) throw new Error(`"${key}" is ${JSON.stringify(s)}, expected ${what}`);
    return n;
  };
  const json = (key: string): unknown => {
    try {
      return JSON.parse(get(key));
    } catch (err) {
      if (err instanceof SyntaxError) throw new Error(`"${key}" is not valid JSON`);
      throw err;
    }
  };
  const names = (key: string): string[] => {
    const v = json(key);
    if (!isStringArray(v)) throw new Error(`"${key}" is not a JSON array of strings`);
    return v;
  };
  const successText = get('success');
  if (successText !== 'true' && successText !== 'false') {
    throw new Error(`"success" is ${JSON.stringify(successText)}, expected "true" or "false"`);
  }
  const cameras = json('cameras');
  if (!Array.isArray(cameras) || !cameras.every(isCameraInfo)) {
    throw new Error('"cameras" is not a JSON array of {name, width, height}');
  }
  const meta: EpisodeMeta = {
    robot: get('robot'),
    task: get('task'),
    seed: num('seed', Number.isFinite, 'a number'),
    control_hz: num('control_hz', (n) => Number.isFinite(n) && n > 0, 'a positive number'),
    joint_names: names('joint_names'),
    gripper_names: names('gripper_names'),
    action_names: names('action_names'),
    cameras: cameras.map(({ name, width, height }) => ({ name, width, height })),
  };
  const policy = m.get('policy');
  if (policy !== undefined) meta.policy = policy;
  const clock = m.get('tick_clock');
  if (clock !== undefined) meta.tick_clock = oneOf('tick_clock', clock, TICK_CLOCKS);
  Object.assign(meta, decodeReplayMeta(m));
  const ticks = num('ticks', (n) => Number.isSafeInteger(n) && n >= 0, 'a tick count');
  const success = successText === 'true';
  // format 1 knew only success and failure
  const outcomeText = m.get('outcome');
  const outcome =
    outcomeText === undefined ? (success ? 'success' : 'failure') : oneOf('outcome', outcomeText, EPISODE_OUTCOMES);
  if ((outcome === 'success') !== success) {
    throw new Error(`"outcome" is "${outcome}" but "success" is "${successText}"`);
  }
  const fault = m.get('fault');
  const task_outcome = m.has('task_outcome') ? json('task_outcome') : undefined;
  if (task_outcome !== undefined && !isFigures(task_outcome))
    throw new Error('"task_outcome" is not a JSON object of numbers and true/false');
  return {
    meta,
    format_version: Number(version),
    success,
    outcome,
    ...(fault !== undefined ? { fault } : {}),
    ticks,
    ...(task_outcome !== undefined ? { task_outcome } : {}),
  };
}

/** A task's figures as recordings keep them: an object of finite numbers and true/false. */
export function isFigures(v: unknown): v is Record<string, number | boolean> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v).every((x) => typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x)));
}

function oneOf<T extends string>(key: string, value: string, valid: readonly T[]): T {
  if (!(valid as readonly string[]).includes(value))
    throw new Error(`"${key}" is ${JSON.stringify(value)}, expected one of ${valid.join(', ')}`);
  return value as T;
}

export function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

const isPositiveInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

export function isCameraInfo(v: unknown): v is CameraInfo {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return typeof c.name === 'string' && CAMERA_NAME_RE.test(c.name) && isPositiveInt(c.width) && isPositiveInt(c.height);
}
