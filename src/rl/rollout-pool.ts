// Where fine-tuning episodes run: a pool of actors, each a SimRollouts on the runtime's loop. The learner hands
// out jobs (a seed, and an exploration seed or none for a deterministic evaluation) with the actor weights to use;
// results come back in job order whatever actor ran them, so a run's data depends only on its seeds and weights,
// never on timing. In one process a single actor takes the jobs in turn (zmq-pool.ts spreads them over processes).
import type { DenseLayer } from '../policy/residual/dense-stack.js';
import { Rng } from '../util/rng.js';
import { ActorUnit, actorLayers } from './actor-net.js';
import { type RolloutEpisode, type RolloutSetup, SimRollouts } from './sim-rollouts.js';

export interface EpisodeJob {
  seed: number;
  /** Seeds the actor's exploration noise; null evaluates the residual deterministically. */
  explore_seed: number | null;
}

export interface ActorWeights {
  /** Training rounds these weights have seen (v_k: trained on rounds 0..k-1). */
  version: number;
  values: Float32Array[];
  /** The trust region the round runs with (u = bound * tanh); default 1. */
  bound?: number;
}

export interface RolloutPool {
  /** Runs the jobs with the given weights; the results in job order. */
  run(jobs: EpisodeJob[], weights: ActorWeights): Promise<RolloutEpisode[]>;
  /** Actors working for the pool (for the progress line and the throughput figures). */
  readonly actors: number;
  close(): Promise<void>;
}

/** What an actor needs to build its rollouts, besides the weights (which arrive with each batch of jobs). */
export type ActorSetup = Omit<RolloutSetup, 'actor'> & { actor_sizes: number[] };

/** One actor in this process: jobs run one after another, in the order they were asked for. */
export class LocalPool implements RolloutPool {
  readonly actors = 1;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly rollouts: SimRollouts,
    private readonly unit: ActorUnit,
    private readonly sizes: number[],
  ) {}

  static async create(setup: ActorSetup, initial: Float32Array[]): Promise<LocalPool> {
    const A = setup.manifest.action_names.length;
    const unit = new ActorUnit(actorLayers(initial, setup.actor_sizes), A);
    const rollouts = await SimRollouts.create({ ...setup, actor: unit });
    return new LocalPool(rollouts, unit, setup.actor_sizes);
  }

  run(jobs: EpisodeJob[], weights: ActorWeights): Promise<RolloutEpisode[]> {
    const layers: DenseLayer[] = actorLayers(weights.values, this.sizes);
    const batch = this.queue.then(async () => {
      this.unit.load(layers);
      this.unit.bound = weights.bound ?? 1;
      const out: RolloutEpisode[] = [];
      for (const job of jobs) out.push(await this.rollouts.episode(job.seed, exploreRng(job)));
      return out;
    });
    this.queue = batch.catch(() => undefined);
    return batch;
  }

  async close(): Promise<void> {
    await this.queue;
    await this.rollouts.close();
  }
}

export function exploreRng(job: EpisodeJob): Rng | undefined {
  return job.explore_seed === null ? undefined : new Rng(job.explore_seed);
}
