// One L1 statistic (mean, p95, max of absolute errors) that can be merged across episodes with flat memory.
// Means and maxima are exact. Quantiles come from a log-spaced histogram (100 bins per decade from 1e-6 to
// 1e4): the value reported is the geometric centre of the bin holding the rank, clamped to the observed
// range, so it is within 1.2% of the exact nearest-rank quantile. Keeping every error instead would cost
// 4 bytes x H x D per evaluated tick (21 MB for 100 ur5e episodes, 200 MB for a thousand).

const LOG10_MIN = -6;
const DECADES = 10;
const PER_DECADE = 100;
const BINS = DECADES * PER_DECADE + 1; // bin 0: values <= 1e-6 (reported as the smallest seen)

export interface L1Summary {
  /** Errors counted. */
  n: number;
  mean: number;
  p95: number;
  max: number;
}

export class L1Stat {
  n = 0;
  sum = 0;
  max = 0;
  min = Number.POSITIVE_INFINITY;
  private readonly bins = new Uint32Array(BINS);

  add(abs_error: number): void {
    this.n++;
    this.sum += abs_error;
    if (abs_error > this.max) this.max = abs_error;
    if (abs_error < this.min) this.min = abs_error;
    this.bins[binOf(abs_error)]++;
  }

  merge(other: L1Stat): void {
    this.n += other.n;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
    this.min = Math.min(this.min, other.min);
    for (let i = 0; i < BINS; i++) this.bins[i] += other.bins[i];
  }

  get mean(): number {
    return this.n === 0 ? 0 : this.sum / this.n;
  }

  /** Nearest-rank quantile (the smallest error with at least q of the errors at or below it), to 1.2%. */
  quantile(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let b = 0; b < BINS; b++) {
      seen += this.bins[b];
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, centreOf(b)));
    }
    return this.max;
  }

  summary(): L1Summary {
    return { n: this.n, mean: round6(this.mean), p95: round6(this.quantile(0.95)), max: round6(this.max) };
  }
}

function binOf(x: number): number {
  if (!(x > 10 ** LOG10_MIN)) return 0;
  const b = Math.floor((Math.log10(x) - LOG10_MIN) * PER_DECADE) + 1;
  return Math.min(BINS - 1, b);
}

function centreOf(bin: number): number {
  if (bin === 0) return 0;
  return 10 ** (LOG10_MIN + (bin - 0.5) / PER_DECADE);
}

/** Six decimals: micro-radians, below anything a joint encoder resolves; keeps the JSON readable. */
export function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** One L1Stat per action dimension. */
export class DimStats {
  readonly stats: L1Stat[];

  constructor(readonly dim: number) {
    this.stats = Array.from({ length: dim }, () => new L1Stat());
  }

  /** |a - b| per dimension, both rows of `dim` values at the given offsets. */
  addRow(a: ArrayLike<number>, a_off: number, b: ArrayLike<number>, b_off: number): void {
    for (let d = 0; d < this.dim; d++) this.stats[d].add(Math.abs(a[a_off + d] - b[b_off + d]));
  }

  merge(other: DimStats): void {
    for (let d = 0; d < this.dim; d++) this.stats[d].merge(other.stats[d]);
  }

  /** Everything pooled over the dimensions (mixed units where joints and grippers meet). */
  pooled(): L1Stat {
    const all = new L1Stat();
    for (const s of this.stats) all.merge(s);
    return all;
  }

  get n(): number {
    return this.stats[0]?.n ?? 0;
  }
}
