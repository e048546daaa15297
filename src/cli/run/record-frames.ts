// Camera frames for --record in real time, and the queue that puts each frame in the row of its tick.
// Nothing here runs on the control thread: the control loop only answers observation requests (at most one
// per tick, as it does for the policy), and rendering, resizing, encoding and writing happen here.
//  - the embedded sim (sceneFrames): the scene's pose after tick k comes with the observation of tick k and is
//    rendered at the recording size by a camera rig of this thread's own, as fast as this thread manages (every
//    tick or every few); the frame lands in tick k's row, so a frame shows exactly the state recorded beside it;
//  - a robot's cameras (worldFrames): at each recorded tick, the newest frame of each camera if it is new since
//    the last one recorded (cameras run at their own rate), resized to the recording size as the policy's
//    pre-processing does (bilinear, stretched to the square).
// Ticks without a frame of their own have none in the file; a reader takes the latest frame at or before a tick.
import { SimCameraRig } from '../../../sim/camera-rig.js';
import type { SimOptions } from '../../../sim/sim-env.js';
import { buildResizeMap, type ResizeMap } from '../../policy/onnx/preprocess.js';
import type { CameraImage } from '../../policy/policy.js';
import type { EpisodeWriter, RecordedFrame } from '../../recording/index.js';
import type { ObservationMessage } from '../../runtime/control/protocol.js';
import type { WorldLink } from '../../runtime/world-link.js';

/** One tick's row, copied out of the engine's reused views. */
export interface QueuedTick {
  tick: number;
  /** When the tick executed (monotonic ms, or the virtual clock's). */
  t_ms: number;
  position_rad: Float64Array;
  velocity_rad_s: Float64Array;
  gripper: Float64Array;
  action: Float64Array;
}

export interface FrameSink {
  /** Frames showing the scene of `tick` (ticks increase from call to call). */
  frames(tick: number, frames: RecordedFrame[]): void;
}

export interface FrameSource {
  /** Before the first episode: set up what rendering needs (not to lose its first ticks to a start-up). */
  prepare?(): Promise<void>;
  /** Deliver frames for one episode until stop(); or give them tick by tick from onTick. */
  start(
    cameras: string[],
    size: number,
    sink: FrameSink,
  ): { stop(): Promise<void>; onTick?(tick: number): RecordedFrame[] | undefined };
  close?(): Promise<void>;
}

/** Rows wait here (up to a second) for their tick's frame; a frame for a later tick lets the ones before go. */
const MAX_WAITING_TICKS = 50;

export class FrameQueue implements FrameSink {
  frames_written = 0;
  private readonly waiting: QueuedTick[] = [];
  private readonly byTick = new Map<number, RecordedFrame[]>();
  private newestFrame = -1;
  private lastWritten = -1;
  private t0_ms: number | undefined;
  private wall0_ns = 0n;
  private lastStamp = -1n;
  private writes: Promise<void> = Promise.resolve();
  /** The first write that failed (a full disk, an I/O error): no row is written after it. */
  failed: unknown;
  /** Set by the recorder: frames of a tick asked of a tick-by-tick source. */
  onTick: ((tick: number) => RecordedFrame[] | undefined) | undefined;
  /** Set by the recorder: told once, when the first write fails (the run goes on without the file). */
  onFailure: ((err: unknown) => void) | undefined;

  constructor(
    private readonly writer: EpisodeWriter,
    private readonly size: number,
  ) {}

  /** A tick's row; `frames` when they were rendered with it (the virtual clock), else they come later or never. */
  tick(t: QueuedTick, frames?: RecordedFrame[]): void {
    const polled = this.onTick?.(t.tick);
    if (frames !== undefined || polled !== undefined) {
      this.write(t, frames ?? polled!);
      return;
    }
    this.waiting.push(t);
    this.pump();
  }

  frames(tick: number, frames: RecordedFrame[]): void {
    if (tick <= this.lastWritten) return; // its row went without (it waited too long)
    this.byTick.set(
      tick,
      frames.map((f) => ({ ...f, rgb: f.rgb.slice() })),
    );
    this.newestFrame = Math.max(this.newestFrame, tick);
    this.pump();
  }

  /** Writes every row still waiting (with its frames if they came) and waits for the file; see `failed`. */
  async finish(): Promise<void> {
    this.pump(true);
    await this.writes;
  }

  private pump(all = false): void {
    while (this.waiting.length > 0) {
      const t = this.waiting[0];
      const frames = this.byTick.get(t.tick);
      if (!frames && !all && t.tick > this.newestFrame && this.waiting.length <= MAX_WAITING_TICKS) return;
      this.waiting.shift();
      this.byTick.delete(t.tick);
      this.write(t, frames ?? []);
    }
  }

