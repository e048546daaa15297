// The demo policy's network: per camera a tiny CNN whose feature maps become spatial-softmax keypoints
// (the expected image position of each channel, as in Levine et al.'s visuomotor policies), then an
// MLP over [keypoints of every camera, normalised state] that emits a whole chunk (horizon x dim) of
// normalised action deltas from the current state.
//
//   image [S, S, 3] -conv 5x5/2, ReLU-> [S1, S1, c1] -max pool 2-> [P, P, c1] -conv 3x3-> [K, K, c2]
//   -softmax over K*K per channel-> expected (x, y) in [-1, 1] -> 2*c2 keypoints
//
// Convolutions are patches x matrix (see tf-backend.ts for why). The first layer's patches are cut
// from the images in JavaScript while a batch is assembled (the image needs no gradient); the second
// layer's come from slices of the feature map. The same weights are written into a regular ONNX Conv
// by export-onnx.ts, whose ordering conventions are set here:
//   patch feature index = (ky * k + kx) * channels + c, weights [k*k*channels, out].
import type * as TF from '@tensorflow/tfjs';
import { Rng } from '../util/rng.js';
import { linear } from './tf-backend.js';

export interface NetConfig {
  image_px: number;
  cameras: number;
  c1: number;
  c2: number;
  hidden: number[];
  state_dim: number;
  horizon: number;
  action_dim: number;
}

export const K1 = 5,
  STRIDE1 = 2,
  POOL = 2,
  K2 = 3;

export interface NetGeometry {
  /** conv1 output side. */
  s1: number;
  /** After pooling. */
  p: number;
  /** conv2 output side: the keypoint grid. */
  k: number;
  features: number;
}

export function geometry(c: NetConfig): NetGeometry {
  const s1 = Math.floor((c.image_px - K1) / STRIDE1) + 1;
  const p = Math.floor(s1 / POOL);
  const k = p - K2 + 1;
  if (k < 2)
    throw new Error(
      `images of ${c.image_px} px are too small for the network (need at least ` +
        `${K1 + STRIDE1 * (POOL * (K2 + 1) - 1)} px)`,
    );
  return { s1, p, k, features: c.cameras * 2 * c.c2 + c.state_dim };
}

/** Plain arrays, the form the trainer saves and the exporter writes. */
export interface NetWeights {
  config: NetConfig;
  cams: { w1: Float32Array; b1: Float32Array; w2: Float32Array; b2: Float32Array }[];
  /** MLP layers: w [in, out], b [out]; ReLU between them, none after the last. */
  mlp: { w: Float32Array; b: Float32Array; in: number; out: number }[];
}

/** He-normal weights from a seed; the last layer starts near zero so the first chunks are the mean delta. */
export function initWeights(config: NetConfig, seed: number): NetWeights {
  const rng = new Rng(seed);
  const g = geometry(config);
  const normal = (n: number, fanIn: number, scale = 1): Float32Array => {
    const s = scale * Math.sqrt(2 / fanIn);
    return Float32Array.from({ length: n }, () => rng.normal() * s);
  };
  const cams = Array.from({ length: config.cameras }, () => ({
    w1: normal(K1 * K1 * 3 * config.c1, K1 * K1 * 3),
    b1: new Float32Array(config.c1),
    w2: normal(K2 * K2 * config.c1 * config.c2, K2 * K2 * config.c1),
    b2: new Float32Array(config.c2),
  }));
  const sizes = [g.features, ...config.hidden, config.horizon * config.action_dim];
  const mlp = sizes.slice(1).map((out, i) => {
    const last = i === sizes.length - 2;
    return { in: sizes[i], out, w: normal(sizes[i] * out, sizes[i], last ? 0.01 : 1), b: new Float32Array(out) };
  });
  return { config, cams, mlp };
}

/** One camera's convolution weights as trainable variables (policy-net's and a feature head's). */
export interface CameraVariables {
  w1: TF.Variable<TF.Rank.R2>;
  b1: TF.Variable<TF.Rank.R1>;
  w2: TF.Variable<TF.Rank.R2>;
  b2: TF.Variable<TF.Rank.R1>;
}

