// A manifest drafted from an ONNX graph (vla-manifest init): what the graph says (image inputs by rank 4
// and their layout, the state by rank 2, token inputs by int64, the chunk output [1, H, D], dtypes), the
// rest from the caller's answers. What neither gives is listed with the flag that gives it; nothing is
// guessed that the runtime would then feed wrongly (the training rate, the normalisation).
import type { RobotDescription } from '../../robot/index.js';
import { formatShape, type GraphInfo, staticDim } from './graph-info.js';
import {
  type GraphValue,
  MANIFEST_FORMAT_VERSION,
  type NormStatsT,
  type OnnxManifestInput,
  PolicyLoadError,
} from './manifest.js';
import {
  type FeatureStats,
  findStats,
  IMAGENET_STATS,
  imageNormFromStats,
  type NormMode,
  normFromStats,
} from './norm-stats.js';

export interface DraftOptions {
  name: string;
  robot?: RobotDescription;
  control_hz?: number;
  horizon?: number;
  offset?: number;
  /** ONNX image input -> robot camera. */
  cameras: Record<string, string>;
  /** For image inputs whose size or layout the graph leaves open. */
  image_size?: { width: number; height: number };
  layout?: 'NCHW' | 'NHWC';
  state_input?: string;
  output?: string;
  stats?: FeatureStats;
  /** State and action normalisation (default mean_std with stats; required without). */
  norm?: NormMode;
  /** unit: rgb / 255; imagenet: ImageNet mean/std; stats: the statistics' entry for the input (default if any). */
  image_norm?: 'unit' | 'imagenet' | 'stats';
}

export interface Missing {
  what: string;
  /** The flag (or action) that supplies it. */
  flag: string;
}

export interface Draft {
  /** Present when nothing is missing. */
  manifest: OnnxManifestInput | undefined;
  missing: Missing[];
  /** What was inferred and from where, for the user. */
  notes: string[];
}

type ImageSpec = NonNullable<OnnxManifestInput['inputs']['images']>[number];

export function draftManifest(graph: GraphInfo, o: DraftOptions): Draft {
  const missing: Missing[] = [];
  const notes: string[] = [];
  const miss = (what: string, flag: string): void => void missing.push({ what, flag });
  const inputList = graph.inputs.map((g) => `${g.name} ${g.type ?? ''}${formatShape(g.shape)}`).join(', ');
  for (const key of [...Object.keys(o.cameras), ...(o.state_input ? [o.state_input] : [])]) {
    if (!graph.inputs.some((g) => g.name === key))
      miss(`input '${key}' named by a flag (model inputs: ${inputList})`, 'fix the name');
  }

  const rank = (g: GraphValue): number => g.shape?.length ?? -1;
  const images = graph.inputs.filter((g) => g.isTensor && rank(g) === 4 && !(g.name === o.state_input));
  const tokens = graph.inputs.filter((g) => g.isTensor && rank(g) === 2 && g.type === 'int64');
  const stateCandidates = o.state_input
    ? graph.inputs.filter((g) => g.name === o.state_input)
    : graph.inputs.filter((g) => g.isTensor && rank(g) === 2 && g.type === 'float32');
  for (const g of graph.inputs) {
    if (images.includes(g) || tokens.includes(g) || stateCandidates.includes(g)) continue;
    miss(
      `a description of input '${g.name}' (${g.type ?? 'non-tensor'} ${formatShape(g.shape)}): init knows images ` +
        '(rank 4), the state (float32 rank 2) and language tokens (int64 rank 2)',
      'write that part of the manifest by hand (schema/vla-manifest.schema.json)',
    );
  }

  const output = pickOutput(graph, o, miss);
  const { dim, horizon } = chunkShape(output, o, miss);
  const state = pickState(stateCandidates, o, miss, notes);
  const size = o.robot?.action_names.length;
  const fix = `a model for ${o.robot?.robot}, or no --robot to describe this one anyway`;
  if (size !== undefined && dim !== undefined && dim !== size)
    miss(`an action size of ${size} for ${o.robot?.robot}; output '${output?.name}' gives ${dim}`, fix);
  if (size !== undefined && state && state.dim !== size)
    miss(`a state size of ${size} for ${o.robot?.robot}; input '${state.name}' takes ${state.dim}`, fix);
  const imageSpecs = images.map((g) => imageSpec(g, o, miss, notes));
  if (o.control_hz === undefined) miss('the control rate the model was trained at (the graph does not say)', '--hz HZ');

  const normMode = o.norm ?? (o.stats ? 'mean_std' : undefined);
  if (!normMode)
    miss(
      'the normalisation of state and actions (the graph does not say)',
      '--stats stats.json (LeRobot or openpi statistics) or --norm identity (the graph takes and gives raw values)',
    );
  else if (normMode !== 'identity' && !o.stats) miss(`statistics for --norm ${normMode}`, '--stats stats.json');

  if (missing.length > 0 || !output || dim === undefined || horizon === undefined || !normMode)
    return { manifest: undefined, missing, notes };

  const norm = (keys: string[], n: number, what: string): NormStatsT => {
    if (normMode === 'identity' || !o.stats) return { kind: 'identity' };
    const found = findStats(o.stats, keys);
    if (!found) throw new PolicyLoadError(`statistics: no entry for the ${what} (looked for ${keys.join(', ')})`);
    notes.push(`${what}: ${normMode} from statistics '${found.key}'`);
    return normFromStats(normMode, found.stats, n, `statistics '${found.key}'`);
  };
  const names = o.robot && o.robot.action_names.length === dim ? [...o.robot.action_names] : undefined;
  const manifest: OnnxManifestInput = {
    format_version: MANIFEST_FORMAT_VERSION,
    name: o.name,
    robot: o.robot?.robot,
    control_hz: o.control_hz!,
    action: {
      dim,
      horizon,
      offset: o.offset ?? 1,
      names,
      semantics: 'absolute_joint_positions',
      normalization: norm([output.name, 'action', 'actions'], dim, 'action'),
    },
    inputs: {
      images: imageSpecs.filter((s): s is ImageSpec => s !== undefined),
      state: state
        ? {
            input: state.name,
            dim: state.dim,
            normalization: norm([state.name, 'observation.state', 'state'], state.dim, 'state'),
          }
        : undefined,
      language: tokens[0]
        ? { kind: 'tokens', input: tokens[0].name, length: staticDim(tokens[0].shape?.[1]) ?? 1 }
        : undefined,
    },
    output: { name: output.name, shape: [1, horizon, dim] },
  };
  if (tokens.length > 1)
    throw new PolicyLoadError(`two int64 inputs (${tokens.map((t) => t.name).join(', ')}): write the manifest by hand`);
  if (tokens[0])
    notes.push(`language: '${tokens[0].name}' takes token ids; the runtime has no tokenizer yet and feeds zeros`);
  for (const img of manifest.inputs.images ?? []) {
    if (img.dtype === 'float32') img.normalize = imageNorm(img.input, img.camera, o, notes);
  }
  return { manifest, missing, notes };
}

