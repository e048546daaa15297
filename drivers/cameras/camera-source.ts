// What the runtime gets from any camera: RGB frames stamped with the monotonic time they arrived, so the
// stale-frame guard can measure a frame's age the same way for every source (ROS topic, V4L2 device,
// simulation). A source header's wall-clock stamp is another host's clock and is never used for this.
import type { Observable } from 'rxjs';
import { monotonicMs } from '../../src/util/clock.js';

export interface CameraImage {
  camera: string;
  width: number;
  height: number;
  /** Row-major RGB, 3 bytes per pixel, top row first; a new buffer per frame. */
  rgb: Uint8Array;
  /** Monotonic time (src/util/clock.ts) at which the frame was complete in this process (ms). */
  t_mono_ms: number;
  /** Frames received from this source so far, this one included. */
  seq: number;
}

/** That a frame arrived (its pixels: latest(), which may decode them only then). */
export interface FrameArrival {
  camera: string;
  t_mono_ms: number;
  seq: number;
}

export interface CameraSource {
  readonly name: string;
  readonly frame$: Observable<FrameArrival>;
  /** Resolves with the first frame; rejects with a CameraError saying what is wrong. */
  start(): Promise<CameraImage>;
  stop(): Promise<void>;
  /** The newest frame; undefined before the first one. */
  latest(): CameraImage | undefined;
}

export class CameraError extends Error {}

/** Age of a frame now (ms); Infinity when there is none. */
export function frameAgeMs(frame: CameraImage | undefined, now_ms = monotonicMs()): number {
  return frame ? now_ms - frame.t_mono_ms : Infinity;
}
