// The most recent N samples of a measurement, in a fixed buffer: a long run keeps its memory flat, and
// quantiles are exact over the window (at one inference call a few times a second, 65536 samples are
// hours). Count and maximum cover every sample ever recorded.
export class SampleRing {
  count = 0;
  max = -Infinity;
  private readonly values: Float64Array;

  constructor(readonly capacity = 65536) {
    this.values = new Float64Array(capacity);
  }

  push(x: number): void {
    this.values[this.count % this.capacity] = x;
    this.count++;
    if (x > this.max) this.max = x;
  }

  /** The samples in the window (oldest first is not guaranteed), as a new array. */
  window(): Float64Array {
    return this.values.slice(0, Math.min(this.count, this.capacity));
  }

  /** Linear-interpolated quantiles of the window, sorted once for all of `qs`. */
  quantiles(qs: readonly number[]): number[] {
    const s = this.window().sort();
    return qs.map((q) => quantileOfSorted(s, q));
  }
}

/** Linear-interpolated quantile of an ascending sample (0 for an empty one). */
export function quantileOfSorted(s: ArrayLike<number>, q: number): number {
  if (s.length === 0) return 0;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos),
    hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Linear-interpolated quantile of any sample (0 for an empty one); sorts a copy. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  return quantileOfSorted(Float64Array.from(xs).sort(), q);
}
