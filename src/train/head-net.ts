// A feature head: a small network of its own that reads one camera (and the state) and estimates what the base
// model's features miss, e.g. how far the cube is turned. It is trained in the sim on the true poses and spliced
// into the base model as more features (head-splice.ts): the base model's actions stay the same, and a residual
// policy sees the head's estimates beside the keypoints.
//
//   image -> policy-net's convolutions -> maps [k*k, c2] -> keypoints (where each channel fires, 2*c2)
//                                                        -> max of each channel (how strongly it fires, c2)
//   [keypoints, channel maxima, normalised state] -> MLP (ReLU) -> outputs
//
// The channel maxima are the head's own addition to policy-net's keypoints: a keypoint says where a channel fires,
// not how strongly, and an orientation-tuned channel says the turn by how strongly it fires.
import type * as TF from '@tensorflow/tfjs';
import { Rng } from '../util/rng.js';
import {
  type CameraVariables,
  cameraMaps,
  cameraVariables,
  geometry,
  K1,
  K2,
  keypointGrid,
  keypoints,
  type MlpVariables,
  mlpForward,
  mlpVariables,
  type NetConfig,
  plainCamera,
  plainMlp,
} from './policy-net.js';

/** One estimate the head gives, in the units its name says. */
export interface HeadOutput {
  /** e.g. cube_yaw_sin4 (sine of 4 x yaw: a cube looks the same after a quarter turn), target_x_m. */
  name: string;
}

export interface HeadConfig {
  image_px: number;
  /** The camera the head reads (its name in the base model's manifest). */
  camera: string;
  c1: number;
  c2: number;
  hidden: number[];
  state_dim: number;
  outputs: HeadOutput[];
}

/** Plain arrays; the last layer already maps to the outputs' units (the targets' normalisation folded in). */
export interface HeadWeights {
  config: HeadConfig;
  cam: { w1: Float32Array; b1: Float32Array; w2: Float32Array; b2: Float32Array };
  mlp: { w: Float32Array; b: Float32Array; in: number; out: number }[];
}

const netShape = (c: HeadConfig): NetConfig => ({ ...c, cameras: 1, horizon: 1, action_dim: c.outputs.length });

/** The MLP's input size: keypoints, channel maxima, state. */
export const headFeatures = (c: HeadConfig): number => 3 * c.c2 + c.state_dim;

export function initHead(config: HeadConfig, seed: number): HeadWeights {
  geometry(netShape(config)); // refuses images too small
  const rng = new Rng(seed);
  const normal = (n: number, fanIn: number, scale = 1) =>
    Float32Array.from({ length: n }, () => rng.normal() * scale * Math.sqrt(2 / fanIn));
  const sizes = [headFeatures(config), ...config.hidden, config.outputs.length];
  return {
    config,
    cam: {
      w1: normal(K1 * K1 * 3 * config.c1, K1 * K1 * 3),
      b1: new Float32Array(config.c1),
      w2: normal(K2 * K2 * config.c1 * config.c2, K2 * K2 * config.c1),
      b2: new Float32Array(config.c2),
    },
    mlp: sizes.slice(1).map((out, i) => ({
      in: sizes[i],
      out,
      w: normal(sizes[i] * out, sizes[i], i === sizes.length - 2 ? 0.1 : 1),
      b: new Float32Array(out),
    })),
  };
}

/** The head's weights as trainable tfjs variables (and back). */
export class HeadVariables {
  readonly cam: CameraVariables;
  readonly mlp: MlpVariables;
  private readonly grid: TF.Tensor2D;

  constructor(
    private readonly tf: typeof TF,
    readonly config: HeadConfig,
    w: HeadWeights,
  ) {
    this.cam = cameraVariables(tf, w.cam, config);
    this.mlp = mlpVariables(tf, w.mlp);
    const k = geometry(netShape(config)).k;
    this.grid = tf.tensor2d(keypointGrid(k), [k * k, 2]);
  }

  list(): TF.Variable[] {
    const { w1, b1, w2, b2 } = this.cam;
    return [w1, b1, w2, b2, ...this.mlp.flatMap((l) => [l.w, l.b])];
  }

  weights(): HeadWeights {
    return { config: this.config, cam: plainCamera(this.cam), mlp: plainMlp(this.mlp) };
  }

  /** patches1: [batch * s1 * s1, 75] (im2colFirstLayer); state [batch, state_dim] normalised -> [batch, outputs]. */
  forward(patches1: TF.Tensor2D, state: TF.Tensor2D): TF.Tensor2D {
    const tf = this.tf;
    const c = this.config;
    const batch = state.shape[0];
    const maps = cameraMaps(tf, this.cam, patches1, batch, c, geometry(netShape(c)));
    const strength = tf.max(tf.relu(maps), 1) as TF.Tensor2D;
    return mlpForward(tf, this.mlp, tf.concat([keypoints(tf, maps, this.grid, c.c2), strength, state], 1));
  }

  dispose(): void {
    for (const v of this.list()) v.dispose();
    this.grid.dispose();
  }
}

/** The first-layer patch rows of one image of the head's size. */
export const headPatchRows = (c: HeadConfig): number => geometry(netShape(c)).s1 ** 2;

/**
 * A yaw's (sin 4 yaw, cos 4 yaw) pair as the head gives it: put on the unit circle, the form of the true values
 * (a residual trained on those sees the same kind of input from the head). Positions pass as they are. The
 * matrix and offset do it in a graph too: out = z / sqrt((z * z) x pairs + offset).
 */
export function unitYawPairs(outputs: HeadOutput[]): { pairs: Float32Array; offset: Float32Array } {
  const k = outputs.length;
  const pairs = new Float32Array(k * k);
  const offset = new Float32Array(k).fill(1);
  outputs.forEach((o, i) => {
    if (!o.name.endsWith('_sin4')) return;
    for (const a of [i, i + 1]) for (const b of [i, i + 1]) pairs[a * k + b] = 1;
    offset[i] = offset[i + 1] = 1e-12;
  });
  return { pairs, offset };
}

/** unitYawPairs applied to one row of outputs, in place. */
export function applyUnitYaw(row: Float32Array, u: ReturnType<typeof unitYawPairs>): void {
  const k = row.length;
  const sq = Float64Array.from(row, (v) => v * v);
  for (let j = 0; j < k; j++) {
    let s = u.offset[j];
    for (let i = 0; i < k; i++) s += sq[i] * u.pairs[i * k + j];
    row[j] = row[j] / Math.sqrt(s);
  }
}
