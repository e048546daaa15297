// The small networks of the residual learner: multilayer perceptrons whose hidden layers are Dense, optional
// LayerNorm (RLPD's critics: it keeps Q values from blowing up when offline data is mixed in), then ReLU. The
// weights are initialised from the run's seeded Rng, not TensorFlow's random state, so a seed fixes them and a
// checkpoint restores them exactly. Parameters are kept in one flat list (per layer: w, b, then gamma, beta with
// LayerNorm), the order checkpoints, the target copies and the ONNX export rely on.
import type * as TF from '@tensorflow/tfjs';
import { linear } from '../train/tf-backend.js';
import type { Rng } from '../util/rng.js';

export interface MlpSpec {
  input: number;
  hidden: number[];
  output: number;
  layer_norm: boolean;
  /** Scale of the last layer's initial weights (small: a residual starts near zero). Default 1. */
  last_scale?: number;
}

const LN_EPS = 1e-5;

export class Mlp {
  readonly params: TF.Variable[] = [];
  private readonly layers: { w: TF.Variable; b: TF.Variable; gamma?: TF.Variable; beta?: TF.Variable }[] = [];

  constructor(
    private readonly tf: typeof TF,
    readonly spec: MlpSpec,
    rng: Rng,
  ) {
    const sizes = [spec.input, ...spec.hidden, spec.output];
    for (let l = 0; l + 1 < sizes.length; l++) {
      const [n_in, n_out] = [sizes[l], sizes[l + 1]];
      const last = l + 2 === sizes.length;
      // He-uniform for ReLU layers; the last layer scaled down as asked
      const bound = Math.sqrt(6 / n_in) * (last ? (spec.last_scale ?? 1) : 1);
      const w = new Float32Array(n_in * n_out);
      for (let i = 0; i < w.length; i++) w[i] = (rng.next() * 2 - 1) * bound;
      const layer: (typeof this.layers)[number] = {
        w: tf.variable(tf.tensor2d(w, [n_in, n_out])),
        b: tf.variable(tf.zeros([n_out])),
      };
      this.params.push(layer.w, layer.b);
      if (!last && spec.layer_norm) {
        layer.gamma = tf.variable(tf.ones([n_out]));
        layer.beta = tf.variable(tf.zeros([n_out]));
        this.params.push(layer.gamma, layer.beta);
      }
      this.layers.push(layer);
    }
  }

  /** x [n, input] -> [n, output]. Call inside tf.tidy. */
  apply(x: TF.Tensor2D): TF.Tensor2D {
    const tf = this.tf;
    let h = x;
    this.layers.forEach((layer, l) => {
      h = tf.add(linear(h, layer.w as TF.Tensor2D), layer.b) as TF.Tensor2D;
      if (l + 1 === this.layers.length) return;
      if (layer.gamma && layer.beta) {
        const { mean, variance } = tf.moments(h, 1, true);
        h = tf.add(tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, LN_EPS))), layer.gamma), layer.beta);
      }
      h = tf.relu(h);
    });
    return h;
  }

  /** Copies of the parameter values, in `params` order. */
  values(): Float32Array[] {
    return this.params.map((p) => Float32Array.from(p.dataSync() as Float32Array));
  }

  load(values: Float32Array[]): void {
    if (values.length !== this.params.length)
      throw new Error(`network: expected ${this.params.length} parameter arrays, found ${values.length}`);
    this.params.forEach((p, i) => {
      if (values[i].length !== p.size)
        throw new Error(`network parameter ${i}: expected ${p.size} values, found ${values[i].length}`);
      this.tf.tidy(() => p.assign(this.tf.tensor(values[i], p.shape)));
    });
  }

  /** this <- tau * source + (1 - tau) * this (target networks); tau 1 copies. */
  blendFrom(source: Mlp, tau: number): void {
    const tf = this.tf;
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        p.assign(tf.add(tf.mul(source.params[i], tau), tf.mul(p, 1 - tau)));
      });
    });
  }

  dispose(): void {
    for (const p of this.params) p.dispose();
  }
}

/**
 * Adam, written out rather than tf.train.adam: its moments are plain variables of ours, saved and restored in
 * parameter order (tfjs's optimizer keys them by global variable names, which differ between processes).
 */
export class Adam {
  readonly m: TF.Variable[];
  readonly v: TF.Variable[];
  step = 0;

  constructor(
    private readonly tf: typeof TF,
    private readonly params: TF.Variable[],
    public lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = params.map((p) => tf.variable(tf.zerosLike(p)));
    this.v = params.map((p) => tf.variable(tf.zerosLike(p)));
  }

  /** One step along `grads` (in `params` order). Call inside tf.tidy. */
  apply(grads: TF.Tensor[]): void {
    const tf = this.tf;
    this.step++;
    const c1 = 1 - this.beta1 ** this.step;
    const c2 = 1 - this.beta2 ** this.step;
    this.params.forEach((p, i) => {
      const g = grads[i];
      const m = tf.add(tf.mul(this.m[i], this.beta1), tf.mul(g, 1 - this.beta1));
      const v = tf.add(tf.mul(this.v[i], this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
      this.m[i].assign(m);
      this.v[i].assign(v);
      p.assign(tf.sub(p, tf.div(tf.mul(m, this.lr / c1), tf.add(tf.sqrt(tf.div(v, c2)), this.eps))));
    });
  }

  values(): { step: number; m: Float32Array[]; v: Float32Array[] } {
    const copy = (xs: TF.Variable[]) => xs.map((x) => Float32Array.from(x.dataSync() as Float32Array));
    return { step: this.step, m: copy(this.m), v: copy(this.v) };
  }

  load(s: { step: number; m: Float32Array[]; v: Float32Array[] }): void {
    this.step = s.step;
    this.m.forEach((x, i) => {
      this.tf.tidy(() => x.assign(this.tf.tensor(s.m[i], x.shape)));
    });
    this.v.forEach((x, i) => {
      this.tf.tidy(() => x.assign(this.tf.tensor(s.v[i], x.shape)));
    });
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

/** The global L2 norm of a list of gradients (a number, for the metrics). */
export function globalNorm(tf: typeof TF, grads: TF.Tensor[]): number {
  return tf.tidy(() => Math.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
}
