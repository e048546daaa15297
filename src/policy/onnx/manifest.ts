// The manifest of an ONNX policy: what the runtime must know to feed the model and read its output
// (input names, shapes, normalisation, action layout, rate). It travels inside the ONNX file
// (metadata_props key `vla_manifest`) or next to it (`model.manifest.json`); see onnx-file.ts for
// where it is read from. Everything here is pure: parse, check against the graph, check against a robot.
import { z } from 'zod';
import type { PolicyDescription } from '../policy.js';

export const MANIFEST_METADATA_KEY = 'vla_manifest';
export const MANIFEST_FORMAT_VERSION = 1;

/**
 * A model or manifest that cannot be used (missing, not ONNX, bad manifest, mismatch); the message names the file and
 * the problem.
 */
export class PolicyLoadError extends Error {}

const PositiveInt = z.number().int().positive();
const Name = z.string().min(1);

/**
 * Per-dimension statistics. mean_std: n = (x - mean) / (std + eps). min_max maps [min, max] to
 * [-1, 1]: n = 2 (x - min) / (max - min + eps) - 1. The model's outputs are un-normalised with the
 * inverse (without eps, as LeRobot does).
 */
const NormStats = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('identity') }).strict(),
  z
    .object({
      kind: z.literal('mean_std'),
      mean: z.array(z.number()),
      std: z.array(z.number().nonnegative()),
      eps: z.number().nonnegative().default(1e-8),
    })
    .strict(),
  z
    .object({
      kind: z.literal('min_max'),
      min: z.array(z.number()),
      max: z.array(z.number()),
      eps: z.number().nonnegative().default(1e-8),
    })
    .strict(),
]);

const ImageInput = z
  .object({
    /** ONNX input name. */
    input: Name,
    camera: Name,
    height: PositiveInt,
    width: PositiveInt,
    layout: z.enum(['NCHW', 'NHWC']),
    dtype: z.enum(['float32', 'uint8']),
    /** float32 only: v = (rgb * scale - mean[c]) / std[c]; absent means scale 1/255, mean 0, std 1. */
    normalize: z
      .object({
        scale: z.number().positive(),
        mean: z.array(z.number()).length(3),
        std: z.array(z.number().positive()).length(3),
      })
      .strict()
      .optional(),
  })
  .strict();

const StateInput = z.object({ input: Name, dim: PositiveInt, normalization: NormStats }).strict();

// The runtime has no tokenizer yet: the Preprocessor feeds zeros of the declared shape whatever the
// instruction says, so a language-conditioned model runs with an empty prompt for now.
const LanguageInput = z.discriminatedUnion('kind', [
  /** int64 [1, length] token ids. */
  z.object({ kind: z.literal('tokens'), input: Name, length: PositiveInt }).strict(),
  /** float32 [1, dim] sentence embedding. */
  z.object({ kind: z.literal('embedding'), input: Name, dim: PositiveInt }).strict(),
]);

const CommittedInput = z
  .object({
    /** float32 [1, max_length, action dim]: actions already committed for ticks obs_tick+1... */
    input: Name,
    max_length: PositiveInt,
    /** int64 [1]: how many rows of the prefix are real (the rest repeat the last one). */
    length_input: Name.optional(),
    /** The prefix is fed in the model's normalised action space (the action statistics). */
    normalized: z.boolean().default(true),
  })
  .strict();

