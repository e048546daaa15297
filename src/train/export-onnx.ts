// Trained weights -> an ONNX policy the runtime loads like any other: NCHW float images normalised as
// the manifest says, the normalised state, and a [1, H, D] chunk of normalised absolute joint targets.
// The network predicts deltas from the current state; the graph adds the state back, so what leaves
// the model is what the manifest promises (absolute positions) and the runtime needs no special case.
// verifyExport runs the file in ONNX Runtime next to the tfjs network on the same random inputs.
import * as ort from 'onnxruntime-node';
import { attrInt, attrInts, DT, GraphBuilder, valueInfo } from '../policy/onnx/graph-builder.js';
import {
  MANIFEST_FORMAT_VERSION,
  MANIFEST_METADATA_KEY,
  type OnnxManifest,
  parseManifest,
} from '../policy/onnx/manifest.js';
import { Rng } from '../util/rng.js';
import type { TrainingStats } from './batches.js';
import {
  geometry,
  IMAGE_NORM,
  im2colFirstLayer,
  K1,
  K2,
  keypointGrid,
  type NetConfig,
  type NetGeometry,
  NetVariables,
  type NetWeights,
  POOL,
  STRIDE1,
} from './policy-net.js';
import { tfWasm } from './tf-backend.js';

export interface ExportInfo {
  name: string;
  robot: string;
  control_hz: number;
  cameras: string[];
  action_names: string[];
  /** Anything worth keeping about how the model was made (stored as metadata `vla_training`). */
  training?: unknown;
}

/** The graph output holding the keypoints of every camera (manifest `features`). */
export const FEATURES_OUTPUT = 'features';

export function exportManifest(w: NetWeights, stats: TrainingStats, info: ExportInfo): OnnxManifest {
  const c = w.config;
  const stat = (s: { mean: Float32Array; std: Float32Array }) => ({
    kind: 'mean_std' as const,
    mean: [...s.mean],
    std: [...s.std],
    eps: 0,
  });
  return parseManifest(
    {
      format_version: MANIFEST_FORMAT_VERSION,
      name: info.name,
      robot: info.robot,
      control_hz: info.control_hz,
      action: {
        dim: c.action_dim,
        horizon: c.horizon,
        offset: 1,
        names: info.action_names,
        semantics: 'absolute_joint_positions',
        normalization: stat(stats.action),
      },
      inputs: {
        images: info.cameras.map((camera) => ({
          input: `image_${camera}`,
          camera,
          height: c.image_px,
          width: c.image_px,
          layout: 'NCHW',
          dtype: 'float32',
          normalize: IMAGE_NORM,
        })),
        state: { input: 'state', dim: c.state_dim, normalization: stat(stats.state) },
      },
      output: { name: 'actions', shape: [1, c.horizon, c.action_dim] },
      features: { name: FEATURES_OUTPUT, dim: info.cameras.length * 2 * c.c2 },
    },
    `export of ${info.name}`,
  );
}

/**
 * Per action dimension: normalised output = clip(A * net + B * normalised state + C, lo, hi) (see the
 * file comment). Grippers are clipped to their 0 (closed) .. 1 (open) range, so the model never asks
 * for an opening the safety filter would have to clamp; joints are not clipped (their limits are the
 * robot's, enforced by the runtime).
 */
export function outputAffine(
  stats: TrainingStats,
  actionNames: string[],
): { A: Float32Array; B: Float32Array; C: Float32Array; lo: Float32Array; hi: Float32Array } {
  const { state: s, action: a, delta: d } = stats;
  const D = s.mean.length;
  const A = new Float32Array(D),
    B = new Float32Array(D),
    C = new Float32Array(D);
  const lo = new Float32Array(D).fill(-3e38),
    hi = new Float32Array(D).fill(3e38);
  for (let i = 0; i < D; i++) {
    A[i] = d.std[i] / a.std[i];
    B[i] = s.std[i] / a.std[i];
    C[i] = (d.mean[i] + s.mean[i] - a.mean[i]) / a.std[i];
    if (isGripper(actionNames[i])) {
      lo[i] = (0 - a.mean[i]) / a.std[i];
      hi[i] = (1 - a.mean[i]) / a.std[i];
    }
  }
  return { A, B, C, lo, hi };
}

