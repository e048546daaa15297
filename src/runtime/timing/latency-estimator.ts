// How long a chunk takes from the decision to ask to the buffer, as the trigger sees it: a high quantile
// over a recent window. Not a running max: a 0.7 s cold-start spike must not make the runtime drop most
// of every chunk forever (a failure users of other runtimes reported). The first call is a warm-up
// (model load, JIT, allocations) and only counts until there is anything else. The window's quantiles
// are computed when a sample arrives (a few times a second), never when the trigger asks (every tick).
import { quantileOfSorted, SampleRing } from '../../util/sample-ring.js';

export interface LatencyEstimatorOptions {
  /** Samples kept for the estimate (default 30). */
  window?: number;
  /** Quantile used as the expected latency (default 0.9: one spike in the window does not move it). */
  quantile?: number;
  /** Used before the first measurement (ms). */
  prior_ms?: number;
}

export interface LatencySummary {
  calls: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export class LatencyEstimator {
  private readonly window: number;
  private readonly q: number;
  private readonly recent: number[] = [];
  private readonly sorted: Float64Array;
  private readonly all = new SampleRing();
  private warmup_ms: number | undefined;
  private expected_ms: number;
  private low_ms: number;

  constructor(opts: LatencyEstimatorOptions = {}) {
    this.window = opts.window ?? 30;
    this.q = opts.quantile ?? 0.9;
    this.sorted = new Float64Array(this.window);
    this.expected_ms = this.low_ms = opts.prior_ms ?? 0;
  }

  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.all.push(ms);
    if (this.warmup_ms === undefined) {
      this.warmup_ms = this.expected_ms = this.low_ms = ms;
      return;
    }
    this.recent.push(ms);
    if (this.recent.length > this.window) this.recent.shift();
    const s = this.sorted.subarray(0, this.recent.length);
    s.set(this.recent);
    s.sort();
    this.expected_ms = quantileOfSorted(s, this.q);
    this.low_ms = quantileOfSorted(s, 0.1);
  }

  /** Expected latency (ms) for planning the next trigger. */
  estimate_ms(): number {
    return this.expected_ms;
  }

  /** Expected latency in whole control ticks (a chunk that takes any time lands at least one tick later). */
  estimateTicks(dt_ms: number): number {
    return Math.ceil(this.expected_ms / dt_ms);
  }

  /** The soonest a chunk can be expected, in whole ticks (a low quantile, rounded down). */
  soonestTicks(dt_ms: number): number {
    return Math.floor(this.low_ms / dt_ms);
  }

  get calls(): number {
    return this.all.count;
  }

  /** Every call's latency, warm-up included (quantiles over the last 65536), for the summary. */
  summary(): LatencySummary {
    const [p50, p95, p99] = this.all.quantiles([0.5, 0.95, 0.99]);
    return {
      calls: this.all.count,
      p50: round(p50),
      p95: round(p95),
      p99: round(p99),
      max: round(this.all.count ? this.all.max : 0),
    };
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
