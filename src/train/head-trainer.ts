// Supervised training of a feature head (head-net.ts) on the sim's true poses: Adam on the squared error of
// normalised targets, cosine-decayed learning rate, random image shifts, and an error on held-out episodes in
// the targets' own units (degrees of turn, centimetres). Everything random comes from the seed.
import type * as TF from '@tensorflow/tfjs';
import { Rng } from '../util/rng.js';
import {
  applyUnitYaw,
  type HeadConfig,
  type HeadOutput,
  HeadVariables,
  type HeadWeights,
  headPatchRows,
  initHead,
  unitYawPairs,
} from './head-net.js';
import { im2colFirstLayer, K1 } from './policy-net.js';
import { tfWasm } from './tf-backend.js';

/** A coordinate of the sim's true scene (rl/feature-probe.ts's truthOf names them): m or rad, shown in cm or deg. */
export interface SceneCoordinate {
  name: string;
  unit: 'cm' | 'deg';
}

/** One observation: the head's camera image, the normalised state, and the true coordinates at that moment. */
export interface HeadSample {
  episode: number;
  image: Uint8Array;
  state: Float32Array;
  truth: number[];
}

/**
 * How the chosen coordinates become outputs: a yaw (taken modulo a quarter turn, ±45 deg) becomes the sine and
 * cosine of 4 x yaw, so a turn of 44 deg and one of -44 deg are neighbours, as they look; a position stays in m.
 */
export interface HeadTargets {
  outputs: HeadOutput[];
  encode(truth: number[]): number[];
  /** Per coordinate, from the outputs: the error in cm or deg. */
  errors(outputs: ArrayLike<number>, truth: number[]): number[];
  coordinates: SceneCoordinate[];
}

export function headTargets(all: SceneCoordinate[], wanted: string[]): HeadTargets {
  const picked = wanted.map((name) => {
    const i = all.findIndex((c) => c.name === name);
    if (i < 0) throw new Error(`no coordinate '${name}' in this task (it has ${all.map((c) => c.name).join(', ')})`);
    return { ...all[i], index: i };
  });
  const outputs = picked.flatMap((c) =>
    c.unit === 'deg' ? [{ name: `${c.name}_sin4` }, { name: `${c.name}_cos4` }] : [{ name: `${c.name}_m` }],
  );
  return {
    outputs,
    coordinates: picked.map(({ name, unit }) => ({ name, unit })),
    encode: (truth) =>
      picked.flatMap((c) =>
        c.unit === 'deg' ? [Math.sin(4 * truth[c.index]), Math.cos(4 * truth[c.index])] : [truth[c.index]],
      ),
    errors(out, truth) {
      let o = 0;
      return picked.map((c) => {
        if (c.unit === 'cm') return 100 * Math.abs(out[o++] - truth[c.index]);
        const turn = Math.atan2(out[o], out[o + 1]) / 4;
        o += 2;
        const d = Math.abs(turn - truth[c.index]) % (Math.PI / 2);
        return (Math.min(d, Math.PI / 2 - d) * 180) / Math.PI;
      });
    },
  };
}

export interface HeadTrainOptions {
  seed: number;
  steps: number;
  batch_size: number;
  learning_rate: number;
  shift_px: number;
  /** Episodes held out for the error (fraction). */
  val_fraction: number;
}

export const DEFAULT_HEAD_TRAIN: HeadTrainOptions = {
  seed: 0,
  steps: 5000,
  batch_size: 64,
  learning_rate: 1e-3,
  shift_px: 2,
  val_fraction: 0.1,
};

/** Per coordinate on the held-out episodes: the head's mean error, and that of always guessing the typical value. */
export interface HeadError {
  name: string;
  unit: 'cm' | 'deg';
  mean_error: number;
  guess_error: number;
}

export interface HeadTrainResult {
  weights: HeadWeights;
  train_samples: number;
  val_samples: number;
  held_out: HeadError[];
  /** Loss every 100 steps. */
  losses: { step: number; loss: number }[];
  train_s: number;
}

export async function trainHead(
  samples: HeadSample[],
  config: HeadConfig,
  targets: HeadTargets,
  o: HeadTrainOptions,
  onStep?: (step: number, loss: number) => void,
): Promise<HeadTrainResult> {
  const tf = await tfWasm();
  const t0 = performance.now();
  const rng = new Rng(o.seed);
  const episodes = 1 + samples.reduce((m, s) => Math.max(m, s.episode), 0);
  const split = episodes - Math.max(1, Math.round(episodes * o.val_fraction));
  const train = samples.filter((s) => s.episode < split);
  const val = samples.filter((s) => s.episode >= split);
  if (!train.length || !val.length) throw new Error('too few episodes to train the head and to test it');
  const y = train.map((s) => targets.encode(s.truth));
  const mean = y[0].map((_, j) => y.reduce((a, r) => a + r[j], 0) / y.length);
  const std = mean.map((m, j) => Math.max(1e-3, Math.sqrt(y.reduce((a, r) => a + (r[j] - m) ** 2, 0) / y.length)));
  const vars = new HeadVariables(tf, config, initHead(config, rng.fork(1).next() * 2 ** 32));
  const batcher = new HeadBatcher(tf, config, o.batch_size);
  const optimizer = tf.train.adam(o.learning_rate);
  const pick = rng.fork(2);
  const shift = rng.fork(3);
  const losses: { step: number; loss: number }[] = [];
  try {
    for (let step = 0; step < o.steps; step++) {
      (optimizer as unknown as { learningRate: number }).learningRate =
        o.learning_rate * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * step) / o.steps)));
      const idx = Array.from({ length: o.batch_size }, () => Math.floor(pick.next() * train.length));
      const b = batcher.fill(
        idx.map((i) => train[i]),
        { rng: shift, px: o.shift_px },
        idx.map((i) => y[i].map((v, j) => (v - mean[j]) / std[j])),
      );
      const loss = optimizer.minimize(
        () => tf.losses.meanSquaredError(b.target, vars.forward(b.patches, b.state)) as TF.Scalar,
        true,
        vars.list(),
      );
      const value = (loss as TF.Scalar).dataSync()[0];
      loss?.dispose();
      b.dispose();
      if (step % 100 === 0 || step === o.steps - 1) losses.push({ step, loss: value });
      onStep?.(step + 1, value);
    }
    const weights = foldTargets(vars.weights(), mean, std);
    return {
      weights,
      train_samples: train.length,
      val_samples: val.length,
      held_out: heldOutErrors(tf, weights, val, targets, train),
      losses,
      train_s: (performance.now() - t0) / 1000,
    };
  } finally {
    vars.dispose();
  }
}