export type MlpVariables = { w: TF.Variable<TF.Rank.R2>; b: TF.Variable<TF.Rank.R1> }[];

type PlainLayer = NetWeights['mlp'][number];

export function cameraVariables(tf: typeof TF, cw: NetWeights['cams'][number], c: Pick<NetConfig, 'c1' | 'c2'>) {
  return {
    w1: tf.variable(tf.tensor2d(cw.w1, [K1 * K1 * 3, c.c1])),
    b1: tf.variable(tf.tensor1d(cw.b1)),
    w2: tf.variable(tf.tensor2d(cw.w2, [K2 * K2 * c.c1, c.c2])),
    b2: tf.variable(tf.tensor1d(cw.b2)),
  } as CameraVariables;
}

export const mlpVariables = (tf: typeof TF, mlp: PlainLayer[]): MlpVariables =>
  mlp.map((l) => ({ w: tf.variable(tf.tensor2d(l.w, [l.in, l.out])), b: tf.variable(tf.tensor1d(l.b)) }));

/** The MLP on z: ReLU between layers, none after the last. */
export function mlpForward(tf: typeof TF, mlp: MlpVariables, z: TF.Tensor2D): TF.Tensor2D {
  mlp.forEach((l, i) => {
    z = tf.add(linear(z, l.w), l.b);
    if (i < mlp.length - 1) z = tf.relu(z);
  });
  return z;
}

const data = (v: TF.Variable) => v.dataSync() as Float32Array;

/** Variables back to plain arrays. */
export const plainCamera = (v: CameraVariables) => ({ w1: data(v.w1), b1: data(v.b1), w2: data(v.w2), b2: data(v.b2) });
export const plainMlp = (mlp: MlpVariables): PlainLayer[] =>
  mlp.map((l) => ({ w: data(l.w), b: data(l.b), in: l.w.shape[0], out: l.w.shape[1] as number }));

/** The weights as trainable tfjs variables (and back). */
export class NetVariables {
  readonly cams: CameraVariables[];
  readonly mlp: MlpVariables;
  private readonly grid: TF.Tensor2D;

  constructor(
    private readonly tf: typeof TF,
    readonly config: NetConfig,
    w: NetWeights,
  ) {
    const c = config;
    this.cams = w.cams.map((cw) => cameraVariables(tf, cw, c));
    this.mlp = mlpVariables(tf, w.mlp);
    this.grid = tf.tensor2d(keypointGrid(geometry(c).k), [geometry(c).k ** 2, 2]);
  }

  list(): TF.Variable[] {
    return [...this.cams.flatMap((c) => [c.w1, c.b1, c.w2, c.b2]), ...this.mlp.flatMap((l) => [l.w, l.b])];
  }

  weights(): NetWeights {
    return {
      config: this.config,
      cams: this.cams.map(plainCamera),
      mlp: plainMlp(this.mlp),
    };
  }

  /**
   * patches1[c]: [batch * s1 * s1, 25 * 3] first-layer patches of camera c (im2colFirstLayer);
   * state: [batch, state_dim] normalised. Returns [batch, horizon * action_dim] normalised deltas.
   */
  forward(patches1: TF.Tensor2D[], state: TF.Tensor2D): TF.Tensor2D {
    const tf = this.tf,
      c = this.config,
      g = geometry(c);
    const batch = state.shape[0];
    const feats = this.cams.map((v, i) => keypoints(tf, cameraMaps(tf, v, patches1[i], batch, c, g), this.grid, c.c2));
    return mlpForward(tf, this.mlp, tf.concat([...feats, state], 1));
  }

  dispose(): void {
    for (const v of this.list()) v.dispose();
    this.grid.dispose();
  }
}

