// Feature statistics as LeRobot stores them (compute_stats.py): per feature min, max, mean, std (population, as
// np.std), count (shape [1]) and the quantiles q01, q10, q50, q90, q99; vectors per dimension, images per channel
// in [0, 1] with shape (3, 1, 1). Per episode they go into the episodes table (stats/<feature>/<stat> columns),
// for the dataset into meta/stats.json, aggregated as LeRobot's aggregate_stats does: min of mins, max of maxes,
// count-weighted mean, the parallel formula for std, count-weighted mean of the quantiles.
// Non-finite values (a NaN velocity) are left out of a dimension's statistics, so stats.json stays valid JSON; a
// dimension with no finite value gets 0.

export const QUANTILES = [0.01, 0.1, 0.5, 0.9, 0.99] as const;
export const QUANTILE_KEYS = ['q01', 'q10', 'q50', 'q90', 'q99'] as const;
export const STAT_KEYS = ['min', 'max', 'mean', 'std', 'count', ...QUANTILE_KEYS] as const;
export type StatKey = (typeof STAT_KEYS)[number];

/** One feature's statistics: each value a flat list (per dimension or channel) but count ([frames]). */
export type FeatureStats = Record<StatKey, number[]>;

/** np.quantile's default (linear) interpolation on sorted values. */
function quantileOfSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Statistics of `rows` rows of `dim` values (row-major). */
export function vectorStats(values: ArrayLike<number>, rows: number, dim: number): FeatureStats {
  const out = emptyStats(rows);
  const column = new Float64Array(rows);
  for (let d = 0; d < dim; d++) {
    let n = 0;
    for (let r = 0; r < rows; r++) {
      const v = values[r * dim + d];
      if (Number.isFinite(v)) column[n++] = v;
    }
    const finite = column.subarray(0, n).sort();
    let sum = 0;
    for (const v of finite) sum += v;
    const mean = n > 0 ? sum / n : 0;
    let sq = 0;
    for (const v of finite) sq += (v - mean) ** 2;
    out.min.push(n > 0 ? finite[0] : 0);
    out.max.push(n > 0 ? finite[n - 1] : 0);
    out.mean.push(mean);
    out.std.push(n > 0 ? Math.sqrt(sq / n) : 0);
    // LeRobot gives a feature with fewer than 2 samples its mean as every quantile
    QUANTILE_KEYS.forEach((k, i) => {
      out[k].push(n < 2 ? mean : quantileOfSorted(finite, QUANTILES[i]));
    });
  }
  return out;
}

/** Per-channel histogram of 8-bit RGB frames: exact image statistics at any frame count, in O(256) memory. */
export class ImageHistogram {
  readonly counts = [new Float64Array(256), new Float64Array(256), new Float64Array(256)];
  frames = 0;

  add(rgb: Uint8Array): void {
    const [r, g, b] = this.counts;
    for (let i = 0; i + 2 < rgb.length; i += 3) {
      r[rgb[i]]++;
      g[rgb[i + 1]]++;
      b[rgb[i + 2]]++;
    }
    this.frames++;
  }

  /** LeRobot's layout: values in [0, 1], each stat (3, 1, 1) flattened to 3 here; count the frames. */
  stats(): FeatureStats {
    const out = emptyStats(this.frames);
    for (const hist of this.counts) {
      let n = 0;
      let sum = 0;
      let lo = -1;
      let hi = -1;
      for (let v = 0; v < 256; v++) {
        if (hist[v] === 0) continue;
        if (lo < 0) lo = v;
        hi = v;
        n += hist[v];
        sum += hist[v] * v;
      }
      const mean = n > 0 ? sum / n : 0;
      let sq = 0;
      for (let v = lo; v >= 0 && v <= hi; v++) sq += hist[v] * (v - mean) ** 2;
      out.min.push(Math.max(lo, 0) / 255);
      out.max.push(Math.max(hi, 0) / 255);
      out.mean.push(mean / 255);
      out.std.push(n > 0 ? Math.sqrt(sq / n) / 255 : 0);
      QUANTILE_KEYS.forEach((k, i) => {
        out[k].push(histogramQuantile(hist, n, QUANTILES[i]) / 255);
      });
    }
    return out;
  }
}

/** The linearly interpolated quantile of the values a histogram counts (as np.quantile on them all). */
function histogramQuantile(hist: Float64Array, n: number, q: number): number {
  if (n === 0) return 0;
  const pos = (n - 1) * q;
  const at = (k: number): number => {
    let seen = 0;
    for (let v = 0; v < 256; v++) {
      seen += hist[v];
      if (seen > k) return v;
    }
    return 255;
  };
  const lo = Math.floor(pos);
  const a = at(lo);
  const b = at(Math.min(lo + 1, n - 1));
  return a + (b - a) * (pos - lo);
}

function emptyStats(count: number): FeatureStats {
  const out = {} as FeatureStats;
  for (const k of STAT_KEYS) out[k] = [];
  out.count.push(count);
  return out;
}

/** LeRobot's aggregate_feature_stats over episodes' statistics of one feature. */
export function aggregateStats(list: readonly FeatureStats[]): FeatureStats {
  const total = list.reduce((a, s) => a + s.count[0], 0);
  const dim = list[0]?.mean.length ?? 0;
  const out = emptyStats(total);
  for (let d = 0; d < dim; d++) {
    let mean = 0;
    for (const s of list) mean += (s.mean[d] * s.count[0]) / (total || 1);
    let variance = 0;
    for (const s of list) variance += ((s.std[d] ** 2 + (s.mean[d] - mean) ** 2) * s.count[0]) / (total || 1);
    out.min.push(Math.min(...list.map((s) => s.min[d])));
    out.max.push(Math.max(...list.map((s) => s.max[d])));
    out.mean.push(mean);
    out.std.push(Math.sqrt(variance));
    for (const k of QUANTILE_KEYS) {
      out[k].push(list.reduce((a, s) => a + s[k][d] * s.count[0], 0) / (total || 1));
    }
  }
  return out;
}

/** A stat as it goes into JSON or a parquet cell: images as (3, 1, 1) nested lists, vectors flat. */
export function shapedStat(values: readonly number[], key: StatKey, image: boolean): unknown[] {
  return image && key !== 'count' ? values.map((v) => [[v]]) : [...values];
}

/** meta/stats.json: {feature: {stat: values}}, image stats (3, 1, 1). */
export function statsJson(
  stats: ReadonlyMap<string, FeatureStats>,
  isImage: (feature: string) => boolean,
): Record<string, Record<string, unknown[]>> {
  const out: Record<string, Record<string, unknown[]>> = {};
  for (const [feature, s] of stats) {
    out[feature] = {};
    for (const k of STAT_KEYS) out[feature][k] = shapedStat(s[k], k, isImage(feature));
  }
  return out;
}
