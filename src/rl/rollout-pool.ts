// Where fine-tuning episodes run: a pool of actors, each an EpisodeRunner on the runtime's loop (the sim's, or a
// robot's in real time). The learner hands out jobs (a seed, and an exploration seed or none for a deterministic
// evaluation) with the actor weights to use; results come back in job order whatever actor ran them, so a run's
// data depends only on its seeds and weights, never on timing. In one process a single actor takes the jobs in
// turn (zmq-pool.ts spreads them over processes).
import type { DenseLayer } from '../policy/residual/dense-stack.js';
import { Rng } from '../util/rng.js';
import { ActorUnit, actorLayers } from './actor-net.js';
import { type RolloutEpisode, type RolloutSetup, SimRollouts } from './sim-rollouts.js';

export interface EpisodeJob {
  seed: number;
  /** Seeds the actor's exploration noise; null evaluates the residual deterministically. */
  explore_seed: number | null;
  /** The scripted operator holds the arm at every decision (the imitation warm start; the sim only). */
  hold?: boolean;
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
  /** Ends the pool; `interrupted` (Ctrl-C) has actors on a robot end their episode as interrupted, held. */
  close(why?: 'done' | 'interrupted'): Promise<void>;
}

/** What an actor needs to build its rollouts, besides the weights (which arrive with each batch of jobs). */
export type ActorSetup = Omit<RolloutSetup, 'actor'> & { actor_sizes: number[] };

/**
 * What runs an actor's episodes: the embedded sim (SimRunner) or a robot (robot/robot-runner.ts). Each episode
 * gets the weights and trust region its job was sent with; they change only between episodes.
 */
export interface EpisodeRunner {
  episode(job: EpisodeJob, layers: DenseLayer[], bound: number): Promise<RolloutEpisode>;
  /** Stop the episode in progress now (a robot holds); the sim, which moves nothing, need not. */
  interrupt?(why: string): void;
  /**
   * A robot's, after an episode whose link was lost: resolves undefined once the robot could start an episode
   * again, or with why not after `timeout_ms` (or once interrupted). Nothing moves meanwhile.
   */
  awaitRobot?(timeout_ms: number, log: (line: string) => void): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Episodes in the embedded sim on the virtual clock, with the actor network evaluated in this thread. */
export class SimRunner implements EpisodeRunner {
  private constructor(
    private readonly rollouts: SimRollouts,
    private readonly unit: ActorUnit,
  ) {}

  static async create(setup: Omit<RolloutSetup, 'actor'>, layers: DenseLayer[]): Promise<SimRunner> {
    const unit = new ActorUnit(layers, setup.manifest.action_names.length);
    return new SimRunner(await SimRollouts.create({ ...setup, actor: unit }), unit);
  }

  episode(job: EpisodeJob, layers: DenseLayer[], bound: number): Promise<RolloutEpisode> {
    this.unit.load(layers);
    this.unit.bound = bound;
    return this.rollouts.episode(job.seed, exploreRng(job), false, job.hold === true);
  }

  async close(): Promise<void> {
    await this.rollouts.close();
  }
}

/** One actor in this process: jobs run one after another, in the order they were asked for. */
export class LocalPool implements RolloutPool {
  readonly actors = 1;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly runner: EpisodeRunner,
    private readonly sizes: number[],
  ) {}

  static async create(setup: ActorSetup, initial: Float32Array[]): Promise<LocalPool> {
    const { actor_sizes, ...rest } = setup;
    return new LocalPool(await SimRunner.create(rest, actorLayers(initial, actor_sizes)), actor_sizes);
  }

  run(jobs: EpisodeJob[], weights: ActorWeights): Promise<RolloutEpisode[]> {
    const layers: DenseLayer[] = actorLayers(weights.values, this.sizes);
    const batch = this.queue.then(async () => {
      const out: RolloutEpisode[] = [];
      for (const job of jobs) out.push(await this.runner.episode(job, layers, weights.bound ?? 1));
      return out;
    });
    this.queue = batch.catch(() => undefined);
    return batch;
  }

  async close(): Promise<void> {
    await this.queue;
    await this.runner.close();
  }
}

export function exploreRng(job: EpisodeJob): Rng | undefined {
  return job.explore_seed === null ? undefined : new Rng(job.explore_seed);
}