/** One camera's convolutions from its first-layer patches: [batch, k*k, c2] maps (before any softmax). */
export function cameraMaps(
  tf: typeof TF,
  v: { w1: TF.Tensor2D; b1: TF.Tensor1D; w2: TF.Tensor2D; b2: TF.Tensor1D },
  patches1: TF.Tensor2D,
  batch: number,
  c: Pick<NetConfig, 'c1' | 'c2'>,
  g: Pick<NetGeometry, 's1' | 'k'>,
): TF.Tensor3D {
  let h: TF.Tensor4D = tf.relu(tf.add(linear(patches1, v.w1), v.b1)).reshape([batch, g.s1, g.s1, c.c1]);
  h = tf.maxPool(h, POOL, POOL, 'valid');
  const p2 = slicePatches(tf, h, K2).reshape([batch * g.k * g.k, K2 * K2 * c.c1]) as TF.Tensor2D;
  return tf.add(linear(p2, v.w2), v.b2).reshape([batch, g.k * g.k, c.c2]);
}

/** Spatial softmax per channel, then the expected grid position: maps [batch, k*k, c2] -> [batch, 2*c2]. */
export function keypoints(tf: typeof TF, maps: TF.Tensor3D, grid: TF.Tensor2D, c2: number): TF.Tensor2D {
  const [batch, cells] = maps.shape;
  const attention = tf.softmax(tf.transpose(maps, [0, 2, 1])).reshape([batch * c2, cells]) as TF.Tensor2D;
  return linear(attention, grid).reshape([batch, 2 * c2]);
}

/** [b, h, w, c] -> [b, h-k+1, w-k+1, k*k*c] valid patches, feature index (ky*k + kx)*c + ch. */
function slicePatches(tf: typeof TF, x: TF.Tensor4D, k: number): TF.Tensor4D {
  const [b, h, w, c] = x.shape;
  const parts: TF.Tensor4D[] = [];
  for (let ky = 0; ky < k; ky++)
    for (let kx = 0; kx < k; kx++) parts.push(tf.slice(x, [0, ky, kx, 0], [b, h - k + 1, w - k + 1, c]));
  return tf.concat(parts, 3);
}

/** Keypoint coordinates of the k x k grid, row-major cells: (x, y) in [-1, 1], x along the width. */
export function keypointGrid(k: number): Float32Array {
  const g = new Float32Array(k * k * 2);
  for (let y = 0; y < k; y++) {
    for (let x = 0; x < k; x++) {
      g[(y * k + x) * 2] = -1 + (2 * x) / (k - 1);
      g[(y * k + x) * 2 + 1] = -1 + (2 * y) / (k - 1);
    }
  }
  return g;
}

/** How pixels become network inputs: v = (rgb / 255 - mean) / std, the manifest's image normalisation. */
export const IMAGE_NORM = { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

/** Normalised value of each byte per channel: 3 x 256 entries. */
const PIXEL_LUT = Float32Array.from({ length: 768 }, (_, i) => {
  const c = i >> 8;
  return ((i & 255) * IMAGE_NORM.scale - IMAGE_NORM.mean[c]) / IMAGE_NORM.std[c];
});

/**
 * Writes the first layer's patches of one RGB image (size x size, row-major) into `out` at row
 * `row0`, normalised, with the image shifted by (dx, dy) pixels (edges repeated): random shifts are
 * the training-time augmentation, (0, 0) is what the exported model sees.
 */
export function im2colFirstLayer(
  rgb: Uint8Array,
  size: number,
  dx: number,
  dy: number,
  out: Float32Array,
  row0: number,
): void {
  const s1 = Math.floor((size - K1) / STRIDE1) + 1;
  const width = K1 * K1 * 3;
  const lut = PIXEL_LUT;
  let o = row0 * width;
  for (let oy = 0; oy < s1; oy++) {
    for (let ox = 0; ox < s1; ox++) {
      for (let ky = 0; ky < K1; ky++) {
        const y = clamp(oy * STRIDE1 + ky - dy, size);
        for (let kx = 0; kx < K1; kx++) {
          const p = (y * size + clamp(ox * STRIDE1 + kx - dx, size)) * 3;
          out[o++] = lut[rgb[p]];
          out[o++] = lut[256 + rgb[p + 1]];
          out[o++] = lut[512 + rgb[p + 2]];
        }
      }
    }
  }
}

function clamp(i: number, n: number): number {
  return i < 0 ? 0 : i >= n ? n - 1 : i;
}
