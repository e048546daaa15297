// Normalisation statistics as training code leaves them, read into one shape (feature -> statistic ->
// flat numbers) and turned into the manifest's normalisation. Layouts read (public facts, from the source
// of huggingface/lerobot and Physical-Intelligence/openpi, nothing copied):
// - LeRobot dataset `meta/stats.json`: {"observation.state": {"mean": [...], "std": [...], "min": [...],
//   "max": [...], "count": [...]}, ...}; image statistics are per channel, nested [3][1][1], on pixels in [0, 1].
// - LeRobot flat forms: "feature/stat" keys (flatten_dict, older stats.safetensors) and "feature.stat" keys
//   (the normalizer processor's state dict, saved as policy_preprocessor_step_N_normalizer_processor.safetensors).
// - openpi `norm_stats.json`: {"norm_stats": {"state": {"mean", "std", "q01", "q99"}, "actions": {...}}}.
// LeRobot normalises MEAN_STD as (x - mean) / (std + eps) and MIN_MAX as 2 (x - min) / (max - min) - 1;
// QUANTILES and QUANTILE10 are MIN_MAX over q01..q99 and q10..q90.
import { readFile } from 'node:fs/promises';
import { type NormStatsT, PolicyLoadError } from './manifest.js';

/** feature -> statistic (mean, std, min, max, q01, ...) -> values, flattened ([3][1][1] -> [3]). */
export type FeatureStats = Record<string, Record<string, number[]>>;

export type NormMode = 'identity' | 'mean_std' | 'min_max' | 'quantiles' | 'quantile10';

const STAT_NAMES = ['mean', 'std', 'min', 'max', 'count', 'q01', 'q10', 'q50', 'q90', 'q99'];

/** ImageNet per-channel statistics on [0, 1] pixels (what LeRobot puts in place of a dataset's image stats). */
export const IMAGENET_STATS = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