/** The last layer gives the targets in their own units: w * std, b * std + mean. */
function foldTargets(w: HeadWeights, mean: number[], std: number[]): HeadWeights {
  const last = w.mlp[w.mlp.length - 1];
  const wf = last.w.map((v, i) => v * std[i % last.out]);
  const bf = last.b.map((v, j) => v * std[j] + mean[j]);
  return { ...w, mlp: [...w.mlp.slice(0, -1), { ...last, w: wf, b: bf }] };
}

/** Runs the head over samples in batches: [n, outputs] in the targets' units. */
export function runHead(tf: typeof TF, w: HeadWeights, samples: HeadSample[]): Float32Array[] {
  const vars = new HeadVariables(tf, w.config, w);
  const batcher = new HeadBatcher(tf, w.config, 64);
  const unit = unitYawPairs(w.config.outputs);
  const out: Float32Array[] = [];
  try {
    for (let i = 0; i < samples.length; i += 64) {
      const b = batcher.fill(samples.slice(i, i + 64));
      const p = tf.tidy(() => vars.forward(b.patches, b.state)).dataSync() as Float32Array;
      b.dispose();
      const k = w.config.outputs.length;
      for (let r = 0; r * k < p.length; r++) {
        const row = p.slice(r * k, (r + 1) * k);
        applyUnitYaw(row, unit);
        out.push(row);
      }
    }
  } finally {
    vars.dispose();
  }
  return out;
}

function heldOutErrors(
  tf: typeof TF,
  w: HeadWeights,
  val: HeadSample[],
  targets: HeadTargets,
  train: HeadSample[],
): HeadError[] {
  const predicted = runHead(tf, w, val);
  // the typical value: the training samples' mean encoding, decoded like an output
  const enc = train.map((s) => targets.encode(s.truth));
  const typical = enc[0].map((_, j) => enc.reduce((a, r) => a + r[j], 0) / enc.length);
  const sum = targets.coordinates.map(() => ({ head: 0, guess: 0 }));
  val.forEach((s, i) => {
    const e = targets.errors(predicted[i], s.truth);
    const g = targets.errors(typical, s.truth);
    e.forEach((v, j) => {
      sum[j].head += v;
      sum[j].guess += g[j];
    });
  });
  const r2 = (v: number) => Math.round((100 * v) / val.length) / 100;
  return targets.coordinates.map((c, j) => ({
    name: c.name,
    unit: c.unit,
    mean_error: r2(sum[j].head),
    guess_error: r2(sum[j].guess),
  }));
}

/** One set of batch tensors built from samples (first-layer patches, state, targets); dispose() frees them. */
class HeadBatcher {
  private readonly rows: number;
  private readonly patches: Float32Array;
  private readonly state: Float32Array;

  constructor(
    private readonly tf: typeof TF,
    private readonly c: HeadConfig,
    capacity: number,
  ) {
    this.rows = headPatchRows(c);
    this.patches = new Float32Array(capacity * this.rows * K1 * K1 * 3);
    this.state = new Float32Array(capacity * c.state_dim);
  }

  fill(batch: HeadSample[], shift?: { rng: Rng; px: number }, target?: number[][]) {
    const { tf, c } = this;
    batch.forEach((s, j) => {
      const dx = shift ? Math.round(shift.rng.uniform(-shift.px, shift.px)) : 0;
      const dy = shift ? Math.round(shift.rng.uniform(-shift.px, shift.px)) : 0;
      im2colFirstLayer(s.image, c.image_px, dx, dy, this.patches, j * this.rows);
      this.state.set(s.state, j * c.state_dim);
    });
    const n = batch.length;
    const t = {
      patches: tf.tensor2d(this.patches.subarray(0, n * this.rows * K1 * K1 * 3), [n * this.rows, K1 * K1 * 3]),
      state: tf.tensor2d(this.state.subarray(0, n * c.state_dim), [n, c.state_dim]),
      target: tf.tensor2d(target?.flat() ?? new Float32Array(n * c.outputs.length), [n, c.outputs.length]),
    };
    return { ...t, dispose: () => tf.dispose([t.patches, t.state, t.target]) };
  }
}
