// How long a chunk takes from observation to buffer, as the trigger sees it: a high quantile over a
// recent window. Not a running max: a 0.7 s cold-start spike must not make the runtime drop most of
// every chunk forever (a failure users of other runtimes reported). The first call is a warm-up
// (model load, JIT, allocations) and only counts until there is anything else.

export interface LatencyEstimatorOptions {
  /** Samples kept (default 30). */
  window?: number;
  /** Quantile used as the expected latency (default 0.9: one spike in the window does not move it). */
  quantile?: number;
  /** Used before the first measurement (ms). */
  prior_ms?: number;
}

export class LatencyEstimator {
  private readonly window: number;
  private readonly q: number;
  private readonly recent: number[] = [];
  private readonly all: number[] = [];
  private warmup_ms: number | undefined;

  constructor(private readonly opts: LatencyEstimatorOptions = {}) {
    this.window = opts.window ?? 30;
    this.q = opts.quantile ?? 0.9;
  }

  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.all.push(ms);
    if (this.warmup_ms === undefined) {
      this.warmup_ms = ms;
      return;
    }
    this.recent.push(ms);
    if (this.recent.length > this.window) this.recent.shift();
  }

  /** Expected latency (ms) for planning the next trigger. */
  estimate_ms(): number {
    if (this.recent.length > 0) return quantile(this.recent, this.q);
    return this.warmup_ms ?? this.opts.prior_ms ?? 0;
  }

  /** Expected latency in whole control ticks (a chunk that takes any time lands at least one tick later). */
  estimateTicks(dt_ms: number): number {
    return Math.ceil(this.estimate_ms() / dt_ms);
  }

  /** The soonest a chunk can be expected, in whole ticks (a low quantile, rounded down). */
  soonestTicks(dt_ms: number): number {
    const low = this.recent.length > 0 ? quantile(this.recent, 0.1) : this.warmup_ms ?? this.opts.prior_ms ?? 0;
    return Math.floor(low / dt_ms);
  }

  /** Every call's latency, warm-up included, for the summary. */
  summary(): { calls: number; p50: number; p95: number; p99: number; max: number } {
    return {
      calls: this.all.length,
      p50: round(quantile(this.all, 0.5)),
      p95: round(quantile(this.all, 0.95)),
      p99: round(quantile(this.all, 0.99)),
      max: round(this.all.length ? Math.max(...this.all) : 0),
    };
  }
}

/** Linear-interpolated quantile of a sample (0 for an empty one). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
