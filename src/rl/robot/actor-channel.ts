// Messages between the robot actor's main thread (robot-runner.ts) and its exploring residual in the control thread
// (control-actor.ts), on the plug-in's own MessagePort. Per episode: arm (weights, trust region, exploration seed),
// the run, then collect (every decision's inputs and u). Between them only the scripted operator's task state
// flows, as the endpoint publishes it, and the keyboard operator's takeover. Weights therefore change between
// episodes, never mid-tick.
import type { OperatorSettings } from '../operator/scripted-operator.js';
import type { LeaderFigures } from './leader-takeover.js';

/** What the control thread builds the actor from (structured-cloned into the thread at start). */
export interface ControlActorInit {
  /** The residual's manifest (scale, inputs, every_ticks), as the learner's setup gave it. */
  manifest: unknown;
  /** Actor layer sizes: inputs, hidden..., 2 x actions. */
  sizes: number[];
  /** Decisions kept per episode (the task's tick limit / every_ticks, with room for re-evaluations after holds). */
  max_decisions: number;
  /** The scripted operator (sim endpoints only: it reads the simulated task state). */
  operator?: { settings: OperatorSettings; robot: string; task: string };
  /**
   * The rig's leader arms take the followers over (JointState.teleop): the scripted operator takes over by holding
   * them at its plan (leader_pose messages), the keyboard's takeover key hands the arms to them.
   */
  leaders?: boolean;
}

export type ToControlActor =
  | {
      type: 'arm';
      seed: number;
      values: Float32Array[];
      bound: number;
      /** Exploration noise seed; null: deterministic (an evaluation), with no operator. */
      explore_seed: number | null;
    }
  | { type: 'task_state'; state: unknown }
  /** The person at the keyboard holds the arm with this correction (u per action dimension); null: handed back. */
  | { type: 'steer'; u: number[] | null }
  /** The person at the keyboard hands the followers to the leader arms (true) or back to the residual (false). */
  | { type: 'leaders'; on: boolean }
  | { type: 'collect' };

export interface CollectedDecisions {
  type: 'decisions';
  steps: number;
  /** The control tick of each decision. */
  ticks: Int32Array;
  /** [steps x obs_dim] and [steps x action_dim], row-major. */
  inputs: Float32Array;
  u: Float32Array;
  interventions: number[];
  labels?: Float32Array;
  /** Decisions past max_decisions that could not be kept (0 unless the episode was far longer than its limit). */
  dropped: number;
  /** With leader arms: what they did this episode. */
  leaders?: LeaderFigures;
}

export type FromControlActor =
  | { type: 'armed' }
  | CollectedDecisions
  | { type: 'error'; message: string }
  /** The scripted operator takes over through the leader arms: hold them in this pose (action layout). */
  | { type: 'leader_pose'; pose: number[] }
  /** For the person at the keyboard: the leaders' takeover engaged, cannot yet, or was ended by a guard. */
  | { type: 'leader_note'; text: string };
