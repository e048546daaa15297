// A LeRobot policy folder (config.json, statistics) plus its exported ONNX graph -> a manifest. LeRobot's
// feature names map onto the manifest's inputs (observation.images.<cam> -> an image input fed by a robot
// camera, observation.state -> the state, action -> the chunk output), its normalisation modes onto the
// manifest's, and what the runtime does differently (n_action_steps, temporal ensembling) is said.
import type { RobotDescription } from '../../robot/index.js';
import { formatShape, type GraphInfo, staticDim } from './graph-info.js';
import type { LeRobotFeature, LeRobotPolicyFolder } from './lerobot-folder.js';
import { type GraphValue, MANIFEST_FORMAT_VERSION, type OnnxManifestInput, PolicyLoadError } from './manifest.js';
import { IMAGENET_STATS, imageNormFromStats, normFromStats } from './norm-stats.js';

export interface LeRobotImportOptions {
  name: string;
  robot?: RobotDescription;
  /** LeRobot camera name (observation.images.<name>) -> robot camera, where they differ. */
  camera_map: Record<string, string>;
  /** LeRobot feature key -> ONNX input name, where the export renamed it. */
  input_map: Record<string, string>;
  output?: string;
  hz?: number;
  /** Image mean/std: the dataset's, or ImageNet's (LeRobot's use_imagenet_stats); default: as the training did. */
  image_stats?: 'dataset' | 'imagenet';
}

export interface LeRobotImport {
  manifest: OnnxManifestInput;
  notes: string[];
}

type ImageSpec = NonNullable<OnnxManifestInput['inputs']['images']>[number];

/** Throws PolicyLoadError listing every problem found (each "expected X, found Y" with the flag that fixes it). */
export function importLeRobot(folder: LeRobotPolicyFolder, graph: GraphInfo, o: LeRobotImportOptions): LeRobotImport {
  const errors: string[] = [];
  const notes: string[] = [];
  if (folder.n_obs_steps !== undefined && folder.n_obs_steps > 1)
    errors.push(`n_obs_steps: expected 1 (the runtime feeds one observation), found ${folder.n_obs_steps}`);
  const images: ImageSpec[] = [];
  let state: NonNullable<OnnxManifestInput['inputs']['state']> | undefined;
  const cams = folder.inputs.filter((f) => f.type === 'VISUAL').map((f) => cameraOf(f.key));
  for (const key of Object.keys(o.camera_map)) {
    if (!cams.includes(key))
      errors.push(
        `--camera-map ${key}=...: expected one of the policy's cameras (${cams.join(', ') || 'none'}), found '${key}'`,
      );
  }
  for (const f of folder.inputs) {
    const input = resolveInput(f.key, graph, o, errors);
    if (f.type === 'VISUAL') {
      const spec = image(f, input, folder, o, errors, notes);
      if (spec) images.push(spec);
    } else if (f.type === 'STATE') {
      if (!input) continue;
      const dim = f.shape.reduce((a, b) => a * b, 1);
      state = { input: input.name, dim, normalization: norm(f, dim, folder, errors) };
      notes.push(`state: ${f.key} [${dim}] -> '${input.name}', ${f.norm}`);
    } else if (f.type === 'ENV') {
      errors.push(
        `${f.key}: the runtime feeds camera images and the joint state; a policy that needs the environment state ` +
          '(object positions a robot does not measure) cannot run on a robot',
      );
    } else {
      errors.push(`${f.key}: feature type ${f.type} is not supported (VISUAL, STATE and ACTION are)`);
    }
  }
  const action = folder.outputs.find((f) => f.type === 'ACTION');
  for (const f of folder.outputs)
    if (f !== action) errors.push(`output feature ${f.key} (${f.type}): only one ACTION output is supported`);
  if (!action) errors.push(`${folder.config_path}: no ACTION output feature`);
  const chunk = action ? chunkOutput(action, graph, folder, o, errors, notes) : undefined;
  const size = o.robot?.action_names.length;
  if (size !== undefined && chunk && chunk.dim !== size)
    errors.push(
      `action: expected ${size} values (robot ${o.robot?.robot}), found ${chunk.dim} (${action?.key}); leave out ` +
        '--robot to write the manifest anyway',
    );
  if (size !== undefined && state && state.dim !== size)
    errors.push(`observation.state: expected ${size} values (robot ${o.robot?.robot}), found ${state.dim}`);
  const hz = o.hz ?? folder.fps?.value;
  if (hz === undefined)
    errors.push(
      'the control rate the policy was trained at: not in config.json, train_config.json or info.json; give --hz',
    );
  else notes.push(`rate: ${hz} Hz (${o.hz !== undefined ? '--hz' : folder.fps?.source})`);
  const actionNorm = action && chunk ? norm(action, chunk.dim, folder, errors) : undefined;
  if (errors.length > 0 || !chunk || !actionNorm || hz === undefined) throw new PolicyLoadError(errors.join('\n'));
  explainChunking(folder, chunk.horizon, notes);
  const names = folder.action_names?.length === chunk.dim ? folder.action_names : undefined;
  return {
    manifest: {
      format_version: MANIFEST_FORMAT_VERSION,
      name: o.name,
      robot: o.robot?.robot,
      control_hz: hz,
      action: {
        dim: chunk.dim,
        horizon: chunk.horizon,
        offset: 1,
        names,
        semantics: 'absolute_joint_positions',
        normalization: actionNorm,
      },
      inputs: { images, state },
      output: { name: chunk.name, shape: [1, chunk.horizon, chunk.dim] },
    },
    notes,
  };
}

