// Writes small but real ONNX policies of any shape, for tests and benchmarks: the same inputs,
// output and manifest a trained model would have, with a tiny network (mean-pool each image, concat
// with state and the other inputs, one dense layer with seeded weights, tanh, reshape to [1, H, D]).
import { writeFile } from 'node:fs/promises';
import { Rng } from '../../util/rng.js';
import { attrInt, attrInts, DT, GraphBuilder, valueInfo } from './graph-builder.js';
import {
  MANIFEST_FORMAT_VERSION,
  MANIFEST_METADATA_KEY,
  type OnnxManifest,
  type OnnxManifestInput,
  parseManifest,
} from './manifest.js';
import { sidecarPath } from './onnx-file.js';

type Stats = OnnxManifestInput['action']['normalization'];

export interface TestCameraSpec {
  name: string;
  width: number;
  height: number;
  layout?: 'NCHW' | 'NHWC';
  dtype?: 'float32' | 'uint8';
  /** float32 only; default ImageNet mean/std on [0, 1] pixels. */
  normalize?: { scale: number; mean: number[]; std: number[] };
}

export interface TestPolicySpec {
  name?: string;
  robot?: string;
  control_hz?: number;
  cameras: TestCameraSpec[];
  /** 0: no state input. */
  state_dim: number;
  horizon: number;
  action_dim: number;
  action_offset?: number;
  action_normalization?: Stats;
  state_normalization?: Stats;
  language?: { kind: 'tokens'; length: number } | { kind: 'embedding'; dim: number };
  committed?: { max_length: number; length_input?: boolean; normalized?: boolean };
  /**
   * net: outputs depend on every input. constant: the raw (normalised) output is `constant`
   * whatever the inputs. nan: the net's output with NaN at `nan_index`. echo_prefix: the output is
   * the committed-prefix input (rows past max_length are 0), to see what the model was fed.
   */
  mode?: 'net' | 'constant' | 'nan' | 'echo_prefix';
  /** Raw model output for mode 'constant', horizon * action_dim values. */
  constant?: ArrayLike<number>;
  nan_index?: number;
  seed?: number;
  /** Where the manifest goes (default metadata). */
  manifest_in?: 'metadata' | 'sidecar' | 'both' | 'none';
}

export interface WrittenTestPolicy {
  path: string;
  manifest: OnnxManifest;
  /** Set when a sidecar was written. */
  sidecar_path: string | undefined;
  size_bytes: number;
}

