// A takeover through the rig's leader arms (ALOHA: JointState.teleop), in the control thread. While it is asked
// for (a key, or the scripted operator), the followers go where the person holds the leaders: the whole command,
// every tick, through the same safety filter (limits and the per-tick step), not a correction bounded like the
// residual's. Two guards, as teleoperation rigs have them:
//  - it engages only once every leader joint is within ENGAGE_RAD of its follower's measured position, so a
//    leader left elsewhere never yanks the arm (the person brings it over first; until then the residual keeps it);
//  - a leader reading older than STALE_TICKS control periods ends it at once (the residual has the arm again).
// For learning, each decision while engaged is an intervention whose u is the part of the person's command a
// bounded residual could have made, clip((leader - base) / scale, -1, 1) (HIL-SERL keeps them apart to imitate).
import type { MeasuredState } from '../../policy/residual/residual-corrector.js';
import { monotonicMs } from '../../util/clock.js';

/** How close (rad) each leader joint must be to its follower for the takeover to engage (~8.6 degrees). */
export const ENGAGE_RAD = 0.15;
/** A leader reading older than this many control periods ends the takeover. */
export const STALE_TICKS = 3;

/** What the leaders did over an episode (counted in the control thread, reported with its decisions). */
export interface LeaderFigures {
  /** Ticks whose command was the leaders' pose. */
  ticks: number;
  /** Takeovers that engaged. */
  engaged: number;
  /** Takeovers asked for that had not engaged when they were let go: a leader was too far from its follower. */
  too_far: number;
  /** Engaged takeovers ended because the leader reading went old. */
  stale: number;
}

export class LeaderTakeover {
  readonly figures: LeaderFigures = { ticks: 0, engaged: 0, too_far: 0, stale: 0 };
  private wanted = false;
  private engaged = false;
  /** Whether the takeover asked for now has engaged at some point (else, let go, it counts as too far). */
  private tookOnce = false;
  private readonly stale_ms: number;

  /**
   * `joint_of[i]`: the measured joint behind action dimension i (-1: a gripper, not checked to engage);
   * `scale`: the residual's bound per action dimension.
   */
  constructor(
    private readonly joint_of: ArrayLike<number>,
    private readonly scale: Float64Array,
    control_hz: number,
  ) {
    this.stale_ms = (STALE_TICKS * 1000) / control_hz;
  }

  get active(): boolean {
    return this.engaged;
  }

  /** Ask for the takeover (true) or hand the arm back (false). */
  want(on: boolean): void {
    if (on === this.wanted) return;
    if (!on && !this.tookOnce) this.figures.too_far++;
    this.wanted = on;
    this.engaged = false;
    this.tookOnce = false;
  }

  /** Each tick: replaces the command with the leaders' pose and returns true while the takeover holds. */
  steer(state: MeasuredState, command: Float64Array): boolean {
    const t = state.teleop;
    if (!this.holds(state) || !t) return false;
    command.set(t.action);
    this.figures.ticks++;
    return true;
  }

  /** At a residual decision: while engaged, u is the person's command as a bounded correction; true then. */
  decide(state: MeasuredState, base: Float64Array, u: Float64Array): boolean {
    const t = state.teleop;
    if (!this.holds(state) || !t) return false;
    for (let i = 0; i < u.length; i++)
      u[i] = this.scale[i] > 0 ? Math.max(-1, Math.min(1, (t.action[i] - base[i]) / this.scale[i])) : 0;
    return true;
  }

  /** A new episode: nobody holds the arm, and the figures start again (the caller has taken them). */
  reset(): void {
    this.want(false);
    Object.assign(this.figures, { ticks: 0, engaged: 0, too_far: 0, stale: 0 });
  }

  /** Whether the leaders have the arm now: asked for, engaged (or engaging now), and their reading fresh. */
  private holds(state: MeasuredState): boolean {
    if (!this.wanted) return false;
    const t = state.teleop;
    if (!t || !(monotonicMs() - t.t_mono_ms <= this.stale_ms)) {
      if (this.engaged) this.figures.stale++;
      this.engaged = false;
      return false;
    }
    if (!this.engaged && this.near(state, t.action)) {
      this.engaged = true;
      this.tookOnce = true;
      this.figures.engaged++;
    }
    return this.engaged;
  }

  private near(state: MeasuredState, leader: Float64Array): boolean {
    for (let i = 0; i < leader.length; i++) {
      const j = this.joint_of[i];
      if (j >= 0 && !(Math.abs(leader[i] - state.position_rad[j]) <= ENGAGE_RAD)) return false;
    }
    return true;
  }
}
