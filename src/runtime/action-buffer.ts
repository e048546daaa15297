// The action buffer: where chunks land and the control loop drains. UAC-style: a chunk computed from
// the observation of tick k_obs, arriving when the control loop has executed tick k_now, loses its
// actions for ticks <= k_now (they belong to time already passed); the rest replace or blend with what
// the buffer holds for the same ticks. With a fixed per-robot delay d, the first d actions after the
// observation are always dropped, whenever the chunk arrives.
import type { ActionChunk } from '../policy/policy.js';
import { type ActionRing, H_LAST_CHUNK } from './action-ring.js';

export const BLEND_MODES = ['replace', 'ensemble', 'average'] as const;
export type BlendMode = (typeof BLEND_MODES)[number];

export interface ActionBufferOptions {
  blend: BlendMode;
  /** ACT temporal ensembling: the i-th prediction for a tick (0 = oldest) weighs exp(-m i). Default 0.01. */
  ensemble_m?: number;
  /** `average`: weight of what the buffer already holds where chunks overlap. Default 0.3 (new 0.7). */
  average_old_weight?: number;
  /** UAC's per-robot delay d in ticks; undefined = drop by the measured arrival tick only. */
  fixed_delay_ticks?: number;
}

export interface InsertResult {
  /** First tick the chunk now supplies (-1 if it supplied none). */
  start_tick: number;
  /** Actions of the chunk dropped because their tick had passed (or was inside the fixed delay). */
  dropped: number;
  used: number;
  /** Arrived after the tick it was due (fixed delay), or too late to supply anything (measured). */
  late: boolean;
}

export interface BufferStats {
  chunks: number;
  late_chunks: number;
  /** Late chunks that had nothing left to supply. */
  discarded_chunks: number;
  dropped_prefix_actions: number;
}

export class ActionBuffer {
  readonly stats: BufferStats = { chunks: 0, late_chunks: 0, discarded_chunks: 0, dropped_prefix_actions: 0 };
  private readonly m: number;
  private readonly oldWeight: number;
  private nextChunkId = 1;
  private readonly scratch: Float64Array;

  constructor(
    private readonly ring: ActionRing,
    readonly opts: ActionBufferOptions,
  ) {
    this.scratch = new Float64Array(ring.dim);
    this.m = opts.ensemble_m ?? 0.01;
    this.oldWeight = opts.average_old_weight ?? 0.3;
    if (
      opts.fixed_delay_ticks !== undefined &&
      (!Number.isInteger(opts.fixed_delay_ticks) || opts.fixed_delay_ticks < 0)
    ) {
      throw new Error(`fixed delay must be a whole number of ticks >= 0, got ${opts.fixed_delay_ticks}`);
    }
  }

  get dim(): number {
    return this.ring.dim;
  }

  /** Insert a chunk that arrived after the control loop executed tick `k_now`. */
  insert(chunk: ActionChunk, k_now: number): InsertResult {
    if (chunk.dim !== this.ring.dim)
      throw new Error(`chunk has ${chunk.dim} values per action, the robot takes ${this.ring.dim}`);
    if (chunk.horizon > this.ring.capacity / 2)
      throw new Error(`chunk of ${chunk.horizon} actions is too long for a ring of ${this.ring.capacity} ticks`);
    this.stats.chunks++;
    const first = chunk.first_tick;
    const last = first + chunk.horizon - 1;
    let start = k_now + 1;
    let late = false;
    const d = this.opts.fixed_delay_ticks;
    if (d !== undefined) {
      const due = chunk.obs_tick + d + 1;
      late = start > due;
      start = Math.max(start, due);
    }
    start = Math.max(start, first);
    if (start > last) {
      this.stats.late_chunks++;
      this.stats.discarded_chunks++;
      this.stats.dropped_prefix_actions += chunk.horizon;
      return { start_tick: -1, dropped: chunk.horizon, used: 0, late: true };
    }
    if (late) this.stats.late_chunks++;
    const dropped = start - first;
    this.stats.dropped_prefix_actions += dropped;
    const id = this.nextChunkId++;
    // before the actions: a tick that reads an action of this chunk finds its features
    if (chunk.features) this.ring.writeFeatures(id, chunk.features);
    Atomics.store(this.ring.header, H_LAST_CHUNK, id);
    const D = this.ring.dim;
    const old = this.scratch;
    for (let t = start; t <= last; t++) {
      const row = (t - first) * D;
      switch (this.opts.blend) {
        case 'replace':
          this.ring.write(t, chunk.actions, row, id, 1, false, t - first);
          break;
        case 'ensemble':
          // the i-th prediction for this tick (0 = the oldest) weighs exp(-m i), as in ACT
          this.ring.write(t, chunk.actions, row, id, Math.exp(-this.m * this.ring.predictions(t)), true, t - first);
          break;
        case 'average':
          if (this.ring.has(t)) {
            this.ring.peek(t, old);
            for (let j = 0; j < D; j++)
              old[j] = this.oldWeight * old[j] + (1 - this.oldWeight) * chunk.actions[row + j];
            this.ring.write(t, old, 0, id, 1, false, t - first);
          } else {
            this.ring.write(t, chunk.actions, row, id, 1, false, t - first);
          }
          break;
      }
    }
    return { start_tick: start, dropped, used: last - start + 1, late };
  }

  /** How many consecutive ticks after `k_now` have an action waiting. */
  remaining(k_now: number): number {
    let n = 0;
    while (n < this.ring.capacity && this.ring.has(k_now + 1 + n)) n++;
    return n;
  }

  /**
   * The actions already committed for ticks k_obs+1 .. k_obs+max, for prefix-conditioned models: only
   * the contiguous run the buffer holds (count may be less than max).
   */
  committed(k_obs: number, max: number): { actions: Float32Array; count: number } {
    const D = this.ring.dim;
    const actions = new Float32Array(max * D);
    let count = 0;
    while (count < max && this.ring.has(k_obs + 1 + count)) {
      this.ring.peek(k_obs + 1 + count, actions, count * D);
      count++;
    }
    return { actions, count };
  }
}
