// Runs whole episodes synchronously on the sim's own clock: the quickest way to score a scripted expert
// (benchmarks, tests, demonstrations). The real-time runtime with its action buffer lives in src/.
import type { SimEnv, SimArmState } from './sim-env.js';
import type { ScriptedExpert } from './experts/expert.js';

export interface RolloutOptions {
  /** Actions per chunk (default 25). */
  horizon?: number;
  /** How many actions of each chunk are executed before the next one is requested (default: all). */
  execute?: number;
  /** Stop after this many ticks even if the episode is not over (default: run to the end). */
  max_ticks?: number;
  /** Called after every tick with the action that was applied and the state it led to. */
  onTick?: (env: SimEnv, action: Float64Array, state: SimArmState) => void;
}

export interface RolloutResult {
  seed: number;
  success: boolean;
  ticks: number;
}

export function runExpertEpisode(env: SimEnv, expert: ScriptedExpert, seed: number, opts: RolloutOptions = {}): RolloutResult {
  const horizon = opts.horizon ?? 25;
  const execute = Math.min(horizon, opts.execute ?? horizon);
  env.reset(seed);
  expert.reset(seed);
  const state = env.readState(env.newState());
  const action = new Float64Array(env.action_dim);
  const stop = () => env.done || env.tick >= (opts.max_ticks ?? Infinity);
  while (!stop()) {
    const chunk = expert.chunk({ tick: env.tick, position_rad: state.position_rad, gripper: state.gripper, task: env.taskState() }, horizon);
    for (let i = 0; i < execute && !stop(); i++) {
      action.set(chunk.subarray(i * env.action_dim, (i + 1) * env.action_dim));
      env.applyAction(action);
      env.step();
      env.readState(state);
      opts.onTick?.(env, action, state);
    }
  }
  return { seed, success: env.success, ticks: env.tick };
}
