// The ROS messages a UR cell exchanges, as rosbridge carries them in JSON, with the ROS 1 / ROS 2
// differences (time fields secs/nsecs vs sec/nanosec, header.seq) in one place. Used by the UR driver
// and by the simulated endpoint, so both sides agree on the wire format by construction.
import type { RosLayout } from './layout.js';

export type RosTime = { sec: number; nanosec: number } | { secs: number; nsecs: number };

export interface Header {
  stamp: RosTime;
  frame_id: string;
  seq?: number;
}

export interface JointStateMsg {
  header: Header;
  name: string[];
  position: number[];
  velocity: number[];
  effort: number[];
}

export interface Float64MultiArrayMsg {
  layout: { dim: { label: string; size: number; stride: number }[]; data_offset: number };
  data: number[];
}

export interface JointTrajectoryMsg {
  header: Header;
  joint_names: string[];
  points: {
    positions: number[];
    velocities: number[];
    accelerations: number[];
    effort: number[];
    time_from_start: RosTime;
  }[];
}

export interface CompressedImageMsg {
  header: Header;
  /** 'png' or 'jpeg' (or the ROS 2 'rgb8; png compressed bgr8' style). */
  format: string;
  /** uint8[]: rosbridge sends it as a base64 string in JSON. */
  data: string | number[];
}

export const MSG_TYPES = {
  joint_state: 'sensor_msgs/JointState',
  float64_multi_array: 'std_msgs/Float64MultiArray',
  float64: 'std_msgs/Float64',
  bool: 'std_msgs/Bool',
  string: 'std_msgs/String',
  joint_trajectory: 'trajectory_msgs/JointTrajectory',
  compressed_image: 'sensor_msgs/CompressedImage',
  trigger: 'std_srvs/Trigger',
} as const;

/** A time or duration in the layout's field names. */
export function rosTime(layout: RosLayout, seconds: number): RosTime {
  const sec = Math.floor(seconds);
  const nanosec = Math.min(999_999_999, Math.round((seconds - sec) * 1e9));
  return layout === 'ros1' ? { secs: sec, nsecs: nanosec } : { sec, nanosec };
}

/** Seconds of a time or duration in either layout's field names; NaN if it is neither. */
export function rosSeconds(t: unknown): number {
  if (typeof t !== 'object' || t === null) return NaN;
  const o = t as Record<string, unknown>;
  const s = o.sec ?? o.secs;
  const ns = o.nanosec ?? o.nsecs ?? 0;
  return typeof s === 'number' && typeof ns === 'number' ? s + ns * 1e-9 : NaN;
}

export function header(layout: RosLayout, wall_s: number, seq = 0, frame_id = ''): Header {
  return layout === 'ros1'
    ? { seq, stamp: rosTime(layout, wall_s), frame_id }
    : { stamp: rosTime(layout, wall_s), frame_id };
}

export function float64MultiArray(data: ArrayLike<number>): Float64MultiArrayMsg {
  return { layout: { dim: [], data_offset: 0 }, data: Array.from(data) };
}

/** A one-point trajectory: reach `positions` `duration_s` after the controller receives it. */
export function onePointTrajectory(
  layout: RosLayout,
  joint_names: string[],
  positions: ArrayLike<number>,
  duration_s: number,
): JointTrajectoryMsg {
  return {
    // a zero stamp means "start now" to the trajectory controllers
    header: header(layout, 0),
    joint_names,
    points: [
      {
        positions: Array.from(positions),
        velocities: [],
        accelerations: [],
        effort: [],
        time_from_start: rosTime(layout, duration_s),
      },
    ],
  };
}

/** An array of finite numbers of length `n` (any length if n is undefined), or an error saying what is wrong. */
export function finiteArray(v: unknown, what: string, n?: number): number[] {
  if (!Array.isArray(v)) throw new Error(`${what} is not an array`);
  if (n !== undefined && v.length !== n) throw new Error(`${what} has ${v.length} values, expected ${n}`);
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'number' || !Number.isFinite(v[i]))
      throw new Error(`${what}[${i}] is not a finite number: ${String(v[i])}`);
  }
  return v as number[];
}

/** uint8[] as rosbridge sends it: a base64 string in JSON (or a plain number array). */
export function uint8Data(data: unknown): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'base64');
  if (Array.isArray(data)) return Uint8Array.from(data as number[]);
  if (data instanceof Uint8Array) return data;
  throw new Error('image data is neither base64 text nor a byte array');
}
