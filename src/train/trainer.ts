// Behaviour cloning of the demo policy: Adam on the L1 distance between predicted and demonstrated
// chunks (ACT's loss), cosine-decayed learning rate, random image shifts, and a validation loss on
// episodes held out whole (frames of one episode are too alike to validate each other).
// Everything random (weights, split, order, shifts) comes from the seed, and the wasm backend runs on
// one thread, so a seed reproduces a run's losses exactly.
import type * as TF from '@tensorflow/tfjs';
import { Rng } from '../util/rng.js';
import { BatchAssembler, computeStats, type Sample, samplesOf, type TrainingStats } from './batches.js';
import { type DemoSet, DemoSetError } from './demo-set.js';
import { geometry, initWeights, type NetConfig, NetVariables, type NetWeights } from './policy-net.js';
import { tfWasm } from './tf-backend.js';

export interface TrainOptions {
  seed: number;
  epochs: number;
  batch_size: number;
  learning_rate: number;
  horizon: number;
  /** Episodes held out for the validation loss (fraction; at least one when there are two or more). */
  val_fraction: number;
  /** Use every n-th tick of an episode. */
  frame_stride: number;
  /** Random image shifts of up to this many pixels (0: none). */
  shift_px: number;
  c1: number;
  c2: number;
  hidden: number[];
  /** Stop after this many optimiser steps (tests); default: all epochs. */
  max_steps?: number;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  seed: 0,
  epochs: 5,
  batch_size: 64,
  learning_rate: 1e-3,
  horizon: 25,
  val_fraction: 0.1,
  frame_stride: 2,
  shift_px: 2,
  c1: 16,
  c2: 32,
  hidden: [256, 256],
};

/** Epoch 0 is the untrained network (validation loss only). */
export interface EpochRecord {
  epoch: number;
  step: number;
  train_loss: number | undefined;
  val_loss: number | undefined;
  elapsed_s: number;
}

export interface TrainProgress {
  step: number;
  steps: number;
  epoch: number;
  loss: number;
  val_loss: number | undefined;
}

export interface TrainResult {
  weights: NetWeights;
  stats: TrainingStats;
  history: EpochRecord[];
  /** Loss of each optimiser step. */
  step_losses: number[];
  train_episodes: number[];
  val_episodes: number[];
  train_samples: number;
  val_samples: number;
  steps: number;
  train_s: number;
}

export function netConfigFor(set: DemoSet, o: TrainOptions): NetConfig {
  const sizes = new Set(set.cameras.flatMap((c) => [c.width, c.height]));
  if (sizes.size !== 1)
    throw new DemoSetError(
      `${set.dir}: the network takes square images of one size; the recording has ` +
        `${set.cameras.map((c) => `${c.name} ${c.width}x${c.height}`).join(', ')}`,
    );
  const config: NetConfig = {
    image_px: set.cameras[0].width,
    cameras: set.cameras.length,
    c1: o.c1,
    c2: o.c2,
    hidden: o.hidden,
    state_dim: set.action_names.length,
    horizon: o.horizon,
    action_dim: set.action_names.length,
  };
  try {
    geometry(config);
  } catch (err) {
    throw new DemoSetError(`${set.dir}: ${(err as Error).message}`);
  }
  return config;
}

