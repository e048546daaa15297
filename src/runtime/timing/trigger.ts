// When to ask the policy for the next chunk, and where that chunk should start: the timing model of the
// buffered runtime (design notes: "Timing model"). Ticks k = 0, 1, 2, ... at period dt; a chunk computed
// from the observation of tick k_obs holds actions for k_obs + offset ...; it lands a delay after it is
// asked for, and its actions for ticks already executed are dropped (action-buffer.ts).
import type { LatencyEstimator } from './latency-estimator.js';

/**
 * The trigger: ask for the next chunk once the actions left cover no more than the expected delay plus a
 * margin, so the new chunk lands before the buffer runs dry.
 */
export function shouldInfer(remaining: number, expected_delay_ticks: number, margin_ticks: number): boolean {
  return remaining <= expected_delay_ticks + margin_ticks;
}

/** What the trigger weighs at tick k: the actions buffered after it, or what the requests out will bring. */
export function coveredTicks(
  buffer: { remaining(k: number): number },
  inFlight: { promisedAfter(k: number): number },
  k: number,
): number {
  return Math.max(buffer.remaining(k), inFlight.promisedAfter(k));
}

/**
 * The delay a chunk is expected to take, in ticks: a high quantile of recent latencies, or the
 * robot's fixed UAC delay when that is longer.
 */
export function expectedDelayTicks(
  latency: LatencyEstimator,
  dt_ms: number,
  fixed_delay_ticks: number | undefined,
): number {
  return Math.max(latency.estimateTicks(dt_ms), fixed_delay_ticks ?? 0);
}

/**
 * The first tick a chunk asked for at tick `k_now` should start at. Never before the soonest it can
 * land (`soonest_ticks`, a low latency quantile): those actions would always be dropped. Never after the
 * expected landing (`expected_ticks`). In between, where the actions now buffered end: a chunk that
 * lands early then continues them without a gap, and one that lands late only loses its stale prefix.
 */
export function firstTickHint(k_now: number, remaining: number, soonest_ticks: number, expected_ticks: number): number {
  return k_now + Math.min(Math.max(remaining, soonest_ticks), expected_ticks) + 1;
}