function pickOutput(graph: GraphInfo, o: DraftOptions, miss: (w: string, f: string) => void): GraphValue | undefined {
  const list = graph.outputs.map((g) => `${g.name} ${formatShape(g.shape)}`).join(', ');
  if (o.output) {
    const g = graph.outputs.find((x) => x.name === o.output);
    if (!g) miss(`output '${o.output}' (model outputs: ${list})`, '--output NAME');
    return g;
  }
  const rank3 = graph.outputs.filter((g) => g.isTensor && g.shape?.length === 3);
  if (rank3.length === 1) return rank3[0];
  const named = graph.outputs.filter((g) => g.name === 'action' || g.name === 'actions');
  if (named.length === 1) return named[0];
  miss(`which output holds the action chunk [1, H, D] (model outputs: ${list})`, '--output NAME');
  return undefined;
}

function chunkShape(
  out: GraphValue | undefined,
  o: DraftOptions,
  miss: (w: string, f: string) => void,
): { dim: number | undefined; horizon: number | undefined } {
  if (!out) return { dim: undefined, horizon: undefined };
  const shape = out.shape ?? [];
  if (out.type !== 'float32' || (shape.length !== 3 && shape.length !== 0)) {
    miss(`a float32 [1, H, D] action output; '${out.name}' is ${out.type} ${formatShape(shape)}`, '--output NAME');
    return { dim: undefined, horizon: undefined };
  }
  let horizon = staticDim(shape[1]);
  if (o.horizon !== undefined && horizon !== undefined && o.horizon !== horizon)
    miss(
      `--horizon ${o.horizon} to agree with the graph: output '${out.name}' is ${formatShape(shape)}`,
      `--horizon ${horizon}`,
    );
  horizon ??= o.horizon;
  if (horizon === undefined) miss(`the chunk length H (output '${out.name}' is ${formatShape(shape)})`, '--horizon H');
  const dim = staticDim(shape[2]) ?? o.robot?.action_names.length;
  if (dim === undefined) miss(`the action size D (output '${out.name}' is ${formatShape(shape)})`, '--robot R');
  return { dim, horizon };
}

