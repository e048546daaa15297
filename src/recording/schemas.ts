// Topics, JSON schemas and the episode metadata map. Everything is JSON + jsonschema because that is
// the one encoding Foxglove Studio opens without a schema compiler, and it keeps files greppable.
import type { CameraInfo, EpisodeMeta } from './episode-writer.js';

export const TOPIC_JOINT_STATE = '/joint_state';
export const TOPIC_ACTION = '/action';
export const cameraTopic = (camera: string): string => `/camera/${camera}/compressed`;

export const MESSAGE_ENCODING = 'json';
export const SCHEMA_ENCODING = 'jsonschema';
export const EPISODE_METADATA_NAME = 'vla.episode';
/** Bumped when the layout changes incompatibly, so an old reader refuses instead of misreading. */
export const EPISODE_FORMAT_VERSION = '1';
export const MCAP_LIBRARY = 'vla-runtime recording (@mcap/core)';

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

// Must match Foxglove's own foxglove.CompressedImage JSON schema so the Image panel picks it up.
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
  ticks: number;
  start_ns?: bigint;
  end_ns?: bigint;
}

export function encodeEpisodeMetadata(meta: EpisodeMeta, summary: EpisodeSummary): Map<string, string> {
  const m = new Map<string, string>([
    ['format_version', EPISODE_FORMAT_VERSION],
    ['robot', meta.robot],
    ['task', meta.task],
    ['seed', String(meta.seed)],
    ['success', String(summary.success)],
    ['ticks', String(summary.ticks)],
    ['control_hz', String(meta.control_hz)],
    ['joint_names', JSON.stringify(meta.joint_names)],
    ['gripper_names', JSON.stringify(meta.gripper_names)],
    ['action_names', JSON.stringify(meta.action_names)],
    ['cameras', JSON.stringify(meta.cameras.map(({ name, width, height }) => ({ name, width, height })))],
    ['topics', JSON.stringify([TOPIC_JOINT_STATE, TOPIC_ACTION, ...meta.cameras.map((c) => cameraTopic(c.name))])],
  ]);
  if (meta.policy !== undefined) m.set('policy', meta.policy);
  if (summary.start_ns !== undefined) m.set('start_time_ns', String(summary.start_ns));
  if (summary.end_ns !== undefined) m.set('end_time_ns', String(summary.end_ns));
  return m;
}

/** Parses the metadata map back; throws Error whose message says which key is wrong. */
export function decodeEpisodeMetadata(m: ReadonlyMap<string, string>): {
  meta: EpisodeMeta;
  success: boolean;
  ticks: number;
} {
  const get = (key: string): string => {
    const v = m.get(key);
    if (v === undefined) throw new Error(`key "${key}" is missing`);
    return v;
  };
  const version = m.get('format_version');
  if (version !== undefined && version !== EPISODE_FORMAT_VERSION) {
    throw new Error(`format_version is "${version}", this reader understands "${EPISODE_FORMAT_VERSION}"`);
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
  const ticks = num('ticks', (n) => Number.isSafeInteger(n) && n >= 0, 'a tick count');
  return { meta, success: successText === 'true', ticks };
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
