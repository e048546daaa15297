// A recorded episode seen the way evaluation needs it: rows by tick, the action executed at each tick, and
// per camera the frame a policy would have seen at a tick. Recording semantics (README, Recordings; the
// recorder in runtime-types.ts): row k holds the state measured after tick k's command, the frames showing
// that state, and the command computed from it, which the robot executed at tick k + 1. So the observation
// of tick k is row k, and the action executed at tick t is row t - 1's (what vla-train fits, batches.ts).
import type { Episode, EpisodeFrames } from '../../recording/index.js';
import type { ActionTargets } from './metrics.js';

export class EpisodeView implements ActionTargets {
  readonly dim: number;
  readonly rows: number;
  readonly first_tick: number;
  readonly last_tick: number;
  readonly action: Float64Array;
  /** Per camera: for each row, the index of the latest frame at or before its tick (-1: none yet). */
  private readonly frameAt = new Map<string, Int32Array>();
  /** tick - first_tick -> row (-1: no row; real-time recordings are contiguous, but nothing here assumes it). */
  private readonly rowAt: Int32Array;

  constructor(readonly episode: Episode) {
    this.dim = episode.meta.action_names.length;
    this.rows = episode.ticks;
    this.action = episode.action;
    this.first_tick = this.rows > 0 ? episode.tick[0] : 0;
    this.last_tick = this.rows > 0 ? episode.tick[this.rows - 1] : -1;
    this.rowAt = new Int32Array(Math.max(0, this.last_tick - this.first_tick + 1)).fill(-1);
    for (let r = 0; r < this.rows; r++) this.rowAt[episode.tick[r] - this.first_tick] = r;
    for (const [name, f] of Object.entries(episode.frames)) this.frameAt.set(name, latestFrameIndex(episode.tick, f));
  }

  rowOfTick(tick: number): number {
    const i = tick - this.first_tick;
    return i >= 0 && i < this.rowAt.length ? this.rowAt[i] : -1;
  }

  rowOfActionFor(tick: number): number {
    return this.rowOfTick(tick - 1);
  }

  /** The frame of `camera` a policy sees at row `row` (the latest at or before it), or undefined. */
  frame(camera: string, row: number): { rgb: Uint8Array; width: number; height: number; tick: number } | undefined {
    const at = this.frameAt.get(camera);
    const f = this.episode.frames[camera];
    if (!at || !f) return undefined;
    const j = at[row];
    return j < 0 ? undefined : { rgb: f.rgb[j], width: f.width, height: f.height, tick: f.tick[j] };
  }

  /** The first row at which every camera in `cameras` has shown a frame (rows before have nothing to see). */
  firstRowWithFrames(cameras: readonly string[]): number {
    let first = 0;
    for (const c of cameras) {
      const at = this.frameAt.get(c);
      if (!at) return this.rows;
      let r = 0;
      while (r < at.length && at[r] < 0) r++;
      first = Math.max(first, r);
    }
    return first;
  }
}

function latestFrameIndex(ticks: Int32Array, f: EpisodeFrames): Int32Array {
  const out = new Int32Array(ticks.length);
  for (let row = 0, j = -1; row < ticks.length; row++) {
    while (j + 1 < f.tick.length && f.tick[j + 1] <= ticks[row]) j++;
    out[row] = j;
  }
  return out;
}