export async function readStatsFile(path: string): Promise<FeatureStats> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new PolicyLoadError(`${path}: cannot read the statistics (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  if (path.endsWith('.safetensors')) return parseSafetensorsStats(bytes, path);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new PolicyLoadError(`${path}: the statistics are not valid JSON (${(err as Error).message})`);
  }
  return parseStatsJson(json, path);
}

export function parseStatsJson(json: unknown, source: string): FeatureStats {
  if (!isObject(json)) throw new PolicyLoadError(`${source}: expected an object of per-feature statistics`);
  const root = isObject(json.norm_stats) ? json.norm_stats : json; // openpi wraps them
  const out: FeatureStats = {};
  for (const [key, value] of Object.entries(root)) {
    if (isObject(value)) {
      for (const [stat, v] of Object.entries(value)) {
        const flat = flatNumbers(v);
        if (flat) put(out, key, stat, flat);
      }
    } else {
      const split = splitFlatKey(key);
      const flat = flatNumbers(value);
      if (split && flat) put(out, split[0], split[1], flat);
    }
  }
  if (Object.keys(out).length === 0)
    throw new PolicyLoadError(`${source}: no statistics found (expected {"feature": {"mean": [...], ...}, ...})`);
  return out;
}

/** safetensors: 8-byte little-endian header length, a JSON header, then the raw tensors. */
export function parseSafetensorsStats(bytes: Uint8Array, source: string): FeatureStats {
  const bad = (why: string): PolicyLoadError =>
    new PolicyLoadError(`${source}: not a readable safetensors file (${why})`);
  if (bytes.length < 8) throw bad('too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > bytes.length) throw bad('the header runs past the end');
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    throw bad((err as Error).message);
  }
  const base = 8 + n;
  const out: FeatureStats = {};
  for (const [key, t] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const split = splitFlatKey(key);
    if (!split) continue;
    const [b, e] = t.data_offsets;
    const dv = new DataView(bytes.buffer, bytes.byteOffset + base + b, e - b);
    const size = t.dtype === 'F64' || t.dtype === 'I64' ? 8 : 4;
    const values: number[] = [];
    for (let o = 0; o + size <= e - b; o += size) {
      // float32 printed as the float32 it is (0.41, not 0.4099999964)
      if (t.dtype === 'F32') values.push(Number(dv.getFloat32(o, true).toPrecision(8)));
      else if (t.dtype === 'F64') values.push(dv.getFloat64(o, true));
      else if (t.dtype === 'I64') values.push(Number(dv.getBigInt64(o, true)));
      else throw bad(`tensor ${key} has dtype ${t.dtype}; F32, F64 and I64 are read`);
    }
    put(out, split[0], split[1], values);
  }
  return out;
}

/** The statistics of the first key present, with the key found. */
export function findStats(
  stats: FeatureStats,
  keys: readonly string[],
): { key: string; stats: Record<string, number[]> } | undefined {
  for (const key of keys) if (stats[key]) return { key, stats: stats[key] };
  return undefined;
}

/** The manifest normalisation for `dim` values; throws PolicyLoadError naming what is missing or of the wrong size. */
export function normFromStats(
  mode: NormMode,
  s: Record<string, number[]> | undefined,
  dim: number,
  where: string,
): NormStatsT {
  if (mode === 'identity') return { kind: 'identity' };
  const need = (name: string): number[] => {
    const v = s?.[name];
    if (!v) {
      const have = s ? Object.keys(s).join(', ') : 'no statistics at all';
      throw new PolicyLoadError(`${where}: ${mode} normalisation needs '${name}', found ${have}`);
    }
    if (v.length !== dim) throw new PolicyLoadError(`${where}: ${name}: expected ${dim} values, found ${v.length}`);
    return v;
  };
  if (mode === 'mean_std') return { kind: 'mean_std', mean: need('mean'), std: need('std'), eps: 1e-8 };
  const [lo, hi] = mode === 'min_max' ? ['min', 'max'] : mode === 'quantiles' ? ['q01', 'q99'] : ['q10', 'q90'];
  return { kind: 'min_max', min: need(lo), max: need(hi), eps: 1e-8 };
}

/**
 * Per-channel image normalisation on [0, 1] pixels as the manifest writes it (v = (rgb / 255 - mean) / std);
 * undefined for identity (the manifest's default is exactly that). min_max maps [min, max] to [-1, 1].
 */
export function imageNormFromStats(
  mode: NormMode,
  s: Record<string, number[]> | undefined,
  where: string,
): { scale: number; mean: number[]; std: number[] } | undefined {
  const n = normFromStats(mode, s, 3, where);
  if (n.kind === 'identity') return undefined;
  const fix = (x: number): number => Number(x.toPrecision(12));
  if (n.kind === 'mean_std') return { scale: 1 / 255, mean: n.mean, std: n.std.map((x) => fix(x + n.eps)) };
  return {
    scale: 1 / 255,
    mean: n.min.map((lo, c) => fix((lo + n.max[c]) / 2)),
    std: n.min.map((lo, c) => fix((n.max[c] - lo) / 2 || n.eps)),
  };
}

/** One line about a normalisation, for summaries: its kind and the range of its statistics. */
export function describeNorm(n: NormStatsT): string {
  const range = (xs: number[]): string =>
    xs.length ? `${fmt(Math.min(...xs))} .. ${fmt(Math.max(...xs))}` : '(empty)';
  if (n.kind === 'identity') return 'identity (raw values)';
  if (n.kind === 'mean_std') return `mean_std: mean ${range(n.mean)}, std ${range(n.std)}`;
  return `min_max: min ${range(n.min)}, max ${range(n.max)} -> [-1, 1]`;
}

function fmt(x: number): string {
  return Math.abs(x) >= 1e-3 || x === 0 ? String(Number(x.toPrecision(4))) : x.toExponential(2);
}

function put(out: FeatureStats, feature: string, stat: string, values: number[]): void {
  out[feature] ??= {};
  out[feature][stat] = values;
}

function splitFlatKey(key: string): [string, string] | undefined {
  const slash = key.lastIndexOf('/');
  if (slash > 0) return [key.slice(0, slash), key.slice(slash + 1)];
  const dot = key.lastIndexOf('.');
  if (dot > 0 && STAT_NAMES.includes(key.slice(dot + 1))) return [key.slice(0, dot), key.slice(dot + 1)];
  return undefined;
}

function flatNumbers(v: unknown): number[] | undefined {
  if (typeof v === 'number') return [v];
  if (!Array.isArray(v)) return undefined;
  const out: number[] = [];
  for (const x of v) {
    const inner = flatNumbers(x);
    if (!inner) return undefined;
    out.push(...inner);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