/** `observation.images.top` -> `top`; `observation.image` -> `image`. */
export function cameraOf(key: string): string {
  return key.startsWith('observation.images.')
    ? key.slice('observation.images.'.length)
    : key.replace(/^observation\./, '');
}

function resolveInput(
  key: string,
  graph: GraphInfo,
  o: LeRobotImportOptions,
  errors: string[],
): GraphValue | undefined {
  const wanted = o.input_map[key];
  const candidates = wanted ? [wanted] : [key, key.replace(/[./]/g, '_')];
  const g = graph.inputs.find((x) => candidates.includes(x.name));
  if (!g) {
    const list = graph.inputs.map((x) => `${x.name} ${formatShape(x.shape)}`).join(', ');
    errors.push(
      `${key}: expected an ONNX input named ${candidates.map((c) => `'${c}'`).join(' or ')}, found none (model ` +
        `inputs: ${list}); name it with --input-map ${key}=INPUT`,
    );
  }
  return g;
}

function image(
  f: LeRobotFeature,
  input: GraphValue | undefined,
  folder: LeRobotPolicyFolder,
  o: LeRobotImportOptions,
  errors: string[],
  notes: string[],
): ImageSpec | undefined {
  const cam = cameraOf(f.key);
  const camera = o.camera_map[cam] ?? cam;
  if (o.robot && !o.robot.cameras.some((c) => c.name === camera)) {
    const valid = o.robot.cameras.map((c) => c.name).join(', ');
    errors.push(
      `${f.key}: expected a camera of ${o.robot.robot} (${valid}), found '${camera}'; map it with ` +
        `--camera-map ${cam}=CAMERA`,
    );
    return undefined;
  }
  if (f.shape.length !== 3 || f.shape[0] !== 3) {
    errors.push(`${f.key}: expected an RGB image shape [3, H, W], found [${f.shape.join(', ')}]`);
    return undefined;
  }
  if (!input) return undefined;
  if (input.type !== 'float32' && input.type !== 'uint8') {
    errors.push(`${f.key}: ONNX input '${input.name}': expected float32 or uint8, found ${input.type}`);
    return undefined;
  }
  const s = (input.shape ?? []).map(staticDim);
  const layout = s[3] === 3 && s[1] !== 3 ? 'NHWC' : 'NCHW';
  const spec: ImageSpec = {
    input: input.name,
    camera,
    height: f.shape[1],
    width: f.shape[2],
    layout,
    dtype: input.type,
  };
  if (input.type === 'float32') spec.normalize = imageNorm(f, folder, o, errors, notes);
  notes.push(`camera ${camera} -> '${input.name}' (${f.key}) ${layout} ${spec.width}x${spec.height}`);
  return spec;
}

function imageNorm(
  f: LeRobotFeature,
  folder: LeRobotPolicyFolder,
  o: LeRobotImportOptions,
  errors: string[],
  notes: string[],
): ImageSpec['normalize'] {
  if (f.norm === 'identity') return undefined;
  // LeRobot trains with ImageNet's mean/std in place of the dataset's unless told otherwise; statistics the
  // policy saved (its normalizer) are already what it trained with
  const imagenet =
    o.image_stats === 'imagenet' ||
    (o.image_stats === undefined && folder.stats_kind !== 'policy' && (folder.use_imagenet_stats ?? true));
  if (imagenet && f.norm === 'mean_std') {
    notes.push(
      `${f.key}: ImageNet mean/std (LeRobot's use_imagenet_stats` +
        `${folder.use_imagenet_stats === undefined ? ', its default' : ''}` +
        '; --image-stats dataset for the dataset statistics)',
    );
    return { scale: 1 / 255, ...IMAGENET_STATS };
  }
  try {
    return imageNormFromStats(f.norm, folder.stats?.[f.key], `statistics of ${f.key}`);
  } catch (err) {
    errors.push((err as Error).message);
    return undefined;
  }
}

