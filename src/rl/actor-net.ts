// The learner's actor outside TensorFlow: the same weights as a DenseStack evaluated in JavaScript, so actors
// (sim workers, the robot host) run it inside the control tick without tfjs. Its output is [mean, raw log std]
// per action dimension; exploring draws u = tanh(mean + std * eps), evaluating takes u = tanh(mean). The frozen
// residual that ships keeps only the mean head (residual-onnx.ts).
import { type DenseLayer, DenseStack } from '../policy/residual/dense-stack.js';
import type { UnitPolicy } from '../policy/residual/residual-corrector.js';
import type { Rng } from '../util/rng.js';

/** The actor's log std is squashed into this range (here, so actors need not load TensorFlow.js). */
export const LOG_STD_MIN = -5;
export const LOG_STD_MAX = 2;

/** Parameter arrays of an actor (w0, b0, w1, b1, ...; as Mlp.values() gives them) as dense layers. */
export function actorLayers(values: Float32Array[], sizes: number[]): DenseLayer[] {
  if (values.length !== 2 * (sizes.length - 1))
    throw new Error(`actor: expected ${2 * (sizes.length - 1)} parameter arrays, found ${values.length}`);
  return sizes.slice(1).map((n_out, i) => ({ n_in: sizes[i], n_out, w: values[2 * i], b: values[2 * i + 1] }));
}

/** An actor of these sizes with every weight zero: what actors hold before the learner's first weights arrive. */
export function zeroActor(sizes: number[]): Float32Array[] {
  return sizes.slice(1).flatMap((n, i) => [new Float32Array(sizes[i] * n), new Float32Array(n)]);
}

/** The same network with only the mean head (the first `action_dim` outputs): what a frozen residual runs. */
export function meanHead(layers: DenseLayer[], action_dim: number): DenseLayer[] {
  const last = layers[layers.length - 1];
  const w = new Float32Array(last.n_in * action_dim);
  for (let i = 0; i < last.n_in; i++)
    w.set(last.w.subarray(i * last.n_out, i * last.n_out + action_dim), i * action_dim);
  return [...layers.slice(0, -1), { n_in: last.n_in, n_out: action_dim, w, b: last.b.slice(0, action_dim) }];
}

/**
 * A frozen residual's mean head as an actor (meanHead's inverse): the log-std outputs added with zero weights, so
 * the fine-tuner's rollouts can run a shipped residual deterministically.
 */
export function withLogStdHead(layers: DenseLayer[], action_dim: number): DenseLayer[] {
  const last = layers[layers.length - 1];
  if (last.n_out !== action_dim) throw new Error(`residual gives ${last.n_out} outputs, expected ${action_dim}`);
  const w = new Float32Array(last.n_in * 2 * action_dim);
  for (let i = 0; i < last.n_in; i++) w.set(last.w.subarray(i * action_dim, (i + 1) * action_dim), i * 2 * action_dim);
  const b = new Float32Array(2 * action_dim);
  b.set(last.b);
  return [...layers.slice(0, -1), { n_in: last.n_in, n_out: 2 * action_dim, w, b }];
}

/**
 * A UnitPolicy over swappable actor weights: exploring (noise from `rng`) or deterministic. Allocation-free per
 * call; `load` swaps in new weights between episodes (never mid-tick).
 */
export class ActorUnit {
  explore: Rng | undefined;
  /** u = bound * tanh(...): the fine-tuner's trust region (the learner's actionBound for these weights). */
  bound = 1;
  private net: DenseStack;
  private readonly out: Float64Array;

  constructor(
    layers: DenseLayer[],
    private readonly action_dim: number,
  ) {
    this.net = new DenseStack(layers);
    this.out = new Float64Array(2 * action_dim);
    if (this.net.n_out !== 2 * action_dim)
      throw new Error(`actor gives ${this.net.n_out} outputs, expected 2 x ${action_dim}`);
  }

  load(layers: DenseLayer[]): void {
    this.net = new DenseStack(layers);
  }

  readonly unit: UnitPolicy = (inputs, u) => {
    const A = this.action_dim;
    this.net.forward(inputs, this.out);
    for (let i = 0; i < A; i++) {
      let pre = this.out[i];
      if (this.explore) {
        const logStd = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (Math.tanh(this.out[A + i]) + 1);
        pre += Math.exp(logStd) * this.explore.normal();
      }
      u[i] = this.bound * Math.tanh(pre);
    }
  };
}
