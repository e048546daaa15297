// Runs one scripted-expert episode through the sim *driver* (either clock), one action per tick, the
// way a robot would be driven, optionally recording every tick. The buffered runtime (vla-run)
// replaces this loop with its inference thread and action buffer; this is the plain reference.
import type { JointState } from '../drivers/driver.js';
import type { SimDriver } from '../drivers/sim/sim-driver.js';
import type { ScriptedExpert } from './experts/expert.js';
import type { EpisodeWriter, RecordedFrame } from '../src/recording/episode-writer.js';
import type { CameraFrame } from './camera.js';

export interface ExpertEpisodeOptions {
  horizon?: number;
  recorder?: EpisodeWriter;
  /** Cameras rendered into the recording every `frame_every` ticks (default every tick). */
  cameras?: string[];
  camera_size?: number;
  frame_every?: number;
  /** Log time of tick 0 in ns since the epoch (recording stamps are start + tick / rate). */
  start_ns?: bigint;
}

export interface ExpertEpisodeResult {
  seed: number;
  success: boolean;
  ticks: number;
}

export async function runExpertOnDriver(driver: SimDriver, expert: ScriptedExpert, seed: number, opts: ExpertEpisodeOptions = {}): Promise<ExpertEpisodeResult> {
  const horizon = opts.horizon ?? 25;
  const dim = driver.env.action_dim;
  const frames = new Map<string, CameraFrame>();
  const tickNs = BigInt(Math.round(1e9 / driver.env.control_hz));
  const start = opts.start_ns ?? BigInt(Date.now()) * 1_000_000n;
  let chunk: Float64Array | undefined;
  let chunkTick = 0;
  let pending: Promise<void> = Promise.resolve();

  const act = (s: JointState): Float64Array => {
    if (!chunk || s.tick >= chunkTick + horizon) {
      chunk = expert.chunk({ tick: s.tick, position_rad: s.position_rad, gripper: s.gripper, task: driver.taskState() }, horizon);
      chunkTick = s.tick;
    }
    const i = s.tick - chunkTick;
    const action = chunk.subarray(i * dim, (i + 1) * dim);
    // rendered and serialised now, at this state's tick; the file writes are queued behind
    if (opts.recorder) pending = Promise.all([pending, record(s, action)]).then(() => undefined);
    return action;
  };

  const record = (s: JointState, action: Float64Array): Promise<void> => {
    const every = opts.frame_every ?? 1;
    const shots: RecordedFrame[] = [];
    if (opts.cameras && s.tick % every === 0) {
      for (const cam of opts.cameras) {
        const f = driver.render(cam, frames.get(cam), opts.camera_size);
        frames.set(cam, f);
        shots.push({ camera: cam, width: f.width, height: f.height, rgb: f.rgb });
      }
    }
    return opts.recorder!.writeTick({
      tick: s.tick, stamp_ns: start + BigInt(s.tick) * tickNs,
      position_rad: s.position_rad, velocity_rad_s: s.velocity_rad_s, gripper: s.gripper, action, frames: shots,
    });
  };

  let latest: JointState | undefined;
  const sub = driver.state$.subscribe((s) => { latest = s; });
  driver.reset(seed);
  expert.reset(seed);
  try {
    if (driver.clock !== 'realtime') {
      // the clock advances inside send(): a plain loop, no re-entrant callbacks
      while (!driver.done) {
        driver.send(act(latest!));
        await pending;
      }
    } else {
      await new Promise<void>((resolve, reject) => {
        const ticks = driver.state$.subscribe((s) => {
          if (driver.done) { ticks.unsubscribe(); resolve(); return; }
          try { driver.send(act(s)); } catch (e) { ticks.unsubscribe(); reject(e); }
        });
        driver.send(act(latest!));
      });
      await pending;
    }
  } finally {
    sub.unsubscribe();
  }
  return { seed, success: driver.success(), ticks: driver.tick };
}