const isGripper = (name: string): boolean => /gripper$/.test(name);

function applyOutput(o: ReturnType<typeof outputAffine>, d: number, net: number, state: number): number {
  return Math.min(o.hi[d], Math.max(o.lo[d], o.A[d] * net + o.B[d] * state + o.C[d]));
}

export function buildOnnx(
  w: NetWeights,
  stats: TrainingStats,
  info: ExportInfo,
): { bytes: Uint8Array; manifest: OnnxManifest } {
  const manifest = exportManifest(w, stats, info);
  const c = w.config,
    g = geometry(c);
  const H = c.horizon,
    D = c.action_dim;
  const gb = new GraphBuilder();
  const grid = gb.float('keypoint_grid', [g.k * g.k, 2], keypointGrid(g.k));
  const feats: string[] = [];
  manifest.inputs.images.forEach((img, i) => {
    gb.input(img.input, DT.FLOAT, [1, 3, c.image_px, c.image_px]);
    let h = cameraMapsGraph(gb, img.input, img.camera, w.cams[i], c, g);
    h = gb.op('Softmax', [h], [attrInt('axis', 2)]);
    h = gb.op('MatMul', [h, grid]);
    feats.push(gb.op('Reshape', [h, gb.int64(`${img.camera}_kp_shape`, [1, 2 * c.c2])]));
  });
  gb.input('state', DT.FLOAT, [1, c.state_dim]);
  // the keypoints are also an output: the features a residual policy sees (what the model saw)
  const keypoints = gb.op('Concat', feats, [attrInt('axis', 1)]);
  gb.nodes.push({ opType: 'Identity', input: [keypoints], output: [FEATURES_OUTPUT], name: 'features' });
  gb.outputs.push(valueInfo(FEATURES_OUTPUT, DT.FLOAT, [1, feats.length * 2 * c.c2]));
  let z = gb.op('Concat', [keypoints, 'state'], [attrInt('axis', 1)]);
  w.mlp.forEach((l, i) => {
    z = gb.op('Add', [
      gb.op('MatMul', [z, gb.float(`mlp${i}_w`, [l.in, l.out], l.w)]),
      gb.float(`mlp${i}_b`, [l.out], l.b),
    ]);
    if (i < w.mlp.length - 1) z = gb.op('Relu', [z]);
  });
  const { A, B, C, lo, hi } = outputAffine(stats, info.action_names);
  const net = gb.op('Reshape', [z, gb.int64('chunk_shape', [1, H, D])]);
  const fromState = gb.op('Reshape', [
    gb.op('Mul', ['state', gb.float('state_gain', [D], B)]),
    gb.int64('state_row_shape', [1, 1, D]),
  ]);
  const affine = gb.op('Add', [
    gb.op('Add', [gb.op('Mul', [net, gb.float('delta_gain', [D], A)]), fromState]),
    gb.float('offset', [D], C),
  ]);
  const out = gb.op('Max', [gb.op('Min', [affine, gb.float('upper', [D], hi)]), gb.float('lower', [D], lo)]);
  gb.nodes.push({ opType: 'Identity', input: [out], output: [manifest.output.name], name: 'output' });
  gb.outputs.push(valueInfo(manifest.output.name, DT.FLOAT, [1, H, D]));
  const metadata: Record<string, string> = { [MANIFEST_METADATA_KEY]: JSON.stringify(manifest) };
  if (info.training !== undefined) metadata.vla_training = JSON.stringify(info.training);
  return { bytes: gb.model(manifest.name, 'vla-runtime vla-train', metadata), manifest };
}

/**
 * One camera's convolutions as ONNX nodes, the graph twin of policy-net's cameraMaps: the NCHW image input ->
 * [1, c2, k*k] maps (channels first, before any softmax). Initializers are named after `prefix`.
 */