  private write(t: QueuedTick, frames: RecordedFrame[]): void {
    this.lastWritten = t.tick;
    if (this.failed !== undefined) return;
    const kept = frames.filter((f) => f.width === this.size && f.height === this.size);
    const write = this.writer.writeTick({
      tick: t.tick,
      stamp_ns: this.stamp(t),
      t_mono_ms: t.t_ms,
      position_rad: t.position_rad,
      velocity_rad_s: t.velocity_rad_s,
      gripper: t.gripper,
      action: t.action,
      frames: kept,
    });
    this.frames_written += kept.length;
    this.writes = this.writes
      .then(() => write)
      .catch((e: unknown) => {
        if (this.failed !== undefined) return;
        this.failed = e;
        this.onFailure?.(e);
      });
  }

  /** Log time: wall time at the first tick plus the tick's actual time since then (ns), strictly increasing. */
  private stamp(t: QueuedTick): bigint {
    const dt_ms = 1000 / this.writer.meta.control_hz;
    const ms = Number.isFinite(t.t_ms) ? t.t_ms : t.tick * dt_ms;
    if (this.t0_ms === undefined) {
      this.t0_ms = ms;
      this.wall0_ns = BigInt(Date.now()) * 1_000_000n;
    }
    let s = this.wall0_ns + BigInt(Math.round((ms - this.t0_ms) * 1e6));
    if (s <= this.lastStamp) s = this.lastStamp + 1n;
    this.lastStamp = s;
    return s;
  }
}

/** The embedded sim in real time: render the scene of each observation the control thread answers. */
export function sceneFrames(observe: () => Promise<ObservationMessage>, sim: SimOptions): FrameSource {
  let rig: Promise<SimCameraRig> | undefined;
  const getRig = () => {
    rig ??= SimCameraRig.create(sim);
    return rig;
  };
  return {
    async prepare() {
      await getRig();
    },
    start(cameras, size, sink) {
      let stopped = false;
      let wake = () => {};
      const stopping = new Promise<undefined>((r) => {
        wake = () => r(undefined);
      });
      const want = cameras.map((name) => ({ name, size }));
      const loop = (async () => {
        const r = await getRig();
        while (!stopped) {
          // unanswered between episodes: stop() wakes this up, the request is left to the next observation
          const m = await Promise.race([observe(), stopping]);
          if (!m || stopped) break;
          if (!m.snapshot) continue;
          const images = r.render(m.snapshot, want);
          sink.frames(
            m.tick,
            images.map((i) => ({ camera: i.name, width: i.width, height: i.height, rgb: i.rgb })),
          );
        }
      })();
      return {
        async stop() {
          stopped = true;
          wake();
          await loop;
        },
      };
    },
    async close() {
      if (rig) (await rig).dispose();
    },
  };
}

/** World links that show their cameras' newest frames whatever the observation (ROS topics, the sim link). */
const ANY_OBSERVATION: ObservationMessage = {
  type: 'observation',
  tick: 0,
  t_mono_ms: Number.NaN,
  position_rad: new Float64Array(0),
  gripper: new Float64Array(0),
};

/** A robot's cameras as a world link shows them (a UR cell's topics, the emulator's sim link). */
export function worldFrames(link: WorldLink): FrameSource {
  return {
    start(cameras, size) {
      const last = new Map<string, number>();
      const maps = new Map<string, ResizeMap>();
      const want = cameras.map((name) => ({ name, size }));
      return {
        async stop() {},
        onTick() {
          const images = link.view(ANY_OBSERVATION, want).images;
          const fresh = images.filter((img) => cameras.includes(img.name) && last.get(img.name) !== img.t_mono_ms);
          for (const img of fresh) last.set(img.name, img.t_mono_ms);
          return fresh.map((img) => ({ camera: img.name, width: size, height: size, rgb: resized(img, size, maps) }));
        },
      };
    },
  };
}

/** Bilinear, stretched to size x size, as the ONNX pre-processing resizes (a copy in any case). */
function resized(img: CameraImage, size: number, maps: Map<string, ResizeMap>): Uint8Array {
  if (img.width === size && img.height === size) return img.rgb.slice();
  let m = maps.get(img.name);
  if (!m || m.srcW !== img.width || m.srcH !== img.height) {
    m = buildResizeMap(img.width, img.height, size, size);
    maps.set(img.name, m);
  }
  const out = new Uint8Array(size * size * 3);
  const src = img.rgb;
  for (let y = 0, o = 0; y < size; y++) {
    const r0 = m.y0[y],
      r1 = m.y1[y],
      wy = m.wy[y];
    for (let x = 0; x < size; x++) {
      const c0 = m.x0[x],
        c1 = m.x1[x],
        wx = m.wx[x];
      for (let c = 0; c < 3; c++, o++) {
        const top = src[r0 + c0 + c] * (1 - wx) + src[r0 + c1 + c] * wx;
        const bottom = src[r1 + c0 + c] * (1 - wx) + src[r1 + c1 + c] * wx;
        out[o] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return out;
}
