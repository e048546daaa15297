// The imitation warm start (vla-finetune --warm-start-episodes): before the first round, the sim's scripted operator
// holds the arm through many episodes, labelling every decision, and the actor is fitted to those corrections by
// supervised learning alone. Why: a residual that sees the base model's features must generalise over scenes, and
// the rounds show it about a thousand in half an hour, paced by the learner; the operator's own episodes cost no
// learner time, so thousands fit in minutes. On push, a fit's error on held-out scenes halved from 1,800 to 5,800
// operator episodes (docs/finetune-results.md). The rounds then go on from the fitted actor, still imitating these
// labels (they stay in the demonstrations buffer) beside what the critic teaches.
import type { FinetuneConfig } from './finetune-config.js';
import { newBatch, type ReplayBuffer } from './replay-buffer.js';
import type { ActorWeights, EpisodeJob, RolloutPool } from './rollout-pool.js';
import type { SacLearner } from './sac-learner.js';
import type { RolloutEpisode } from './sim-rollouts.js';
import { addEpisode } from './transitions.js';

export type WarmStartSettings = NonNullable<FinetuneConfig['warm_start']>;

/** What the warm start did, for metrics.jsonl. */
export interface WarmStartLine {
  type: 'warm_start';
  episodes: number;
  /** Episodes the operator's corrections carried to success (what the fit can at best imitate). */
  successes: number;
  labels: number;
  epochs: number;
  updates: number;
  /** The imitation loss (squared distance summed over the action dimensions, in u's units) per epoch. */
  loss_per_epoch: number[];
  env_ticks: number;
}

export interface WarmStartHooks {
  /** `done` of `total` in a phase: operator episodes, then fitting epochs. */
  progress?(phase: 'episodes' | 'epochs', done: number, total: number): void;
}

/** Episodes per request to the pool: progress between them, and results do not pile up. */
const EPISODES_PER_BATCH = 200;

/**
 * Episodes from distinct training seeds (the same seed would give the very same episode: the operator and the
 * virtual clock are deterministic), starting at a point the run's seed picks.
 */
export function warmStartJobs(c: FinetuneConfig, first_seed: number, count: number): EpisodeJob[] {
  if (count > c.train_seed_limit)
    throw new Error(`a warm start of ${count} episodes needs as many training seeds; there are ${c.train_seed_limit}`);
  return Array.from({ length: count }, (_, i) => ({
    seed: (first_seed + i) % c.train_seed_limit,
    explore_seed: null,
    hold: true,
  }));
}

/** Runs the operator's episodes into `demos` (every decision labelled), then fits `learner`'s actor to them. */
export async function warmStart(
  c: FinetuneConfig,
  w: WarmStartSettings,
  pool: RolloutPool,
  learner: SacLearner,
  demos: ReplayBuffer,
  first_seed: number,
  hooks: WarmStartHooks = {},
): Promise<WarmStartLine> {
  const { obs_dim: O, action_dim: A } = learner.config;
  const jobs = warmStartJobs(c, first_seed, w.episodes);
  const weights: ActorWeights = { version: 0, values: learner.actor.values() };
  let successes = 0;
  let env_ticks = 0;
  for (let i = 0; i < jobs.length; i += EPISODES_PER_BATCH) {
    const eps = await pool.run(jobs.slice(i, i + EPISODES_PER_BATCH), weights);
    for (const ep of eps) {
      addEpisode(demos, { ...ep, u: labelsOf(ep) }, O, A);
      successes += ep.success ? 1 : 0;
      env_ticks += ep.ticks;
    }
    hooks.progress?.('episodes', Math.min(jobs.length, i + EPISODES_PER_BATCH), jobs.length);
  }
  const loss_per_epoch = fitActor(learner, demos, w, (e) => hooks.progress?.('epochs', e, w.epochs));
  return {
    type: 'warm_start',
    episodes: jobs.length,
    successes,
    labels: demos.size,
    epochs: w.epochs,
    updates: loss_per_epoch.length * Math.ceil(demos.size / learner.config.batch_size),
    loss_per_epoch,
    env_ticks,
  };
}

/** The operator held every decision: its corrections are the episode's u (and its labels, when it labels all). */
function labelsOf(ep: RolloutEpisode): Float32Array {
  return ep.labels ?? ep.u;
}

/**
 * Epochs of minibatches over the demonstrations, with an optimiser of its own (the rounds' Adam moments start as a
 * fresh run's would) whose learning rate falls from `lr` along a half cosine: the last epochs settle the fit.
 */
function fitActor(
  learner: SacLearner,
  demos: ReplayBuffer,
  w: WarmStartSettings,
  epochDone: (epoch: number) => void,
): number[] {
  const { batch_size, obs_dim, action_dim } = learner.config;
  const batch = newBatch(batch_size, obs_dim, action_dim);
  const per_epoch = Math.ceil(demos.size / batch_size);
  const total = per_epoch * w.epochs;
  const opt = learner.actorOptimizer(w.lr);
  const losses: number[] = [];
  try {
    for (let e = 0; e < w.epochs; e++) {
      let sum = 0;
      for (let k = 0; k < per_epoch; k++) {
        opt.lr = (w.lr * (1 + Math.cos((Math.PI * (e * per_epoch + k)) / total))) / 2;
        demos.sampleInto(batch, 0, batch_size, learner.rng);
        sum += learner.imitationStep(batch, opt);
      }
      losses.push(sum / per_epoch);
      epochDone(e + 1);
    }
  } finally {
    opt.dispose();
  }
  return losses;
}