export function cameraMapsGraph(
  gb: GraphBuilder,
  input: string,
  prefix: string,
  cw: NetWeights['cams'][number],
  c: Pick<NetConfig, 'c1' | 'c2'>,
  g: Pick<NetGeometry, 'k'>,
): string {
  const w1 = gb.float(`${prefix}_conv1_w`, [c.c1, 3, K1, K1], toOihw(cw.w1, K1, 3, c.c1));
  const b1 = gb.float(`${prefix}_conv1_b`, [c.c1], cw.b1);
  let h = gb.op('Conv', [input, w1, b1], [attrInts('kernel_shape', [K1, K1]), attrInts('strides', [STRIDE1, STRIDE1])]);
  h = gb.op('Relu', [h]);
  h = gb.op('MaxPool', [h], [attrInts('kernel_shape', [POOL, POOL]), attrInts('strides', [POOL, POOL])]);
  const w2 = gb.float(`${prefix}_conv2_w`, [c.c2, c.c1, K2, K2], toOihw(cw.w2, K2, c.c1, c.c2));
  const b2 = gb.float(`${prefix}_conv2_b`, [c.c2], cw.b2);
  h = gb.op('Conv', [h, w2, b2], [attrInts('kernel_shape', [K2, K2])]);
  return gb.op('Reshape', [h, gb.int64(`${prefix}_maps_shape`, [1, c.c2, g.k * g.k])]);
}

/** [(ky*k + kx)*cin + ci, co] -> ONNX Conv weights [co, ci, ky, kx]. */
function toOihw(w: Float32Array, k: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++)
          out[((co * cin + ci) * k + ky) * k + kx] = w[((ky * k + kx) * cin + ci) * cout + co];
      }
    }
  }
  return out;
}

export interface ExportCheck {
  trials: number;
  max_abs_diff: number;
}

/**
 * Runs the ONNX bytes (ONNX Runtime) and the weights (tfjs, the training code path) on the same random
 * images and states; returns the largest difference of the normalised outputs.
 */
export async function verifyExport(
  bytes: Uint8Array,
  w: NetWeights,
  stats: TrainingStats,
  info: Pick<ExportInfo, 'cameras' | 'action_names'>,
  trials = 4,
  seed = 7,
): Promise<ExportCheck> {
  const cameras = info.cameras;
  const tf = await tfWasm();
  const c = w.config,
    g = geometry(c);
  const rng = new Rng(seed);
  const session = await ort.InferenceSession.create(bytes);
  const vars = new NetVariables(tf, c, w);
  const out = outputAffine(stats, info.action_names);
  const px = c.image_px * c.image_px;
  let max = 0;
  try {
    for (let t = 0; t < trials; t++) {
      const images = cameras.map(() => Uint8Array.from({ length: px * 3 }, () => Math.floor(rng.next() * 256)));
      const state = Float32Array.from({ length: c.state_dim }, () => rng.normal());
      const feeds: Record<string, ort.Tensor> = { state: new ort.Tensor('float32', state, [1, c.state_dim]) };
      images.forEach((rgb, i) => {
        const chw = new Float32Array(px * 3);
        for (let p = 0; p < px; p++)
          for (let ch = 0; ch < 3; ch++)
            chw[ch * px + p] = (rgb[p * 3 + ch] * IMAGE_NORM.scale - IMAGE_NORM.mean[ch]) / IMAGE_NORM.std[ch];
        feeds[`image_${cameras[i]}`] = new ort.Tensor('float32', chw, [1, 3, c.image_px, c.image_px]);
      });
      const onnxOut = (await session.run(feeds)).actions.data as Float32Array;
      const net = tf.tidy(() => {
        const patches = images.map((rgb) => {
          const buf = new Float32Array(g.s1 * g.s1 * K1 * K1 * 3);
          im2colFirstLayer(rgb, c.image_px, 0, 0, buf, 0);
          return tf.tensor2d(buf, [g.s1 * g.s1, K1 * K1 * 3]);
        });
        return vars.forward(patches, tf.tensor2d(state, [1, c.state_dim]));
      });
      const tfOut = (await net.data()) as Float32Array;
      net.dispose();
      for (let i = 0; i < tfOut.length; i++) {
        const d = i % c.action_dim;
        max = Math.max(max, Math.abs(applyOutput(out, d, tfOut[i], state[d]) - onnxOut[i]));
      }
    }
  } finally {
    vars.dispose();
    await session.release();
  }
  return { trials, max_abs_diff: max };
}
