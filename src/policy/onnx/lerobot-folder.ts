// What a LeRobot policy folder says about its model, read into one shape. Layouts (public facts from
// huggingface/lerobot's source and its checkpoints on the Hub, nothing copied):
// - `config.json` (PreTrainedConfig): "type", "input_features"/"output_features" as {key: {"type": "VISUAL" |
//   "STATE" | "ENV" | "ACTION", "shape": [...]}}, "normalization_mapping" {type: "MEAN_STD" | "MIN_MAX" |
//   "IDENTITY" | "QUANTILES" | "QUANTILE10"}, "chunk_size", "n_action_steps", "n_obs_steps",
//   "temporal_ensemble_coeff" (ACT). Older checkpoints: "input_shapes"/"output_shapes" {key: shape} and
//   "input_normalization_modes"/"output_normalization_modes" {key: "mean_std" | "min_max"}.
// - statistics: the dataset's `meta/stats.json` (copied next to the policy as `stats.json`), or the
//   normalizer processor's `policy_preprocessor_step_N_normalizer_processor.safetensors` /
//   `policy_postprocessor_step_N_unnormalizer_processor.safetensors` (see norm-stats.ts).
// - `train_config.json` (TrainPipelineConfig): "dataset": {"use_imagenet_stats": true by default: image
//   mean/std replaced by ImageNet's during training}, "env": {"fps"}; the dataset's `meta/info.json`: "fps",
//   "features": {"action": {"names": [...]}}.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PolicyLoadError } from './manifest.js';
import { type FeatureStats, type NormMode, parseStatsJson, readStatsFile } from './norm-stats.js';

export type FeatureType = 'VISUAL' | 'STATE' | 'ENV' | 'ACTION' | string;

export interface LeRobotFeature {
  key: string;
  type: FeatureType;
  shape: number[];
  norm: NormMode;
}

export interface LeRobotPolicyFolder {
  dir: string;
  config_path: string;
  policy_type: string | undefined;
  inputs: LeRobotFeature[];
  outputs: LeRobotFeature[];
  chunk_size: number | undefined;
  n_action_steps: number | undefined;
  n_obs_steps: number | undefined;
  temporal_ensemble_coeff: number | undefined;
  stats: FeatureStats | undefined;
  stats_source: string | undefined;
  /**
   * 'dataset': the dataset's statistics (LeRobot may have trained with ImageNet's for images);
   * 'policy': the ones the policy saved, as trained.
   */
  stats_kind: 'dataset' | 'policy' | undefined;
  /** From train_config.json; LeRobot's default is true. */
  use_imagenet_stats: boolean | undefined;
  fps: { value: number; source: string } | undefined;
  action_names: string[] | undefined;
}

const MODES: Record<string, NormMode> = {
  IDENTITY: 'identity',
  MEAN_STD: 'mean_std',
  MIN_MAX: 'min_max',
  QUANTILES: 'quantiles',
  QUANTILE10: 'quantile10',
};

export async function readLeRobotFolder(dir: string, statsPath?: string): Promise<LeRobotPolicyFolder> {
  const config_path = join(dir, 'config.json');
  const config = await readJson(config_path, true);
  if (!isObject(config)) throw new PolicyLoadError(`${config_path}: expected a JSON object`);
  const { inputs, outputs } = features(config, config_path);
  const train = await readJson(join(dir, 'train_config.json'), false);
  const info =
    (await readJson(join(dir, 'info.json'), false)) ?? (await readJson(join(dir, 'meta', 'info.json'), false));
  const stats = await findStatsFiles(dir, statsPath);
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const trainDataset = isObject(train) && isObject(train.dataset) ? train.dataset : undefined;
  const trainEnv = isObject(train) && isObject(train.env) ? train.env : undefined;
  const fps =
    fpsFrom(config.fps, config_path) ??
    fpsFrom(trainEnv?.fps, join(dir, 'train_config.json')) ??
    fpsFrom(isObject(info) ? info.fps : undefined, 'info.json');
  return {
    dir,
    config_path,
    policy_type: typeof config.type === 'string' ? config.type : undefined,
    inputs,
    outputs,
    chunk_size: num(config.chunk_size) ?? num(config.horizon),
    n_action_steps: num(config.n_action_steps),
    n_obs_steps: num(config.n_obs_steps),
    temporal_ensemble_coeff: num(config.temporal_ensemble_coeff),
    ...stats,
    use_imagenet_stats:
      typeof trainDataset?.use_imagenet_stats === 'boolean' ? trainDataset.use_imagenet_stats : undefined,
    fps,
    action_names: actionNames(info),
  };
}