export const ManifestSchema = z
  .object({
    format_version: z.literal(MANIFEST_FORMAT_VERSION),
    name: Name,
    /** Robot the model was trained for; another robot is refused unless the user accepts it (checkPolicyFitsRobot). */
    robot: Name.optional(),
    control_hz: z.number().positive().max(1000),
    action: z
      .object({
        dim: PositiveInt,
        horizon: PositiveInt,
        /** actions[0] is for tick obs_tick + offset. */
        offset: z.number().int().nonnegative().default(1),
        names: z.array(Name).optional(),
        semantics: z.string(),
        normalization: NormStats,
      })
      .strict(),
    inputs: z
      .object({
        images: z.array(ImageInput).default([]),
        state: StateInput.optional(),
        language: LanguageInput.optional(),
        committed: CommittedInput.optional(),
      })
      .strict(),
    output: z.object({ name: Name, shape: z.tuple([z.literal(1), PositiveInt, PositiveInt]) }).strict(),
    /**
     * An optional second output [1, dim]: what the model saw, as features (the demo models' spatial-softmax
     * keypoints), handed with each chunk to a residual policy.
     */
    features: z.object({ name: Name, dim: PositiveInt }).strict().optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const issue = (path: (string | number)[], message: string): void => ctx.addIssue({ code: 'custom', path, message });
    if (m.action.semantics !== 'absolute_joint_positions') {
      issue(['action', 'semantics'], `only 'absolute_joint_positions' is supported, found '${m.action.semantics}'`);
    }
    const dim = m.action.dim;
    statsIssues(m.action.normalization, dim, ['action', 'normalization'], issue);
    if (m.action.names && m.action.names.length !== dim)
      issue(['action', 'names'], `expected ${dim} names, found ${m.action.names.length}`);
    if (m.inputs.state)
      statsIssues(m.inputs.state.normalization, m.inputs.state.dim, ['inputs', 'state', 'normalization'], issue);
    if (m.output.shape[1] !== m.action.horizon || m.output.shape[2] !== dim) {
      issue(
        ['output', 'shape'],
        `expected [1, ${m.action.horizon}, ${dim}] (action.horizon, action.dim), found [${m.output.shape.join(', ')}]`,
      );
    }
    m.inputs.images.forEach((img, i) => {
      if (img.dtype === 'uint8' && img.normalize)
        issue(
          ['inputs', 'images', i, 'normalize'],
          'uint8 images are fed as raw bytes; normalize applies to float32 only',
        );
      if (m.inputs.images.findIndex((o) => o.camera === img.camera) !== i)
        issue(['inputs', 'images', i, 'camera'], `camera '${img.camera}' feeds two inputs; one input per camera`);
    });
    const names = inputNames(m);
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) issue(['inputs'], `input name '${n}' is used twice`);
    });
  });

function statsIssues(
  s: NormStatsT,
  dim: number,
  path: (string | number)[],
  issue: (p: (string | number)[], m: string) => void,
): void {
  const check = (key: string, arr: number[]): void => {
    if (arr.length !== dim) issue([...path, key], `expected ${dim} values, found ${arr.length}`);
  };
  if (s.kind === 'mean_std') {
    check('mean', s.mean);
    check('std', s.std);
    // every output would be the mean whatever the model says (and every input divided by eps): the
    // statistics were not computed, or not exported
    if (s.std.length > 0 && s.std.every((x) => x === 0))
      issue([...path, 'std'], 'is 0 in every dimension: the statistics are missing (recompute them from the data)');
  } else if (s.kind === 'min_max') {
    check('min', s.min);
    check('max', s.max);
    if (s.min.some((lo, i) => !(lo <= s.max[i]))) issue([...path], 'min must not exceed max');
  }
}

export type OnnxManifest = z.output<typeof ManifestSchema>;
/** What a manifest file may contain (defaults not yet applied). */
export type OnnxManifestInput = z.input<typeof ManifestSchema>;
export type NormStatsT = z.output<typeof NormStats>;
export type ImageInputSpec = z.output<typeof ImageInput>;

/** Validate a parsed JSON value; `source` names where it came from, for the message. */
export function parseManifest(json: unknown, source: string): OnnxManifest {
  // the version first: a newer manifest would otherwise show up as a list of unknown fields
  const version = (json as { format_version?: unknown } | null)?.format_version;
  if (typeof version === 'number' && version !== MANIFEST_FORMAT_VERSION) {
    throw new PolicyLoadError(
      `${source}: invalid manifest: format_version: expected ${MANIFEST_FORMAT_VERSION}, found ${version} (this ` +
        `runtime reads version ${MANIFEST_FORMAT_VERSION})`,
    );
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PolicyLoadError(`${source}: invalid manifest: ${issues}`);
  }
  return parsed.data;
}

/** Every ONNX input name the manifest feeds, in feed order. */
export function inputNames(m: OnnxManifest): string[] {
  const names = m.inputs.images.map((i) => i.input);
  if (m.inputs.state) names.push(m.inputs.state.input);
  if (m.inputs.language) names.push(m.inputs.language.input);
  if (m.inputs.committed) {
    names.push(m.inputs.committed.input);
    if (m.inputs.committed.length_input) names.push(m.inputs.committed.length_input);
  }
  return names;
}

