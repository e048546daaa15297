// The lines of a fine-tuning run's metrics.jsonl that the dashboard, the selection and export read back: one per
// round (training) and one per held-out evaluation.
import type { FailureOutcome } from '../runtime/episode/failure-outcome.js';
import type { UpdateMetrics } from './sac-learner.js';

export interface RoundLine {
  type: 'round';
  round: number;
  wall_s: number;
  episodes: number;
  env_ticks: number;
  updates: number;
  train_success: number;
  train_success_last50: number;
  episode_ticks_mean: number;
  metrics: UpdateMetrics | null;
  residual_abs_u: number[];
  /** Share of this round's residual decisions in which the operator held the arm. */
  intervention_rate: number;
  updates_per_s: number;
  env_ticks_per_s: number;
  lr: { critic: number; actor: number };
}

export interface EvalLine {
  type: 'eval';
  round: number;
  wall_s: number;
  env_ticks: number;
  successes: number;
  episodes: number;
  success: number;
  ci95: [number, number];
  best: { round: number; success: number } | null;
  verdict: string;
  /** In the sim: where the failed evaluation episodes ended (their task figures' medians). */
  failures?: FailureOutcome;
}