function norm(
  f: LeRobotFeature,
  dim: number,
  folder: LeRobotPolicyFolder,
  errors: string[],
): NonNullable<OnnxManifestInput['inputs']['state']>['normalization'] {
  if (f.norm !== 'identity' && !folder.stats?.[f.key]) {
    errors.push(
      `${f.key}: ${f.norm} normalisation needs its statistics; found none (${
        folder.stats_source ?? 'no stats.json, ' + 'meta/stats.json or normalizer .safetensors in the folder'
      }); give --stats`,
    );
    return { kind: 'identity' };
  }
  try {
    return normFromStats(f.norm, folder.stats?.[f.key], dim, `statistics of ${f.key}`);
  } catch (err) {
    errors.push((err as Error).message);
    return { kind: 'identity' };
  }
}

function chunkOutput(
  action: LeRobotFeature,
  graph: GraphInfo,
  folder: LeRobotPolicyFolder,
  o: LeRobotImportOptions,
  errors: string[],
  notes: string[],
): { name: string; horizon: number; dim: number } | undefined {
  const list = graph.outputs.map((g) => `${g.name} ${formatShape(g.shape)}`).join(', ');
  const rank3 = graph.outputs.filter((g) => g.shape?.length === 3);
  const out = o.output
    ? graph.outputs.find((g) => g.name === o.output)
    : (graph.outputs.find((g) => g.name === action.key || g.name === 'actions') ??
      (rank3.length === 1 ? rank3[0] : undefined));
  if (!out) {
    errors.push(
      `the action chunk output: expected ${o.output ? `'${o.output}'` : "'action' or one [1, H, D] output"}, ` +
        `found ${list}; give --output`,
    );
    return undefined;
  }
  const dim = action.shape.reduce((a, b) => a * b, 1);
  const [, h, d] = (out.shape ?? []).map(staticDim);
  if (d !== undefined && d !== dim)
    errors.push(`output '${out.name}': expected D = ${dim} (${action.key}), found ${formatShape(out.shape)}`);
  const horizon = h ?? folder.chunk_size;
  if (horizon === undefined) {
    errors.push(
      `output '${out.name}' ${formatShape(out.shape)}: the chunk length is open and config.json has no chunk_size`,
    );
    return undefined;
  }
  if (folder.chunk_size !== undefined && h !== undefined && h !== folder.chunk_size) {
    if (h === folder.n_action_steps)
      notes.push(`the export keeps n_action_steps = ${h} of chunk_size ${folder.chunk_size} actions`);
    else
      errors.push(
        `output '${out.name}': expected H = chunk_size ${folder.chunk_size}, found ${formatShape(out.shape)}`,
      );
  }
  return { name: out.name, horizon, dim };
}

function explainChunking(folder: LeRobotPolicyFolder, horizon: number, notes: string[]): void {
  const n = folder.n_action_steps;
  if (n !== undefined && n < horizon) {
    notes.push(
      `n_action_steps ${n} of ${horizon}: LeRobot executes the first ${n} actions of a chunk, then infers again. ` +
        'vla-runtime keeps the whole chunk and asks for the next one when what is left covers the expected ' +
        'inference delay plus a margin (vla-run --margin): it usually infers sooner than every ' +
        `${n} ticks, and the actions past ${n} are a reserve that the next chunk replaces`,
    );
  } else if (n !== undefined) {
    notes.push(
      `n_action_steps ${n} = chunk_size: LeRobot runs the whole chunk, then infers while the robot waits; ` +
        'vla-runtime asks for the next chunk early (expected delay plus a margin), so the robot keeps moving',
    );
  }
  if (folder.temporal_ensemble_coeff !== undefined)
    notes.push(
      `temporal_ensemble_coeff ${folder.temporal_ensemble_coeff}: LeRobot ensembles overlapping chunks; ` +
        'run with vla-run --blend ensemble for the same idea',
    );
}