function pickState(
  candidates: GraphValue[],
  o: DraftOptions,
  miss: (w: string, f: string) => void,
  notes: string[],
): { name: string; dim: number } | undefined {
  if (candidates.length === 0) return undefined;
  if (candidates.length > 1) {
    miss(
      `which float32 rank-2 input is the robot state (${candidates.map((c) => c.name).join(', ')})`,
      '--state INPUT',
    );
    return undefined;
  }
  const g = candidates[0];
  if (g.type !== 'float32' || g.shape?.length !== 2) {
    miss(`a float32 [1, dim] state input; '${g.name}' is ${g.type} ${formatShape(g.shape)}`, '--state INPUT');
    return undefined;
  }
  const dim = staticDim(g.shape[1]) ?? o.robot?.action_names.length;
  if (dim === undefined) {
    miss(`the state size (input '${g.name}' is ${formatShape(g.shape)})`, '--robot R');
    return undefined;
  }
  notes.push(`state: '${g.name}' [1, ${dim}]${o.state_input ? '' : ' (the only float32 rank-2 input)'}`);
  return { name: g.name, dim };
}

function imageSpec(
  g: GraphValue,
  o: DraftOptions,
  miss: (w: string, f: string) => void,
  notes: string[],
): ImageSpec | undefined {
  const shape = g.shape ?? [];
  if (g.type !== 'float32' && g.type !== 'uint8') {
    miss(`image input '${g.name}' as float32 or uint8, found ${g.type}`, 'export the model with such an input');
    return undefined;
  }
  const [, a, b, c] = shape.map(staticDim);
  const layout = a === 3 ? 'NCHW' : c === 3 ? 'NHWC' : o.layout;
  if (!layout) {
    miss(`the layout of image input '${g.name}' ${formatShape(shape)}`, '--layout NCHW|NHWC');
    return undefined;
  }
  const [h, w] = layout === 'NCHW' ? [b, c] : [a, b];
  const height = h ?? o.image_size?.height;
  const width = w ?? o.image_size?.width;
  if (height === undefined || width === undefined) {
    miss(`the size of image input '${g.name}' ${formatShape(shape)}`, '--image-size WxH');
    return undefined;
  }
  const camera = o.cameras[g.name] ?? matchCamera(g.name, o.robot);
  if (!camera) {
    const valid = o.robot ? ` (cameras of ${o.robot.robot}: ${o.robot.cameras.map((x) => x.name).join(', ')})` : '';
    miss(`the robot camera that feeds image input '${g.name}'${valid}`, `--camera ${g.name}=CAMERA`);
    return undefined;
  }
  if (o.robot && !o.robot.cameras.some((x) => x.name === camera)) {
    const valid = o.robot.cameras.map((x) => x.name).join(', ');
    miss(`a camera of ${o.robot.robot} for '${g.name}': '${camera}' is none of ${valid}`, `--camera ${g.name}=CAMERA`);
    return undefined;
  }
  notes.push(
    `camera ${camera} -> '${g.name}' ${g.type} ${layout} ${width}x${height}` +
      `${o.cameras[g.name] ? '' : ' (camera matched by name)'}`,
  );
  return { input: g.name, camera, height, width, layout, dtype: g.type };
}

/** The robot camera whose name ends the input name (`observation.images.top`, `image_left_wrist`), longest first. */
export function matchCamera(input: string, robot: RobotDescription | undefined): string | undefined {
  if (!robot) return undefined;
  const hits = robot.cameras
    .map((c) => c.name)
    .filter((c) => input === c || ['.', '_', '/', '-'].some((sep) => input.endsWith(`${sep}${c}`)))
    .sort((x, y) => y.length - x.length);
  return hits[0];
}

function imageNorm(
  input: string,
  camera: string,
  o: DraftOptions,
  notes: string[],
): { scale: number; mean: number[]; std: number[] } | undefined {
  const keys = [input, `observation.images.${camera}`, camera];
  const found = o.stats ? findStats(o.stats, keys) : undefined;
  const kind = o.image_norm ?? (found ? 'stats' : 'unit');
  if (kind === 'imagenet') {
    notes.push(`image '${input}': ImageNet mean/std on rgb / 255`);
    return { scale: 1 / 255, ...IMAGENET_STATS };
  }
  if (kind === 'unit') {
    notes.push(`image '${input}': rgb / 255 in [0, 1], no mean/std (--image-norm imagenet|stats to change)`);
    return undefined;
  }
  if (!found)
    throw new PolicyLoadError(`--image-norm stats: no statistics for image '${input}' (looked for ${keys.join(', ')})`);
  const mode = o.norm && o.norm !== 'identity' ? o.norm : 'mean_std';
  notes.push(`image '${input}': ${mode} from statistics '${found.key}'`);
  return imageNormFromStats(mode, found.stats, `statistics '${found.key}'`);
}
