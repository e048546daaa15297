// The latency budget of a policy on a robot: what the buffered runtime will make of measured inference
// latencies (the delay it plans with, the trigger, the stale prefix it drops) and the largest latency the
// configuration absorbs without the buffer running dry. Pure arithmetic; the timing model itself is the
// runtime's (src/runtime/timing), reused here, not re-implemented.
import { LatencyEstimator } from '../runtime/timing/latency-estimator.js';
import { expectedDelayTicks } from '../runtime/timing/trigger.js';
import { quantileOfSorted } from '../util/sample-ring.js';

export interface Quantiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function quantilesOf(samples: readonly number[]): Quantiles {
  const s = Float64Array.from(samples).sort();
  const q = (p: number) => round2(quantileOfSorted(s, p));
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: round2(s.length ? s[s.length - 1] : 0) };
}

export interface BudgetInput {
  /** End-to-end latency of each timed call (ms), the warm-up call apart. */
  latencies_ms: readonly number[];
  /** The first call (model load, JIT, allocations): the runtime excludes it once others are known. */
  warmup_ms?: number;
  hz: number;
  horizon: number;
  action_offset: number;
  margin: number;
  max_in_flight: number;
}

export type Verdict = 'pass' | 'warn' | 'fail';

export interface Budget {
  dt_ms: number;
  /** H x dt: how long one chunk lasts when executed. */
  chunk_ms: number;
  /** The delay (ticks) the runtime plans with for these latencies: expectedDelayTicks. */
  delay_ticks: number;
  /** The runtime's trigger: infer once the actions left are <= delay + margin. */
  trigger_ticks: number;
  margin: number;
  /** Actions of each chunk that are stale when it lands (about d - offset + 1). */
  dropped_prefix: number;
  /** Largest latency (ms) with 0 underruns for this H, offset, margin and requests in flight. */
  tolerated_ms: number;
  tolerated_ticks: number;
  /** chunk_ms / p99 latency: the seed's rule is inference time < chunk execution time (> 1). */
  safety_factor: number;
  latency: Quantiles;
  verdict: Verdict;
  reason: string;
}

/** Within this fraction of the tolerated latency, the verdict is a warning. */
export const WARN_FRACTION = 0.8;

/**
 * The largest delay d (ticks) without underruns. A chunk asked at tick k covers k+offset .. k+offset+H-1 and
 * lands after d ticks (once tick k+d has run), so H + offset - 1 - d of its actions are still usable. With N
 * requests out a request can go out every d/N ticks, and the next chunk must land strictly before the usable
 * actions run out: N (H + offset - 1 - d) > d. The trigger's margin sends each request early; with one out that
 * costs nothing (the free slot, not the trigger, holds the next request back), with N out each of the N - 1
 * extra requests loses it: N (H + offset - 1 - d) - (N - 1) margin > d, i.e.
 *   d < (N (H + offset - 1) - (N - 1) margin) / (N + 1), in whole ticks (the runtime plans with ceil(latency/dt)).
 * Calibrated on the virtual clock with the shipped ur5e model (H 25, offset 1, 50 Hz, fixed latencies in 20 ms
 * steps, 30 s): it gives the largest 0-underrun latency of all 15 configurations tried exactly: margin 2 at
 * N = 1 / 2 / 3 / 4: 240 / 300 / 340 / 360 ms; margin 0: 240 / 320 / - / 380; margin 4: 240 / 300 / - / 340;
 * margin 6, N 2: 280 ms (each one 20 ms more had underruns).
 */
export function toleratedDelayTicks(horizon: number, offset: number, margin: number, in_flight: number): number {
  const n = in_flight;
  const bound = (n * (horizon + offset - 1) - (n - 1) * margin) / (n + 1);
  return Math.max(0, Math.ceil(bound - 1e-9) - 1);
}

export function latencyBudget(b: BudgetInput): Budget {
  const dt_ms = 1000 / b.hz;
  const latency = quantilesOf(b.latencies_ms);
  // the runtime's estimate: a high quantile of recent latencies, the warm-up excluded once others are known
  const est = new LatencyEstimator({ window: Math.max(1, b.latencies_ms.length) });
  if (b.warmup_ms !== undefined) est.record(b.warmup_ms);
  for (const ms of b.latencies_ms) est.record(ms);
  const delay_ticks = expectedDelayTicks(est, dt_ms, undefined);
  const tolerated_ticks = toleratedDelayTicks(b.horizon, b.action_offset, b.margin, b.max_in_flight);
  const tolerated_ms = tolerated_ticks * dt_ms;
  const chunk_ms = b.horizon * dt_ms;
  const safety_factor = latency.p99 > 0 ? round2(chunk_ms / latency.p99) : Number.POSITIVE_INFINITY;
  const { verdict, reason } = judge(latency.p99, tolerated_ms, b.max_in_flight);
  return {
    dt_ms: round2(dt_ms),
    chunk_ms: round2(chunk_ms),
    delay_ticks,
    trigger_ticks: delay_ticks + b.margin,
    margin: b.margin,
    dropped_prefix: Math.max(0, delay_ticks - b.action_offset + 1),
    tolerated_ms: round2(tolerated_ms),
    tolerated_ticks,
    safety_factor,
    latency,
    verdict,
    reason,
  };
}

function judge(p99: number, tolerated_ms: number, in_flight: number): { verdict: Verdict; reason: string } {
  const flight = `${in_flight} in flight`;
  if (tolerated_ms <= 0)
    return {
      verdict: 'fail',
      reason: `the chunk is too short to absorb any latency with ${flight} (tolerated 0 ms, p99 ${fmt(p99)} ms)`,
    };
  if (p99 > tolerated_ms)
    return {
      verdict: 'fail',
      reason: `p99 latency ${fmt(p99)} ms exceeds the ${fmt(tolerated_ms)} ms tolerated with ${flight}`,
    };
  const pct = Math.round((100 * p99) / tolerated_ms);
  if (p99 > WARN_FRACTION * tolerated_ms)
    return {
      verdict: 'warn',
      reason: `p99 latency ${fmt(p99)} ms is ${pct}% of the ${fmt(tolerated_ms)} ms tolerated with ${flight}`,
    };
  return {
    verdict: 'pass',
    reason: `p99 latency ${fmt(p99)} ms is ${pct}% of the ${fmt(tolerated_ms)} ms tolerated with ${flight}`,
  };
}

export function fmt(x: number): string {
  return Number.isFinite(x) ? String(round2(x)) : 'inf';
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