export type TensorDType = 'float32' | 'uint8' | 'int64';

/** The tensor the runtime will feed (or expects back): dtype and static shape. */
export interface TensorSpec {
  name: string;
  role: string;
  dtype: TensorDType;
  dims: number[];
}

export function imageDims(img: ImageInputSpec): number[] {
  return img.layout === 'NCHW' ? [1, 3, img.height, img.width] : [1, img.height, img.width, 3];
}

/** The input tensors the manifest promises to feed, in feed order. */
export function expectedInputs(m: OnnxManifest): TensorSpec[] {
  const out: TensorSpec[] = m.inputs.images.map((img) => ({
    name: img.input,
    role: `camera ${img.camera}`,
    dtype: img.dtype,
    dims: imageDims(img),
  }));
  const { state, language, committed } = m.inputs;
  if (state) out.push({ name: state.input, role: 'state', dtype: 'float32', dims: [1, state.dim] });
  if (language?.kind === 'tokens')
    out.push({ name: language.input, role: 'language tokens', dtype: 'int64', dims: [1, language.length] });
  if (language?.kind === 'embedding')
    out.push({ name: language.input, role: 'language embedding', dtype: 'float32', dims: [1, language.dim] });
  if (committed) {
    out.push({
      name: committed.input,
      role: 'committed prefix',
      dtype: 'float32',
      dims: [1, committed.max_length, m.action.dim],
    });
    if (committed.length_input)
      out.push({ name: committed.length_input, role: 'committed prefix length', dtype: 'int64', dims: [1] });
  }
  return out;
}

/** An input or output as the ONNX graph declares it (onnxruntime's session metadata). */
export interface GraphValue {
  name: string;
  isTensor: boolean;
  /** 'float32', 'int64', ...; absent for non-tensors. */
  type?: string;
  /** Static dims are numbers; dynamic ones strings or -1; [] when the graph gives no shape. */
  shape?: readonly (number | string)[];
}

/** Problems between manifest and graph, each "expected X, found Y"; empty when they agree. */
export function checkManifestAgainstGraph(
  m: OnnxManifest,
  graph: { inputs: readonly GraphValue[]; outputs: readonly GraphValue[] },
): string[] {
  const problems: string[] = [];
  const list = (vs: readonly GraphValue[]): string => vs.map((v) => v.name).join(', ') || 'none';
  const compare = (kind: string, want: TensorSpec, have: GraphValue): void => {
    const what = `${kind} '${want.name}' (${want.role})`;
    if (!have.isTensor) {
      problems.push(`${what}: expected a tensor, found a non-tensor value`);
      return;
    }
    if (have.type !== want.dtype) problems.push(`${what}: expected dtype ${want.dtype}, found ${have.type}`);
    const shape = have.shape ?? [];
    if (shape.length === 0) return; // the graph does not declare a shape: nothing to check
    const fits =
      shape.length === want.dims.length && shape.every((d, i) => typeof d !== 'number' || d < 0 || d === want.dims[i]);
    if (!fits) problems.push(`${what}: expected shape [${want.dims.join(', ')}], found [${shape.join(', ')}]`);
  };
  const expected = expectedInputs(m);
  for (const want of expected) {
    const have = graph.inputs.find((g) => g.name === want.name);
    if (!have)
      problems.push(
        `input '${want.name}' (${want.role}): expected in the model, found no such input (model inputs: ` +
          `${list(graph.inputs)})`,
      );
    else compare('input', want, have);
  }
  for (const have of graph.inputs) {
    if (!expected.some((e) => e.name === have.name))
      problems.push(
        `input '${have.name}': the model has it, the manifest does not describe it (manifest inputs: ` +
          `${expected.map((e) => e.name).join(', ') || 'none'})`,
      );
  }
  const outputs: TensorSpec[] = [{ name: m.output.name, role: 'actions', dtype: 'float32', dims: [...m.output.shape] }];
  if (m.features)
    outputs.push({ name: m.features.name, role: 'features', dtype: 'float32', dims: [1, m.features.dim] });
  for (const out of outputs) {
    const have = graph.outputs.find((g) => g.name === out.name);
    if (have) compare(out.role === 'actions' ? 'output' : 'features', out, have);
    else
      problems.push(
        `output '${out.name}': expected in the model, found no such output (model outputs: ${list(graph.outputs)})`,
      );
  }
  return problems;
}

