// Scripted experts: policies with privileged access to the task state (object poses) that solve the
// sim tasks. They answer like any chunking policy: given the observation taken at tick k, the actions
// for ticks k+1 .. k+H. The runtime drops the prefix that is already in the past, so an expert's plan is
// indexed by absolute tick, never by "steps since the last call".
import type { TaskState } from '../tasks/task.js';

export interface ExpertObservation {
  /** Tick at which the observation was taken. */
  tick: number;
  /** Arm joints in action order (rad). */
  position_rad: ArrayLike<number>;
  /** One per gripper, 0 closed .. 1 open. */
  gripper: ArrayLike<number>;
  task: TaskState;
}

export interface ExpertOptions {
  /**
   * 0 = the clean expert. Larger values perturb grasp and place points and add smooth (Ornstein-Uhlenbeck)
   * noise to the joint targets, for imperfect demonstrations. 1 is "clumsy but often successful".
   */
  noise?: number;
}

export interface ScriptedExpert {
  readonly action_dim: number;
  /** Start a new episode; the seed drives the noise. */
  reset(seed: number): void;
  /**
   * Actions for ticks first_tick .. first_tick+horizon-1 (default first_tick = obs.tick + 1),
   * row-major [horizon x action_dim]. Plans are indexed by absolute tick, so an expert can start a chunk
   * where the runtime will first be able to use it.
   */
  chunk(obs: ExpertObservation, horizon: number, first_tick?: number): Float64Array;
}

/**
 * An expert as state feedback: the command for the next tick from the observation alone, with no plan kept between
 * calls (what a scripted operator's corrections can be learnt from where a policy strays).
 */
export interface FeedbackExpert {
  readonly action_dim: number;
  /** The next tick's action; the returned array is reused by the next call. */
  action(obs: ExpertObservation): Float64Array;
}