export async function trainPolicy(
  set: DemoSet,
  o: TrainOptions,
  onProgress?: (p: TrainProgress) => void,
  onEpoch?: (e: EpochRecord) => void,
): Promise<TrainResult> {
  const tf = await tfWasm();
  const t0 = performance.now();
  const rng = new Rng(o.seed);
  const config = netConfigFor(set, o);
  const { train, val } = splitEpisodes(set.episodes.length, o.val_fraction, rng.fork(1));
  const stats = computeStats(
    train.map((i) => set.episodes[i]),
    config.action_dim,
    config.horizon,
  );
  const trainSamples = samplesOf(set.episodes, train, o.frame_stride);
  const valSamples = samplesOf(set.episodes, val, o.frame_stride);
  const vars = new NetVariables(tf, config, initWeights(config, rng.fork(2).next() * 2 ** 32));
  const assembler = new BatchAssembler(set.episodes, stats, config, o.batch_size);
  const optimizer = tf.train.adam(o.learning_rate);
  const shuffleRng = rng.fork(3),
    augmentRng = rng.fork(4);
  const perEpoch = Math.ceil(trainSamples.length / o.batch_size);
  const steps = Math.min(o.max_steps ?? Infinity, perEpoch * o.epochs);
  const history: EpochRecord[] = [];
  const stepLosses: number[] = [];
  let step = 0;
  try {
    if (valSamples.length) {
      history.push({
        epoch: 0,
        step: 0,
        train_loss: undefined,
        val_loss: await evaluate(tf, vars, assembler, valSamples, config),
        elapsed_s: (performance.now() - t0) / 1000,
      });
      onEpoch?.(history[0]);
    }
    for (let epoch = 1; step < steps; epoch++) {
      shuffle(trainSamples, shuffleRng);
      let sum = 0,
        n = 0;
      for (let from = 0; from < trainSamples.length && step < steps; from += o.batch_size, step++) {
        // cosine decay to 5% of the initial rate
        (optimizer as unknown as { learningRate: number }).learningRate =
          o.learning_rate * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * step) / steps)));
        const batch = assembler.fill(trainSamples, from, Math.min(from + o.batch_size, trainSamples.length), {
          rng: augmentRng,
          shift_px: o.shift_px,
        });
        const loss = tf.tidy(() => {
          const { patches, state, target } = toTensors(tf, batch, config, geometry(config).s1);
          return optimizer.minimize(
            () => tf.mean(tf.abs(tf.sub(vars.forward(patches, state), target))) as TF.Scalar,
            true,
          )!;
        });
        const value = (await loss.data())[0];
        loss.dispose();
        if (!Number.isFinite(value))
          throw new Error(`training diverged at step ${step + 1} (loss ${value}); try a lower --lr`);
        stepLosses.push(value);
        sum += value * batch.n;
        n += batch.n;
        onProgress?.({ step: step + 1, steps, epoch, loss: value, val_loss: history.at(-1)?.val_loss });
      }
      const val_loss = valSamples.length ? await evaluate(tf, vars, assembler, valSamples, config) : undefined;
      history.push({ epoch, step, train_loss: sum / n, val_loss, elapsed_s: (performance.now() - t0) / 1000 });
      onProgress?.({ step, steps, epoch, loss: sum / n, val_loss });
      onEpoch?.(history[history.length - 1]);
    }
    return {
      weights: vars.weights(),
      stats,
      history,
      step_losses: stepLosses,
      train_episodes: train,
      val_episodes: val,
      train_samples: trainSamples.length,
      val_samples: valSamples.length,
      steps: step,
      train_s: (performance.now() - t0) / 1000,
    };
  } finally {
    vars.dispose();
    optimizer.dispose();
  }
}

/** Mean L1 loss over samples, without augmentation. */
export async function evaluate(
  tf: typeof TF,
  vars: NetVariables,
  assembler: BatchAssembler,
  samples: Sample[],
  config: NetConfig,
): Promise<number> {
  let sum = 0;
  for (let from = 0; from < samples.length; from += assembler.capacity) {
    const batch = assembler.fill(samples, from, Math.min(from + assembler.capacity, samples.length));
    const l = tf.tidy(() => {
      const { patches, state, target } = toTensors(tf, batch, config, geometry(config).s1);
      return tf.sum(tf.mean(tf.abs(tf.sub(vars.forward(patches, state), target)), 1));
    });
    sum += (await l.data())[0];
    l.dispose();
  }
  return sum / samples.length;
}

function toTensors(tf: typeof TF, b: ReturnType<BatchAssembler['fill']>, c: NetConfig, s1: number) {
  const rows = b.n * s1 * s1;
  return {
    patches: b.patches.map((p) => tf.tensor2d(p.subarray(0, rows * 75), [rows, 75])),
    state: tf.tensor2d(b.state.subarray(0, b.n * c.state_dim), [b.n, c.state_dim]),
    target: tf.tensor2d(b.target.subarray(0, b.n * c.horizon * c.action_dim), [b.n, c.horizon * c.action_dim]),
  };
}

export function splitEpisodes(count: number, fraction: number, rng: Rng): { train: number[]; val: number[] } {
  const order = Array.from({ length: count }, (_, i) => i);
  shuffle(order, rng);
  const nVal = count < 2 || fraction <= 0 ? 0 : Math.max(1, Math.round(count * fraction));
  return { train: order.slice(nVal).sort((a, b) => a - b), val: order.slice(0, nVal).sort((a, b) => a - b) };
}

function shuffle<T>(a: T[], rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}