/** A PolicyDescription plus what an ONNX manifest knows beyond it. */
export interface OnnxPolicyDescription extends PolicyDescription {
  kind: 'onnx';
  state_dim: number | undefined;
  /** The robot the model was trained for, when the manifest says. */
  robot: string | undefined;
  action_names: string[] | undefined;
}

export function describeManifest(m: OnnxManifest): OnnxPolicyDescription {
  return {
    name: m.name,
    kind: 'onnx',
    horizon: m.action.horizon,
    action_dim: m.action.dim,
    action_offset: m.action.offset,
    cameras: m.inputs.images.map((i) => ({ name: i.camera, width: i.width, height: i.height })),
    control_hz: m.control_hz,
    max_committed: m.inputs.committed?.max_length ?? 0,
    state_dim: m.inputs.state?.dim,
    robot: m.robot,
    action_names: m.action.names,
    features_dim: m.features?.dim,
  };
}

export interface RobotFacts {
  name: string;
  action_dim: number;
  state_dim: number;
  cameras: string[];
  control_hz: number;
}

export interface FitProblem {
  severity: 'error' | 'warning';
  message: string;
}

/**
 * Whether a policy can drive a robot. Errors must stop the run before anything moves: dimensions,
 * cameras, rate, and the robot the manifest names (unless the user accepts it: a warning then).
 */
export function checkPolicyFitsRobot(
  desc: PolicyDescription & { state_dim?: number; robot?: string },
  robot: RobotFacts,
  accept: { allow_robot_mismatch: boolean } = { allow_robot_mismatch: false },
): FitProblem[] {
  const problems: FitProblem[] = [];
  const err = (message: string): void => void problems.push({ severity: 'error', message });
  const warn = (message: string): void => void problems.push({ severity: 'warning', message });
  const policy = `policy '${desc.name}'`;
  if (desc.action_dim !== robot.action_dim) {
    err(`action dimension: expected ${robot.action_dim} (robot ${robot.name}), found ${desc.action_dim} (${policy})`);
  }
  if (desc.state_dim !== undefined && desc.state_dim !== robot.state_dim) {
    err(`state dimension: expected ${robot.state_dim} (robot ${robot.name}), found ${desc.state_dim} (${policy})`);
  }
  for (const cam of desc.cameras) {
    if (!robot.cameras.includes(cam.name)) {
      err(
        `camera: expected one of ${robot.cameras.join(', ') || '(none)'} (robot ${robot.name}), found '${cam.name}' ` +
          `(${policy})`,
      );
    }
  }
  // a chunk's rows are consecutive control ticks: at another rate every motion plays faster or slower
  if (desc.control_hz !== undefined && Math.abs(desc.control_hz - robot.control_hz) > 1e-6) {
    const ratio = robot.control_hz / desc.control_hz;
    err(
      `control rate: expected ${robot.control_hz} Hz (robot ${robot.name}), found ${desc.control_hz} Hz (${policy} ` +
        `was trained at it): its actions would play ${ratio.toFixed(2)}x as fast as in training; run the control ` +
        `loop at ${desc.control_hz} Hz (vla-run --hz ${desc.control_hz})`,
    );
  }
  if (desc.robot !== undefined && desc.robot !== robot.name) {
    const msg = `robot: expected ${robot.name}, found ${desc.robot} (the robot ${policy} was trained for)`;
    // the flag accepts another robot's name, not another layout: offer it only when nothing else is wrong
    const layoutDiffers = problems.some((p) => p.severity === 'error');
    if (accept.allow_robot_mismatch) warn(`${msg}; run anyway (--allow-robot-mismatch)`);
    else if (layoutDiffers) err(msg);
    else err(`${msg}; if its action layout really is this robot's, say so with --allow-robot-mismatch`);
  }
  return problems;
}
