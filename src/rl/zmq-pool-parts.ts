// The learner's side of the actor protocol, its parts: options, events, the state kept per actor and per job.
import type { ActorSetup, EpisodeJob } from './rollout-pool.js';
import type { RolloutEpisode } from './sim-rollouts.js';

export interface ZmqPoolOptions {
  /** ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:0 (port 0: any free port; see `endpoint`). */
  bind: string;
  setup: ActorSetup;
  /** CurveZMQ: the learner's secret key and the public keys of the actors let in (Z85). */
  curve?: { secret_key: string; allowed_client_keys: readonly string[] };
  /** How often actors send a heartbeat (default 1000 ms). */
  heartbeat_ms?: number;
  /** An actor silent this long (learner stalls not counted) is lost; its jobs go to others (default 15 s). */
  actor_timeout_ms?: number;
  /** Episodes waiting and no ready actor this long: the waiting runs fail with NoActorError (default 120 s). */
  wait_ms?: number;
  /** Malformed results one episode may get before its run fails (default MAX_BAD_RESULTS). */
  max_bad_results?: number;
  /** Jobs an actor holds at once (default 4: a whole round, run while the learner trains on the last). */
  jobs_per_actor?: number;
  on_event?: (e: PoolEvent) => void;
}

export type PoolEvent =
  | { type: 'actor_ready'; actor: string }
  | { type: 'actor_back'; actor: string }
  | { type: 'actor_refused'; actor: string; reason: string }
  | { type: 'actor_lost'; actor: string; silent_ms: number; requeued: number }
  | { type: 'malformed'; kind: string; message: string }
  | { type: 'warning'; message: string };

/** No actor was ready to take the waiting episodes within the deadline. */
export class NoActorError extends Error {
  override readonly name = 'NoActorError';
}

export interface Peer {
  rid: Buffer;
  name: string;
  state: 'setup' | 'ready' | 'lost';
  was_ready: boolean;
  outstanding: Map<number, Pending>;
  /** The weights this actor was last sent (it keeps them), null: send them with its next job. */
  weights_id: string | null;
  last_seen: number;
}

export type Batch = {
  results: RolloutEpisode[];
  left: number;
  resolve: (eps: RolloutEpisode[]) => void;
  reject: (e: Error) => void;
};
/** Weights as frames, named by a hash of their values (a version number may be reused after a rollback). */
export type WireWeights = { id: string; version: number; frames: Buffer[] };
export type Pending = {
  id: number;
  batch: Batch;
  index: number;
  job: EpisodeJob;
  weights: WireWeights;
  bound: number;
  /** Malformed results received for this job so far. */
  bad_results: number;
};

/**
 * Malformed results one job may get before its run fails: a garbled frame is sent again, an actor that keeps
 * sending the same bad result is broken, and the learner must not wait on it forever.
 */
export const MAX_BAD_RESULTS = 5;
