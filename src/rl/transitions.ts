// A rollout episode's residual decisions as transitions for the replay buffer: each decision's inputs and u, the
// next decision's inputs, the sparse reward (1 on the decision that led to success), and whether the episode
// ended in a terminal state. A time-limit cut is not terminal and its last decision has no successor, so it is
// left out rather than bootstrapped from a made-up next state. `only` keeps the decisions at those step indices.
import type { ReplayBuffer } from './replay-buffer.js';
import type { RolloutEpisode } from './sim-rollouts.js';

export function addEpisode(
  buffer: ReplayBuffer,
  ep: RolloutEpisode,
  obs_dim: number,
  action_dim: number,
  only?: ReadonlySet<number>,
): number {
  const n = ep.steps;
  const terminal = !ep.truncated; // success, a failure state, or a fault: nothing follows
  const count = terminal ? n : n - 1;
  let added = 0;
  for (let i = 0; i < count; i++) {
    if (only && !only.has(i)) continue;
    added++;
    const last = i === n - 1;
    const obs = ep.inputs.subarray(i * obs_dim, (i + 1) * obs_dim);
    buffer.add({
      obs,
      action: ep.u.subarray(i * action_dim, (i + 1) * action_dim),
      reward: last && ep.success ? 1 : 0,
      terminal: last && terminal,
      next_obs: last ? obs : ep.inputs.subarray((i + 1) * obs_dim, (i + 2) * obs_dim),
    });
  }
  return added;
}
