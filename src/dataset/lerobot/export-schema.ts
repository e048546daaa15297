// What an export of our episodes declares: the features of info.json and how each becomes a data column. Taken
// from the first episode; every other episode must match it (one robot, one rate, the same cameras and sizes).
// LeRobot's loader casts each data column to the type its feature says (get_hf_features_from_features): shape [1]
// is a scalar column, shape [n] a list of n, so a one-gripper robot's vla.gripper is a scalar column.
import type { Episode } from '../../recording/episode-reader.js';
import type { CameraInfo } from '../../recording/episode-writer.js';
import { DEFAULT_FEATURES, type FeatureSpec } from './layout.js';
import type { LeafType } from './parquet.js';
import { CODEC_SETTINGS, type VideoCodecName } from './video.js';
import { VLA_COLUMNS } from './vla-fields.js';

export const STATE_FEATURE = 'observation.state';
export const ACTION_FEATURE = 'action';
export const cameraFeature = (camera: string): string => `observation.images.${camera}`;

export interface ExportSchema {
  robot: string;
  fps: number;
  joint_names: string[];
  gripper_names: string[];
  action_names: string[];
  cameras: CameraInfo[];
  /** observation.state's names, and for each a joint (>= 0) or gripper (-1 - g) index. */
  state_names: string[];
  state_source: Int32Array;
}

/** The episode that does not fit the export's schema, and how. */
export class SchemaMismatch extends Error {}

export function schemaOf(ep: Episode): ExportSchema {
  const m = ep.meta;
  if (!Number.isInteger(m.control_hz)) {
    throw new SchemaMismatch(`control_hz ${m.control_hz} is not a whole number; LeRobot's fps is an integer`);
  }
  // the state in the robot's action layout when the action names say it (per arm: joints, gripper), as a policy
  // trained with LeRobot reads it; else joints then grippers
  const byAction = m.action_names.map((n) => {
    const j = m.joint_names.indexOf(n);
    return j >= 0 ? j : m.gripper_names.includes(n) ? -1 - m.gripper_names.indexOf(n) : undefined;
  });
  const layout = byAction.length === m.joint_names.length + m.gripper_names.length && !byAction.includes(undefined);
  return {
    robot: m.robot,
    fps: m.control_hz,
    joint_names: [...m.joint_names],
    gripper_names: [...m.gripper_names],
    action_names: [...m.action_names],
    cameras: m.cameras.map(({ name, width, height }) => ({ name, width, height })),
    state_names: layout ? [...m.action_names] : [...m.joint_names, ...m.gripper_names],
    state_source: layout
      ? Int32Array.from(byAction as number[])
      : Int32Array.from([...m.joint_names.map((_, j) => j), ...m.gripper_names.map((_, g) => -1 - g)]),
  };
}

/** Why `ep` cannot go into a dataset of `schema`, or undefined. */
export function mismatch(schema: ExportSchema, ep: Episode): string | undefined {
  const m = ep.meta;
  const list = (a: readonly string[]) => a.join(', ');
  if (m.robot !== schema.robot) return `recorded on ${m.robot}, the first episode on ${schema.robot}`;
  if (m.control_hz !== schema.fps) return `recorded at ${m.control_hz} Hz, the first episode at ${schema.fps} Hz`;
  for (const k of ['joint_names', 'gripper_names', 'action_names'] as const) {
    if (list(m[k]) !== list(schema[k])) return `${k} ${list(m[k])}, the first episode's ${list(schema[k])}`;
  }
  const cams = (c: readonly CameraInfo[]) => c.map((x) => `${x.name} ${x.width}x${x.height}`).join(', ') || 'none';
  if (cams(m.cameras) !== cams(schema.cameras)) {
    return `cameras ${cams(m.cameras)}, the first episode's ${cams(schema.cameras)}`;
  }
  return undefined;
}

export interface DataColumn {
  feature: string;
  leaf: LeafType;
  width: number;
}

/** The data columns in info.json's order (video features have none: their frames are in the mp4 files). */
export function dataColumns(s: ExportSchema): DataColumn[] {
  const A = s.action_names.length;
  const J = s.joint_names.length;
  return [
    { feature: STATE_FEATURE, leaf: 'FLOAT', width: s.state_names.length },
    { feature: ACTION_FEATURE, leaf: 'FLOAT', width: A },
    { feature: VLA_COLUMNS.position_rad, leaf: 'DOUBLE', width: J },
    { feature: VLA_COLUMNS.velocity_rad_s, leaf: 'DOUBLE', width: J },
    { feature: VLA_COLUMNS.gripper, leaf: 'DOUBLE', width: s.gripper_names.length },
    { feature: VLA_COLUMNS.action, leaf: 'DOUBLE', width: A },
    { feature: VLA_COLUMNS.tick, leaf: 'INT64', width: 1 },
    { feature: VLA_COLUMNS.stamp_ns, leaf: 'INT64', width: 1 },
    { feature: VLA_COLUMNS.t_mono_ms, leaf: 'DOUBLE', width: 1 },
    { feature: 'timestamp', leaf: 'FLOAT', width: 1 },
    { feature: 'frame_index', leaf: 'INT64', width: 1 },
    { feature: 'episode_index', leaf: 'INT64', width: 1 },
    { feature: 'index', leaf: 'INT64', width: 1 },
    { feature: 'task_index', leaf: 'INT64', width: 1 },
  ];
}

const DTYPES: Record<LeafType, string> = {
  FLOAT: 'float32',
  DOUBLE: 'float64',
  INT64: 'int64',
  STRING: 'string',
  BOOLEAN: 'bool',
};

/** info.json's features: ours first, LeRobot's DEFAULT_FEATURES last, as LeRobotDatasetMetadata.create orders. */
export function infoFeatures(s: ExportSchema, codec: VideoCodecName): Record<string, FeatureSpec> {
  const names: Record<string, string[] | null> = {
    [STATE_FEATURE]: s.state_names,
    [ACTION_FEATURE]: s.action_names,
    [VLA_COLUMNS.position_rad]: s.joint_names,
    [VLA_COLUMNS.velocity_rad_s]: s.joint_names,
    [VLA_COLUMNS.gripper]: s.gripper_names,
    [VLA_COLUMNS.action]: s.action_names,
  };
  const out: Record<string, FeatureSpec> = {};
  const columns = dataColumns(s);
  for (const c of columns.slice(0, 2)) out[c.feature] = vector(c, names[c.feature]);
  const setting = CODEC_SETTINGS[codec];
  for (const cam of s.cameras) {
    out[cameraFeature(cam.name)] = {
      dtype: 'video',
      shape: [cam.height, cam.width, 3],
      names: ['height', 'width', 'channels'],
      // filled in as LeRobot's get_video_info would, so it need not probe the files
      info: {
        'video.height': cam.height,
        'video.width': cam.width,
        'video.codec': setting.codec,
        'video.pix_fmt': setting.pix_fmt,
        'video.is_depth_map': false,
        'video.fps': s.fps,
        'video.channels': 3,
        has_audio: false,
      },
    };
  }
  for (const c of columns.slice(2)) {
    out[c.feature] = c.feature in DEFAULT_FEATURES ? { ...DEFAULT_FEATURES[c.feature] } : vector(c, names[c.feature]);
  }
  return out;
}

function vector(c: DataColumn, names: string[] | null | undefined): FeatureSpec {
  return { dtype: DTYPES[c.leaf], shape: [c.width], names: names ?? null };
}
