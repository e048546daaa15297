// Which chunk index the robot would really execute at each tick: the runtime's own action buffer (UAC drop,
// blend), in-flight bookkeeping and trigger, driven tick by tick as the episode engine drives them on the
// virtual clock with a fixed latency of d ticks (engine.ts, inline-control.ts):
//   before tick t runs, a chunk asked at tick k with k + d <= t - 1 lands (ActionBuffer.insert, k_now = t - 1);
//   tick t executes the ring's action for exactly tick t (nothing there: startup, or an underrun once armed);
//   then the trigger looks at what is left (shouldInfer on max(remaining, promised by requests out)) and, with
//   no request out, asks for the observation of tick t.
// Safety limits are not applied: this compares what the policy asked for, not what a filter made of it.
import { ActionBuffer, type ActionBufferOptions, type BlendMode } from '../../runtime/action-buffer.js';
import { ActionRing, DEFAULT_RING_TICKS, H_LAST_CHUNK, type SlotRead } from '../../runtime/action-ring.js';
import { InFlight } from '../../runtime/episode/in-flight.js';
import { LatencyEstimator } from '../../runtime/timing/latency-estimator.js';
import { coveredTicks, shouldInfer } from '../../runtime/timing/trigger.js';
import type { BufferState } from './observation.js';

export interface ScheduleParams {
  /** Ticks from asking to landing (the chunk of tick k is usable from tick k + d + 1): vla-run's --delay. */
  delay_ticks: number;
  margin_ticks: number;
  blend: BlendMode;
  horizon: number;
  /** actions[0] of a chunk is for tick obs + offset. */
  offset: number;
  dim: number;
}

export interface ScheduleHooks {
  /** The chunk (horizon x dim) for the observation of `tick`; undefined when the recording cannot give one. */
  chunkAt(tick: number, state: BufferState): Promise<ArrayLike<number> | undefined>;
  /** Tick `tick` executed `action` (blended as the buffer blends), the newest prediction's chunk index (1-based). */
  executed?(tick: number, action: Float64Array, index: number): void;
  /** A landing chunk replaced what the buffer held for `tick`: `old` was there, `next` (at `at`) comes in. */
  seam?(tick: number, old: Float64Array, next: ArrayLike<number>, at: number, first: boolean): void;
}

export interface ScheduleCounts {
  chunks_landed: number;
  ticks_executed: number;
  startup_ticks: number;
  underruns: number;
  /** index_counts[i]: ticks that executed chunk index i + 1. */
  index_counts: number[];
}

interface Request {
  ticket: number;
  obs_tick: number;
  lands_after: number;
  actions: ArrayLike<number>;
}

/** Runs the schedule over ticks `from_tick` (the first observation) .. `to_tick` (the last tick executed). */
export async function runSchedule(
  p: ScheduleParams,
  from_tick: number,
  to_tick: number,
  hooks: ScheduleHooks,
): Promise<ScheduleCounts> {
  const s = new ScheduleState(p);
  const counts: ScheduleCounts = {
    chunks_landed: 0,
    ticks_executed: 0,
    startup_ticks: 0,
    underruns: 0,
    index_counts: new Array(p.horizon).fill(0),
  };
  let pending = await s.ask(from_tick, hooks);
  for (let t = from_tick + 1; t <= to_tick; t++) {
    if (pending && pending.lands_after <= t - 1) {
      if (s.land(pending, t - 1, hooks)) counts.chunks_landed++;
      pending = undefined;
    }
    s.execute(t, counts, hooks);
    if (!pending && s.wantsChunk(t)) pending = await s.ask(t, hooks);
  }
  return counts;
}

class ScheduleState {
  private readonly ring: ActionRing;
  private readonly buffer: ActionBuffer;
  private readonly inFlight = new InFlight(1);
  // the expected delay is the given d (fixed_delay_ticks wins over an estimate of 0): LatencyEstimator only
  // serves buildObservation's first-tick hint, which learned policies ignore
  private readonly latency = new LatencyEstimator({ prior_ms: 0 });
  /** First tick of each landed chunk, by the buffer's chunk id. */
  private readonly firstTickOf = new Map<number, number>();
  private readonly action: Float64Array;
  private readonly slot: SlotRead = { found: false, chunk_id: -1 };
  private armed = false;

  constructor(private readonly p: ScheduleParams) {
    this.ring = ActionRing.create({ capacity: DEFAULT_RING_TICKS, dim: p.dim }, false);
    const opts: ActionBufferOptions = { blend: p.blend, fixed_delay_ticks: p.delay_ticks };
    this.buffer = new ActionBuffer(this.ring, opts);
    this.action = new Float64Array(p.dim);
  }

  /** The engine's trigger (EpisodeEngine.wantsChunk, private there) on the same runtime pieces. */
  wantsChunk(k: number): boolean {
    if (this.inFlight.full) return false;
    const covered = coveredTicks(this.buffer, this.inFlight, k);
    return shouldInfer(covered, this.p.delay_ticks, this.p.margin_ticks);
  }

  async ask(k: number, hooks: ScheduleHooks): Promise<Request | undefined> {
    const state: BufferState = { buffer: this.buffer, latency: this.latency, expected_delay_ticks: this.p.delay_ticks };
    const actions = await hooks.chunkAt(k, state);
    if (!actions) return undefined;
    const ticket = this.inFlight.ask(k, this.p.offset, this.p.horizon);
    return { ticket, obs_tick: k, lands_after: k + this.p.delay_ticks, actions };
  }

  /** The chunk lands after tick `k_now` ran; returns whether it supplied any action. */
  land(r: Request, k_now: number, hooks: ScheduleHooks): boolean {
    this.inFlight.settle(r.ticket);
    if (!this.inFlight.mayLand(r.obs_tick)) return false;
    const { horizon: H, dim: D, offset } = this.p;
    const first = r.obs_tick + offset;
    // what the buffer holds for the chunk's ticks before it lands: the old plan a seam replaces
    const held: (Float64Array | undefined)[] = [];
    for (let i = 0; i < H; i++) held.push(this.heldAt(first + i, k_now));
    const res = this.buffer.insert(
      {
        obs_tick: r.obs_tick,
        first_tick: first,
        horizon: H,
        dim: D,
        actions: Float32Array.from(r.actions),
        infer_ms: 0,
      },
      k_now,
    );
    if (res.start_tick < 0) return false;
    this.firstTickOf.set(Atomics.load(this.ring.header, H_LAST_CHUNK), first);
    let firstSeam = true;
    for (let t = res.start_tick; t < first + H; t++) {
      const old = held[t - first];
      if (!old) continue;
      hooks.seam?.(t, old, r.actions, (t - first) * D, firstSeam);
      firstSeam = false;
    }
    return true;
  }

  private heldAt(t: number, k_now: number): Float64Array | undefined {
    if (t <= k_now || !this.ring.has(t)) return undefined;
    const old = new Float64Array(this.p.dim);
    this.ring.peek(t, old);
    return old;
  }

  execute(t: number, counts: ScheduleCounts, hooks: ScheduleHooks): void {
    this.ring.markExecuted(t);
    const s = this.ring.read(t, this.action, this.slot);
    if (!s.found) {
      if (this.armed) counts.underruns++;
      else counts.startup_ticks++;
      return;
    }
    this.armed = true;
    counts.ticks_executed++;
    const index = t - (this.firstTickOf.get(s.chunk_id) ?? t) + 1;
    counts.index_counts[index - 1]++;
    hooks.executed?.(t, this.action, index);
  }
}
