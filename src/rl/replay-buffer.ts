// A fixed-capacity ring of transitions (obs, action, reward, terminal, next obs) in flat Float32Arrays: no
// object per transition, so a buffer of a million ticks is a few hundred MB of typed arrays and nothing for the
// garbage collector. The fine-tuner keeps two (RLPD's symmetric sampling): the base policy's own rollouts
// (offline) and the residual's (online); each batch takes half from each. Its whole state (arrays and counters)
// goes into checkpoints, so a resumed run samples exactly what an uninterrupted one would have.
import type { Rng } from '../util/rng.js';

export interface Transition {
  obs: ArrayLike<number>;
  action: ArrayLike<number>;
  reward: number;
  /** The episode ended in a state with no future (success, failure); a time-limit cut is not terminal. */
  terminal: boolean;
  next_obs: ArrayLike<number>;
}

/** Row-major batch arrays, `size` rows each; reused between calls of the same size. */
export interface TransitionBatch {
  size: number;
  obs: Float32Array;
  action: Float32Array;
  reward: Float32Array;
  /** 1 where the transition was terminal, else 0. */
  terminal: Float32Array;
  next_obs: Float32Array;
}

export interface ReplayBufferState {
  capacity: number;
  obs_dim: number;
  action_dim: number;
  /** Transitions ever added (the ring holds the last min(added, capacity)). */
  added: number;
  obs: Float32Array;
  action: Float32Array;
  reward: Float32Array;
  terminal: Float32Array;
  next_obs: Float32Array;
}

export class ReplayBuffer {
  private readonly s: ReplayBufferState;

  constructor(capacity: number, obs_dim: number, action_dim: number) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new Error(`capacity must be a positive integer`);
    this.s = {
      capacity,
      obs_dim,
      action_dim,
      added: 0,
      obs: new Float32Array(capacity * obs_dim),
      action: new Float32Array(capacity * action_dim),
      reward: new Float32Array(capacity),
      terminal: new Float32Array(capacity),
      next_obs: new Float32Array(capacity * obs_dim),
    };
  }

  static fromState(state: ReplayBufferState): ReplayBuffer {
    const b = new ReplayBuffer(state.capacity, state.obs_dim, state.action_dim);
    const rows = Math.min(state.added, state.capacity);
    for (const k of ['obs', 'action', 'reward', 'terminal', 'next_obs'] as const) {
      const full = b.s[k].length;
      const filled = (full / state.capacity) * rows;
      // the filled rows; checkpoints written before held the whole capacity
      if (state[k].length !== filled && state[k].length !== full)
        throw new Error(`replay buffer state: '${k}' has ${state[k].length} values, expected ${filled}`);
      b.s[k].set(state[k]);
    }
    b.s.added = state.added;
    return b;
  }

  /**
   * The filled rows (views, not copies): a checkpoint holds what the buffer holds, not its capacity (500k empty
   * rows made each checkpoint 1.1 GB). Rows fill from 0 until the ring wraps, so they are the first `size`.
   */
  state(): Readonly<ReplayBufferState> {
    const { obs_dim: O, action_dim: A } = this.s;
    const n = this.size;
    const s = this.s;
    return {
      ...s,
      obs: s.obs.subarray(0, n * O),
      action: s.action.subarray(0, n * A),
      reward: s.reward.subarray(0, n),
      terminal: s.terminal.subarray(0, n),
      next_obs: s.next_obs.subarray(0, n * O),
    };
  }

  get size(): number {
    return Math.min(this.s.added, this.s.capacity);
  }

  get added(): number {
    return this.s.added;
  }

  add(t: Transition): void {
    const { obs_dim, action_dim } = this.s;
    if (t.obs.length !== obs_dim || t.next_obs.length !== obs_dim || t.action.length !== action_dim)
      throw new Error(
        `transition: expected obs ${obs_dim} and action ${action_dim} values, found obs ${t.obs.length}, ` +
          `next_obs ${t.next_obs.length}, action ${t.action.length}`,
      );
    const i = this.s.added % this.s.capacity;
    this.s.obs.set(t.obs, i * obs_dim);
    this.s.next_obs.set(t.next_obs, i * obs_dim);
    this.s.action.set(t.action, i * action_dim);
    this.s.reward[i] = t.reward;
    this.s.terminal[i] = t.terminal ? 1 : 0;
    this.s.added++;
  }

  /** Writes `count` uniformly drawn transitions into rows `from .. from+count-1` of `out`. */
  sampleInto(out: TransitionBatch, from: number, count: number, rng: Rng): void {
    const n = this.size;
    if (n === 0) throw new Error('cannot sample from an empty replay buffer');
    const { obs_dim: o, action_dim: a } = this.s;
    for (let r = from; r < from + count; r++) {
      const i = Math.floor(rng.next() * n);
      out.obs.set(this.s.obs.subarray(i * o, (i + 1) * o), r * o);
      out.next_obs.set(this.s.next_obs.subarray(i * o, (i + 1) * o), r * o);
      out.action.set(this.s.action.subarray(i * a, (i + 1) * a), r * a);
      out.reward[r] = this.s.reward[i];
      out.terminal[r] = this.s.terminal[i];
    }
  }
}

export function newBatch(size: number, obs_dim: number, action_dim: number): TransitionBatch {
  return {
    size,
    obs: new Float32Array(size * obs_dim),
    action: new Float32Array(size * action_dim),
    reward: new Float32Array(size),
    terminal: new Float32Array(size),
    next_obs: new Float32Array(size * obs_dim),
  };
}

/**
 * RLPD's symmetric sampling: half the batch from the online buffer, half from the offline one (all online when
 * the offline buffer is empty or absent).
 */
export function sampleMixed(
  out: TransitionBatch,
  online: ReplayBuffer,
  offline: ReplayBuffer | undefined,
  rng: Rng,
): TransitionBatch {
  const fromOffline = offline && offline.size > 0 ? Math.floor(out.size / 2) : 0;
  if (online.size === 0 && fromOffline === 0) throw new Error('both replay buffers are empty');
  if (online.size === 0) {
    offline!.sampleInto(out, 0, out.size, rng);
    return out;
  }
  online.sampleInto(out, 0, out.size - fromOffline, rng);
  if (fromOffline > 0) offline!.sampleInto(out, out.size - fromOffline, fromOffline, rng);
  return out;
}