function features(
  config: Record<string, unknown>,
  source: string,
): { inputs: LeRobotFeature[]; outputs: LeRobotFeature[] } {
  const bad = (why: string): PolicyLoadError => new PolicyLoadError(`${source}: ${why}`);
  if (isObject(config.input_features) || isObject(config.output_features)) {
    const mapping = isObject(config.normalization_mapping) ? config.normalization_mapping : {};
    const modeOf = (type: string): NormMode => {
      const m = mapping[type];
      if (m === undefined) return 'identity'; // LeRobot: a type without a mode is not normalised
      if (typeof m !== 'string' || !MODES[m])
        throw bad(
          `normalization_mapping.${type}: expected one of ${Object.keys(MODES).join(', ')}, found ${JSON.stringify(m)}`,
        );
      return MODES[m];
    };
    const list = (v: unknown, where: string): LeRobotFeature[] =>
      Object.entries(isObject(v) ? v : {}).map(([key, f]) => {
        if (!isObject(f) || typeof f.type !== 'string' || !isShape(f.shape))
          throw bad(`${where}.${key}: expected {"type": ..., "shape": [...]}, found ${JSON.stringify(f)}`);
        return { key, type: f.type, shape: f.shape, norm: modeOf(f.type) };
      });
    return {
      inputs: list(config.input_features, 'input_features'),
      outputs: list(config.output_features, 'output_features'),
    };
  }
  if (isObject(config.input_shapes) || isObject(config.output_shapes)) {
    const modes = { ...asObject(config.input_normalization_modes), ...asObject(config.output_normalization_modes) };
    const list = (v: unknown, where: string): LeRobotFeature[] =>
      Object.entries(asObject(v)).map(([key, shape]) => {
        if (!isShape(shape)) throw bad(`${where}.${key}: expected a shape [...], found ${JSON.stringify(shape)}`);
        const m = modes[key];
        const norm = typeof m === 'string' ? MODES[m.toUpperCase()] : 'identity';
        if (!norm) throw bad(`normalization mode of ${key}: unknown '${String(m)}'`);
        return { key, type: typeFromKey(key), shape, norm };
      });
    return { inputs: list(config.input_shapes, 'input_shapes'), outputs: list(config.output_shapes, 'output_shapes') };
  }
  throw bad('no input_features/output_features (nor input_shapes/output_shapes): not a LeRobot policy config');
}

function typeFromKey(key: string): FeatureType {
  if (key.startsWith('observation.image')) return 'VISUAL';
  if (key === 'observation.state') return 'STATE';
  if (key === 'observation.environment_state') return 'ENV';
  if (key === 'action') return 'ACTION';
  return 'UNKNOWN';
}

async function findStatsFiles(
  dir: string,
  statsPath: string | undefined,
): Promise<Pick<LeRobotPolicyFolder, 'stats' | 'stats_source' | 'stats_kind'>> {
  if (statsPath) {
    const kind = statsPath.endsWith('.safetensors') ? 'policy' : 'dataset';
    return { stats: await readStatsFile(statsPath), stats_source: statsPath, stats_kind: kind };
  }
  for (const p of [join(dir, 'stats.json'), join(dir, 'meta', 'stats.json')]) {
    const json = await readJson(p, false);
    if (json !== undefined) return { stats: parseStatsJson(json, p), stats_source: p, stats_kind: 'dataset' };
  }
  const names = (await readdir(dir)).filter((f) => /_(un)?normalizer_processor\.safetensors$/.test(f)).sort();
  if (names.length === 0) return { stats: undefined, stats_source: undefined, stats_kind: undefined };
  const stats: FeatureStats = {};
  for (const f of names) {
    for (const [key, s] of Object.entries(await readStatsFile(join(dir, f)))) stats[key] = { ...stats[key], ...s };
  }
  return { stats, stats_source: names.map((f) => join(dir, f)).join(' + '), stats_kind: 'policy' };
}

function fpsFrom(v: unknown, source: string): { value: number; source: string } | undefined {
  return typeof v === 'number' && v > 0 && Number.isFinite(v) ? { value: v, source } : undefined;
}

function actionNames(info: unknown): string[] | undefined {
  const action = isObject(info) && isObject(info.features) ? info.features.action : undefined;
  const names = isObject(action) ? action.names : undefined;
  // a list of names; some versions nest it ({"motors": [...]} or [[...]])
  const raw = isObject(names) ? Object.values(names)[0] : names;
  const list = Array.isArray(raw) && raw.length === 1 && Array.isArray(raw[0]) ? raw[0] : raw;
  return Array.isArray(list) && list.every((n) => typeof n === 'string' && n.length > 0) ? list : undefined;
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return undefined;
    throw new PolicyLoadError(code === 'ENOENT' ? `${path}: not found` : `${path}: cannot read (${code ?? err})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new PolicyLoadError(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isInteger(d) && d >= 0);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asObject(v: unknown): Record<string, unknown> {
  return isObject(v) ? v : {};
}
