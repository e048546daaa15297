// A diagnostic policy whose every action says which tick it was predicted for, and the check that reads
// it back from what the control loop executed: the honest test that no action ever runs at another tick
// than its own (UAC prefix drop, blending, the ring and the loop all in between). Joints 0 and 1 follow a
// slow triangle around the home pose (0.05 rad, 100 ticks per ramp: 0.001 rad per tick, well inside
// every step limit, so safety never changes it); an action executed one tick early or late differs by
// a whole step. `vla-run --policy tick-stamp` dry-runs a robot path with it.

import { homeAction, type RobotDescription } from '../robot/index.js';
import type { ActionChunk, Observation, Policy, PolicyDescription } from './policy.js';

const AMPLITUDE_RAD = 0.05;
const RAMP_TICKS = 100;
/** Executed and expected values closer than this are the same action (float32 chunks, float64 commands). */
const TOLERANCE_RAD = 1e-5;

/** The stamp of tick t: 0 .. AMPLITUDE and back, one step per tick. */
export function tickStamp(t: number): number {
  const phase = ((t % (2 * RAMP_TICKS)) + 2 * RAMP_TICKS) % (2 * RAMP_TICKS);
  return (AMPLITUDE_RAD * (phase <= RAMP_TICKS ? phase : 2 * RAMP_TICKS - phase)) / RAMP_TICKS;
}

export class TickStampPolicy implements Policy {
  private readonly home: Float64Array;

  constructor(
    private readonly robot: RobotDescription,
    private readonly horizon = 25,
  ) {
    this.home = homeAction(robot);
  }

  describe(): PolicyDescription {
    return {
      name: 'tick-stamp',
      kind: 'diagnostic',
      horizon: this.horizon,
      action_dim: this.home.length,
      action_offset: 1,
      cameras: [],
      control_hz: this.robot.control_hz,
      max_committed: 0,
    };
  }

  async infer(obs: Observation): Promise<ActionChunk> {
    const D = this.home.length;
    const first = Math.max(obs.tick + 1, obs.first_tick_hint ?? obs.tick + 1);
    const actions = new Float32Array(this.horizon * D);
    for (let r = 0; r < this.horizon; r++) {
      actions.set(this.home, r * D);
      actions[r * D] += tickStamp(first + r);
      actions[r * D + 1] -= tickStamp(first + r);
    }
    return { obs_tick: obs.tick, first_tick: first, horizon: this.horizon, dim: D, actions, infer_ms: 0 };
  }

  async close(): Promise<void> {}
}

/** Reads the stamp back from every command executed from the buffer. */
export class StaleActionCheck {
  /** Buffered commands executed at a tick other than the one they were predicted for. */
  stale = 0;
  checked = 0;
  private readonly home: Float64Array;

  constructor(robot: RobotDescription) {
    this.home = homeAction(robot);
  }

  /** A recorder's tick: the command for tick k + 1, computed from the state of tick k. */
  tick(_state: unknown, command: Float64Array, k: number, source?: string): void {
    if (source !== 'buffer') return;
    this.checked++;
    const expected = tickStamp(k + 1);
    if (
      Math.abs(command[0] - this.home[0] - expected) > TOLERANCE_RAD ||
      Math.abs(this.home[1] - command[1] - expected) > TOLERANCE_RAD
    )
      this.stale++;
  }
}
