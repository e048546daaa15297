// The policy's observation of tick k: the state measured after tick k's command (in the action layout),
// the camera images the world gives for it, and what the buffer knows: the actions already committed
// (prefix-conditioned models) and the tick the chunk is expected to land at (first_tick_hint).

import type { Observation, PolicyDescription } from '../../policy/policy.js';
import { actionLayout, type RobotDescription } from '../../robot/index.js';
import type { ActionBuffer } from '../action-buffer.js';
import type { ObservationMessage } from '../control/protocol.js';
import type { LatencyEstimator } from '../timing/latency-estimator.js';
import { firstTickHint } from '../timing/trigger.js';
import type { WorldView } from '../world-link.js';

export interface ObservationContext {
  robot: RobotDescription;
  policy: PolicyDescription;
  buffer: ActionBuffer;
  latency: LatencyEstimator;
  dt_ms: number;
  expected_delay_ticks: number;
}

/** `asked_tick`: the tick when the trigger fired; the chunk is expected to land a delay after it. */
export function buildObservation(
  m: ObservationMessage,
  view: WorldView,
  asked_tick: number,
  c: ObservationContext,
): Observation {
  const state = actionLayout(c.robot, m, new Float32Array(c.robot.action_names.length));
  const committed =
    c.policy.max_committed > 0
      ? c.buffer.committed(m.tick, Math.min(c.policy.max_committed, c.expected_delay_ticks))
      : undefined;
  const hint = firstTickHint(
    asked_tick,
    c.buffer.remaining(asked_tick),
    c.latency.soonestTicks(c.dt_ms),
    c.expected_delay_ticks,
  );
  return {
    tick: m.tick,
    t_mono_ms: m.t_mono_ms,
    state,
    images: view.images,
    privileged: view.privileged ?? m.privileged,
    committed,
    first_tick_hint: Math.max(m.tick + 1, hint),
  };
}