export const IMAGENET = { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** The manifest a spec implies (defaults filled in by the schema). */
export function testPolicyManifest(spec: TestPolicySpec): OnnxManifest {
  const H = spec.horizon,
    D = spec.action_dim;
  const m: OnnxManifestInput = {
    format_version: MANIFEST_FORMAT_VERSION,
    name: spec.name ?? 'test-policy',
    robot: spec.robot,
    control_hz: spec.control_hz ?? 50,
    action: {
      dim: D,
      horizon: H,
      offset: spec.action_offset ?? 1,
      semantics: 'absolute_joint_positions',
      normalization: spec.action_normalization ?? { kind: 'identity' },
    },
    inputs: {
      images: spec.cameras.map((c) => {
        const dtype = c.dtype ?? 'float32';
        return {
          input: `image_${c.name}`,
          camera: c.name,
          height: c.height,
          width: c.width,
          layout: c.layout ?? 'NCHW',
          dtype,
          normalize: dtype === 'float32' ? (c.normalize ?? IMAGENET) : undefined,
        };
      }),
      state:
        spec.state_dim > 0
          ? { input: 'state', dim: spec.state_dim, normalization: spec.state_normalization ?? { kind: 'identity' } }
          : undefined,
      language:
        spec.language?.kind === 'tokens'
          ? { kind: 'tokens', input: 'language_tokens', length: spec.language.length }
          : spec.language
            ? { kind: 'embedding', input: 'language_embedding', dim: spec.language.dim }
            : undefined,
      committed: spec.committed
        ? {
            input: 'committed_actions',
            max_length: spec.committed.max_length,
            length_input: spec.committed.length_input ? 'committed_length' : undefined,
            normalized: spec.committed.normalized ?? true,
          }
        : undefined,
    },
    output: { name: 'actions', shape: [1, H, D] },
  };
  return parseManifest(JSON.parse(JSON.stringify(m)), `test policy ${m.name}`);
}

/** The ONNX model bytes and the manifest for a spec. */
export function buildTestPolicy(
  spec: TestPolicySpec,
  opts: { embedManifest: boolean } = { embedManifest: true },
): { bytes: Uint8Array; manifest: OnnxManifest } {
  const manifest = testPolicyManifest(spec);
  const g = new GraphBuilder();
  const H = spec.horizon,
    D = spec.action_dim;
  const mode = spec.mode ?? 'net';
  const features: string[] = [];
  for (const img of manifest.inputs.images) {
    const dt = img.dtype === 'uint8' ? DT.UINT8 : DT.FLOAT;
    g.input(img.input, dt, img.layout === 'NCHW' ? [1, 3, img.height, img.width] : [1, img.height, img.width, 3]);
    const x = img.dtype === 'uint8' ? g.op('Cast', [img.input], [attrInt('to', DT.FLOAT)]) : img.input;
    const pooled = g.op(
      'ReduceMean',
      [x],
      [attrInts('axes', img.layout === 'NCHW' ? [2, 3] : [1, 2]), attrInt('keepdims', 0)],
    );
    features.push(img.dtype === 'uint8' ? g.op('Mul', [pooled, g.float('inv255', [], [1 / 255])]) : pooled);
  }
  const { state, language, committed } = manifest.inputs;
  if (state) {
    g.input(state.input, DT.FLOAT, [1, state.dim]);
    features.push(state.input);
  }
  if (language) {
    const tokens = language.kind === 'tokens';
    g.input(language.input, tokens ? DT.INT64 : DT.FLOAT, [1, tokens ? language.length : language.dim]);
    const x = tokens ? g.op('Cast', [language.input], [attrInt('to', DT.FLOAT)]) : language.input;
    features.push(g.op('ReduceMean', [x], [attrInts('axes', [1]), attrInt('keepdims', 1)]));
  }
  if (committed) {
    g.input(committed.input, DT.FLOAT, [1, committed.max_length, D]);
    features.push(g.op('Reshape', [committed.input, g.int64('prefix_flat', [1, committed.max_length * D])]));
    if (committed.length_input) {
      g.input(committed.length_input, DT.INT64, [1]);
      const len = g.op('Cast', [committed.length_input], [attrInt('to', DT.FLOAT)]);
      features.push(g.op('Reshape', [len, g.int64('len_shape', [1, 1])]));
    }
  }
  const F = featureCount(manifest);
  const rng = new Rng(spec.seed ?? 1);
  const w = new Float32Array(Math.max(F, 1) * H * D).map(() => rng.normal() / Math.sqrt(Math.max(F, 1)));
  const b = new Float32Array(H * D).map(() => 0.1 * rng.normal());
  let net: string;
  if (F === 0) {
    net = g.float('bias_only', [1, H * D], b);
  } else {
    const x = features.length === 1 ? features[0] : g.op('Concat', features, [attrInt('axis', 1)]);
    net = g.op('Tanh', [g.op('Add', [g.op('MatMul', [x, g.float('W', [F, H * D], w)]), g.float('B', [H * D], b)])]);
  }
  const chunk = g.op('Reshape', [net, g.int64('out_shape', [1, H, D])]);
  let out: string;
  if (mode === 'constant') {
    const c = Float32Array.from(spec.constant ?? []);
    if (c.length !== H * D)
      throw new Error(`constant mode: expected ${H * D} values (horizon x dim), found ${c.length}`);
    out = g.op('Add', [g.op('Mul', [chunk, g.float('zero', [], [0])]), g.float('constant', [1, H, D], c)]);
  } else if (mode === 'nan') {
    const c = new Float32Array(H * D);
    c[spec.nan_index ?? 0] = NaN;
    out = g.op('Add', [chunk, g.float('nan', [1, H, D], c)]);
  } else if (mode === 'echo_prefix') {
    if (!committed || committed.max_length > H)
      throw new Error('echo_prefix mode needs a committed input with max_length <= horizon');
    // keep the net in the graph (every input stays used) but add it times zero
    const prefix =
      committed.max_length === H
        ? committed.input
        : g.op(
            'Concat',
            [
              committed.input,
              g.float('pad_rows', [1, H - committed.max_length, D], new Float32Array((H - committed.max_length) * D)),
            ],
            [attrInt('axis', 1)],
          );
    out = g.op('Add', [g.op('Mul', [chunk, g.float('zero', [], [0])]), prefix]);
  } else {
    out = chunk;
  }
  g.nodes.push({ opType: 'Identity', input: [out], output: [manifest.output.name], name: 'output' });
  g.outputs.push(valueInfo(manifest.output.name, DT.FLOAT, [1, H, D]));
  const bytes = g.model(
    manifest.name,
    'vla-runtime model-writer',
    opts.embedManifest ? { [MANIFEST_METADATA_KEY]: JSON.stringify(manifest) } : {},
  );
  return { bytes, manifest };
}

/** Write the model (and, if asked, its sidecar). */
export async function writeTestPolicy(path: string, spec: TestPolicySpec): Promise<WrittenTestPolicy> {
  const where = spec.manifest_in ?? 'metadata';
  const { bytes, manifest } = buildTestPolicy(spec, { embedManifest: where === 'metadata' || where === 'both' });
  await writeFile(path, bytes);
  let sidecar: string | undefined;
  if (where === 'sidecar' || where === 'both') {
    sidecar = sidecarPath(path);
    await writeFile(sidecar, `${JSON.stringify(manifest, null, 2)}\n`);
  }
  return { path, manifest, sidecar_path: sidecar, size_bytes: bytes.length };
}

function featureCount(m: OnnxManifest): number {
  const { state, language, committed } = m.inputs;
  return (
    m.inputs.images.length * 3 +
    (state?.dim ?? 0) +
    (language ? 1 : 0) +
    (committed ? committed.max_length * m.action.dim + (committed.length_input ? 1 : 0) : 0)
  );
}
