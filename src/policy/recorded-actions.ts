// A policy that plays commands known in advance, tick by tick: the recorded commands of an episode (vla-replay
// sim --actions recorded), or an ease-in to a recording's first pose followed by its commands (vla-replay robot).
// It goes through the same engine, buffer and safety filter as any policy, and like the scripted experts it
// starts each chunk at the tick the runtime says it will land (first_tick_hint), so every command is played at
// its own tick. Before the track's first tick it serves nothing: the runtime holds the pose it started in, as it
// did while the recorded run waited for its first chunk.
//
// Chunks are float32 (the policy contract) and recorded commands are float64. Most recorded commands came out of
// a float32 chunk and are exact; one the safety filter clamped (a step cap, a limit) is a float64 sum. For those,
// of the two float32 values either side, the one the filter turns back into the recorded command is served, so
// the replay sends it bit for bit. Only commands of neither kind (a blend of chunks) can differ, by at most half
// a float32 step (6e-8 rad at 1 rad); the replay counts them.
import type { ActionChunk, Observation, Policy, PolicyDescription } from './policy.js';

/** Commands by control tick. */
export interface CommandTrack {
  /** The first tick served; ticks before it are the runtime's to hold. */
  readonly start_tick: number;
  /** Writes the command for tick t into `out`; false where there is none (before the track begins). */
  command(t: number, out: Float64Array): boolean;
}

/** The safety filter's limit(target, last, out), or any function that behaves as it does. */
export type LimitFn = (target: Float64Array, last: Float64Array, out: Float64Array) => void;

export interface RecordedActionsOptions {
  name: string;
  dim: number;
  control_hz: number;
  /** Ticks per chunk (default 50). */
  horizon?: number;
  /** The track of an episode, made at its first call from that observation (the pose a robot replay starts at). */
  track: (obs: Observation) => CommandTrack;
  /** What the runtime's safety filter does to a command: lets clamped commands be served so they come out exact. */
  limit?: LimitFn;
}

const DEFAULT_HORIZON = 50;

export class RecordedActionsPolicy implements Policy {
  private track: CommandTrack | undefined;
  private readonly horizon: number;
  private readonly c: Float64Array;
  private readonly p: Float64Array;
  private readonly pick: Float32Picker;

  constructor(private readonly opts: RecordedActionsOptions) {
    this.horizon = opts.horizon ?? DEFAULT_HORIZON;
    this.c = new Float64Array(opts.dim);
    this.p = new Float64Array(opts.dim);
    this.pick = new Float32Picker(opts.dim, opts.limit);
  }

  describe(): PolicyDescription {
    return {
      name: this.opts.name,
      kind: 'diagnostic',
      horizon: this.horizon,
      action_dim: this.opts.dim,
      action_offset: 1,
      cameras: [],
      control_hz: this.opts.control_hz,
      max_committed: 0,
    };
  }

  /** The track of the episode under way (undefined before its first call). */
  get current(): CommandTrack | undefined {
    return this.track;
  }

  reset(): void {
    this.track = undefined;
  }

  async infer(obs: Observation): Promise<ActionChunk> {
    const t0 = performance.now();
    this.track ??= this.opts.track(obs);
    const track = this.track;
    const first = Math.max(obs.tick + 1, obs.first_tick_hint ?? obs.tick + 1, track.start_tick);
    const D = this.opts.dim;
    const actions = new Float32Array(this.horizon * D);
    for (let r = 0; r < this.horizon; r++) {
      const t = first + r;
      if (!track.command(t, this.c)) throw new Error(`the track has no command for tick ${t}`);
      const prev = track.command(t - 1, this.p) ? this.p : undefined;
      this.pick.serve(this.c, prev, actions, r * D);
    }
    return {
      obs_tick: obs.tick,
      first_tick: first,
      horizon: this.horizon,
      dim: D,
      actions,
      infer_ms: performance.now() - t0,
    };
  }

  async close(): Promise<void> {}
}

/** Float32 values that the safety filter turns into the wanted float64 commands, where such values exist. */
export class Float32Picker {
  private readonly down: Float64Array;
  private readonly up: Float64Array;
  private readonly outDown: Float64Array;
  private readonly outUp: Float64Array;

  constructor(
    dim: number,
    private readonly limit: LimitFn | undefined,
  ) {
    this.down = new Float64Array(dim);
    this.up = new Float64Array(dim);
    this.outDown = new Float64Array(dim);
    this.outUp = new Float64Array(dim);
  }

  /** Writes what to serve for command `c` (previous command `prev`) into out[offset..]. */
  serve(c: Float64Array, prev: Float64Array | undefined, out: Float32Array, offset: number): void {
    let exact = true;
    for (let i = 0; i < c.length; i++) {
      const f = Math.fround(c[i]);
      this.down[i] = f <= c[i] ? f : nextFloat32(f, -1);
      this.up[i] = f >= c[i] ? f : nextFloat32(f, 1);
      if (f !== c[i]) exact = false;
    }
    if (!exact && prev && this.limit) {
      this.limit(this.down, prev, this.outDown);
      this.limit(this.up, prev, this.outUp);
    }
    const filtered = !exact && prev !== undefined && this.limit !== undefined;
    for (let i = 0; i < c.length; i++) {
      const f = Math.fround(c[i]);
      if (f === c[i] || !filtered) out[offset + i] = f;
      else if (this.outDown[i] === c[i]) out[offset + i] = this.down[i];
      else if (this.outUp[i] === c[i]) out[offset + i] = this.up[i];
      else out[offset + i] = f; // no float32 gives it back: the nearest (the replay counts such commands)
    }
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 next to float32 `x` towards +Infinity (dir 1) or -Infinity (dir -1). */
export function nextFloat32(x: number, dir: 1 | -1): number {
  if (Number.isNaN(x) || x === dir * Infinity) return x;
  if (x === 0) return dir * 2 ** -149;
  f32[0] = x;
  // away from zero the bits grow, towards zero they shrink
  if (x > 0 === dir > 0) u32[0]++;
  else u32[0]--;
  return f32[0];
}
