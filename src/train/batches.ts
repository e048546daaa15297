// From demonstrations to training batches: normalisation statistics, the (episode, tick) samples, and
// one reusable set of buffers that a batch is written into (first-layer image patches, normalised
// state, normalised target chunk).
//
// Target: the chunk the model emits from the observation at tick t is the actions commanded at ticks
// t .. t+H-1 of the recording (each is the command for the tick after it, so the chunk covers ticks
// t+1 .. t+H: action offset 1), as deltas from the state at t. Past the end of an episode the last
// command repeats: the robot is to stay where the demonstration ended.

import type { Rng } from '../util/rng.js';
import type { DemoEpisode } from './demo-set.js';
import { geometry, im2colFirstLayer, K1, type NetConfig } from './policy-net.js';

export interface MeanStd {
  mean: Float32Array;
  std: Float32Array;
}

export interface TrainingStats {
  /** Of the state input. */
  state: MeanStd;
  /** Of the absolute actions (the manifest's action statistics). */
  action: MeanStd;
  /** Of action - state over every horizon step: what the network's output is scaled by. */
  delta: MeanStd;
}

/** No dimension is scaled up by more than this (a joint that never moved would blow up). */
const MIN_STD = 1e-2;

export function computeStats(episodes: DemoEpisode[], dim: number, horizon: number): TrainingStats {
  const acc = () => ({ n: 0, sum: new Float64Array(dim), sq: new Float64Array(dim) });
  const st = acc(),
    ac = acc(),
    de = acc();
  const add = (a: ReturnType<typeof acc>, d: number, v: number) => {
    a.sum[d] += v;
    a.sq[d] += v * v;
  };
  for (const ep of episodes) {
    for (let t = 0; t < ep.ticks; t++) {
      st.n++;
      ac.n++;
      for (let d = 0; d < dim; d++) {
        add(st, d, ep.state[t * dim + d]);
        add(ac, d, ep.action[t * dim + d]);
      }
      for (let i = 0; i < horizon; i++) {
        const a = Math.min(t + i, ep.ticks - 1);
        de.n++;
        for (let d = 0; d < dim; d++) add(de, d, ep.action[a * dim + d] - ep.state[t * dim + d]);
      }
    }
  }
  const finish = (a: ReturnType<typeof acc>): MeanStd => {
    const mean = new Float32Array(dim),
      std = new Float32Array(dim);
    for (let d = 0; d < dim; d++) {
      mean[d] = a.sum[d] / a.n;
      std[d] = Math.max(MIN_STD, Math.sqrt(Math.max(0, a.sq[d] / a.n - mean[d] ** 2)));
    }
    return { mean, std };
  };
  return { state: finish(st), action: finish(ac), delta: finish(de) };
}

export interface Sample {
  ep: number;
  t: number;
}

/** Every `stride`-th tick of the given episodes (consecutive frames are nearly identical). */
export function samplesOf(episodes: DemoEpisode[], which: number[], stride: number): Sample[] {
  const out: Sample[] = [];
  for (const ep of which) for (let t = 0; t < episodes[ep].ticks; t += stride) out.push({ ep, t });
  return out;
}

export interface Batch {
  n: number;
  /** Per camera [n * s1 * s1, 75]. */
  patches: Float32Array[];
  /** [n, dim] normalised. */
  state: Float32Array;
  /** [n, horizon * dim] normalised deltas. */
  target: Float32Array;
}

export class BatchAssembler {
  private readonly rows: number;
  private readonly buf: Batch;

  constructor(
    private readonly episodes: DemoEpisode[],
    private readonly stats: TrainingStats,
    private readonly config: NetConfig,
    readonly capacity: number,
  ) {
    const g = geometry(config);
    this.rows = g.s1 * g.s1;
    const D = config.action_dim;
    this.buf = {
      n: 0,
      patches: Array.from({ length: config.cameras }, () => new Float32Array(capacity * this.rows * K1 * K1 * 3)),
      state: new Float32Array(capacity * D),
      target: new Float32Array(capacity * config.horizon * D),
    };
  }

  /**
   * Writes samples [from, to) of `samples` into the buffers (overwritten by the next call). With an
   * `augment` generator each image is shifted by up to `shift_px` pixels.
   */
  fill(samples: Sample[], from: number, to: number, augment?: { rng: Rng; shift_px: number }): Batch {
    const { config: c, stats } = this;
    const D = c.action_dim,
      H = c.horizon;
    const b = this.buf;
    b.n = to - from;
    if (b.n > this.capacity) throw new Error(`batch of ${b.n} exceeds the buffers (${this.capacity})`);
    for (let j = 0; j < b.n; j++) {
      const { ep, t } = samples[from + j];
      const e = this.episodes[ep];
      for (let cam = 0; cam < c.cameras; cam++) {
        const s = augment?.shift_px ?? 0;
        const dx = augment ? Math.round(augment.rng.uniform(-s, s)) : 0;
        const dy = augment ? Math.round(augment.rng.uniform(-s, s)) : 0;
        im2colFirstLayer(e.frames[cam][t], c.image_px, dx, dy, b.patches[cam], j * this.rows);
      }
      for (let d = 0; d < D; d++) b.state[j * D + d] = (e.state[t * D + d] - stats.state.mean[d]) / stats.state.std[d];
      for (let i = 0; i < H; i++) {
        const a = Math.min(t + i, e.ticks - 1);
        for (let d = 0; d < D; d++) {
          const delta = e.action[a * D + d] - e.state[t * D + d];
          b.target[(j * H + i) * D + d] = (delta - stats.delta.mean[d]) / stats.delta.std[d];
        }
      }
    }
    return b;
  }
}
