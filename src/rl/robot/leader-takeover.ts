// A takeover through the rig's leader arms (ALOHA: JointState.teleop), in the control thread. While it holds, the
// followers go where the person holds the leaders: the whole command, every tick, through the same safety filter
// (limits and the per-tick step), not a correction bounded like the residual's. The guards teleoperation rigs have:
//  - it engages only at a residual decision, and only when every leader joint is within ENGAGE_RAD of its
//    follower's measured position (a leader left elsewhere never yanks the arm: the person brings it over first;
//    until then the residual keeps it), and, for a pose posted by the scripted operator, once that pose is read back;
//  - the gripper follows the leader's handle at most GRIPPER_STEP of its travel per tick (a handle left open must not
//    drop what the follower holds in one tick);
//  - it lets go when the leader reading is older than STALE_TICKS periods, when a leader joint is TRACK_RAD from its
//    follower (the follower stopped following), and after ticks the runtime held (a fault, an underrun): then it
//    must engage afresh, near the followers;
//  - handing back blends the command from the leaders' last pose to the residual's over RELEASE_TICKS ticks.
// For learning, each decision while it holds is an intervention whose u is the part of the person's command a
// bounded residual could have made, clip((leader - base) / scale, -1, 1) (HIL-SERL keeps them apart to imitate).
import type { MeasuredState } from '../../policy/residual/residual-corrector.js';
import { monotonicMs } from '../../util/clock.js';

/** How close (rad) each leader joint must be to its follower for the takeover to engage (~8.6 degrees). */
export const ENGAGE_RAD = 0.15;
/** While it holds, a leader joint this far (rad) from its follower ends it. */
export const TRACK_RAD = 0.4;
/** A leader reading older than this many control periods ends it. */
export const STALE_TICKS = 3;
/** The most a gripper command moves toward the leader's handle per tick (of its 0..1 travel). */
export const GRIPPER_STEP = 0.1;
/** Handing back: ticks over which the command blends from the leaders' last pose to the residual's. */
export const RELEASE_TICKS = 25;
/** A pose posted to the leaders counts as arrived when every value reads back this close (rad; gripper: travel). */
const ARRIVED = 0.01;

/** What the leaders did over an episode (counted in the control thread, reported with its decisions). */
export interface LeaderFigures {
  /** Ticks whose command was the leaders' pose. */
  ticks: number;
  /** Times a takeover engaged. */
  engaged: number;
  /** Takeovers asked for and let go without ever engaging (a leader too far, or its reading never fresh). */
  never_engaged: number;
  /** Times a holding takeover was ended by the guards: an old reading, a follower left behind, a runtime hold. */
  ended_by_guard: number;
}

const NO_FIGURES: LeaderFigures = { ticks: 0, engaged: 0, never_engaged: 0, ended_by_guard: 0 };

export class LeaderTakeover {
  readonly figures: LeaderFigures = { ...NO_FIGURES };
  /** Told when the takeover engages, cannot, or is ended by a guard (for the person at the keyboard). */
  onEvent: ((what: string) => void) | undefined;
  /** Called when a guard ends it between two decisions: the residual should decide afresh. */
  onRelease: (() => void) | undefined;
  private wanted = false;
  private engaged = false;
  private tookOnce = false;
  private saidFar = false;
  private expected: Float64Array | undefined;
  /** Poses are posted to the leaders (the scripted operator): engaging waits for one. */
  private posted = false;
  /** The last command the leaders gave (the gripper ramped): where a hand-back blends from. */
  private readonly last: Float64Array;
  private releasing = 0;
  private lastSteerMs = -Infinity;
  private farRad = 0;
  private readonly period_ms: number;

  /**
   * `names` and `source`: the description's action names and action_source (>= 0: the measured joint of action i;
   * -1 - g: gripper g); `scale`: the residual's bound per action dimension.
   */
  constructor(
    private readonly names: readonly string[],
    private readonly source: ArrayLike<number>,
    private readonly scale: Float64Array,
    control_hz: number,
  ) {
    this.period_ms = 1000 / control_hz;
    this.last = new Float64Array(scale.length);
  }

  get active(): boolean {
    return this.engaged;
  }

  /** Ask for the takeover (true) or hand the arm back (false). */
  want(on: boolean): void {
    if (on === this.wanted) return;
    if (!on && !this.tookOnce) this.figures.never_engaged++;
    if (!on && this.engaged) this.releasing = RELEASE_TICKS;
    this.wanted = on;
    this.engaged = false;
    this.tookOnce = false;
    this.saidFar = false;
    this.expected = undefined;
  }

  /**
   * The scripted operator posted this pose to the leaders: engage only once it reads back. A takeover whose poses
   * are posted never engages before its first one is (the leaders may still hold the last episode's).
   */
  expect(pose: Float64Array): void {
    this.posted = true;
    this.expected ??= new Float64Array(pose.length);
    this.expected.set(pose);
  }

  /** At a residual decision: engages if it can; while it holds, u is the person's command, bounded; true then. */
  decide(state: MeasuredState, base: Float64Array, u: Float64Array): boolean {
    if (this.wanted && !this.engaged) this.tryEngage(state);
    const t = state.teleop;
    if (!this.engaged || !t) return false;
    for (let i = 0; i < u.length; i++)
      u[i] = this.scale[i] > 0 ? Math.max(-1, Math.min(1, (t.action[i] - base[i]) / this.scale[i])) : 0;
    return true;
  }

  /**
   * Each tick, after the residual's correction: while it holds, the command becomes the leaders' pose (true);
   * while handing back, it is blended from their last pose.
   */
  steer(state: MeasuredState, command: Float64Array): boolean {
    const now = monotonicMs();
    const gap = now - this.lastSteerMs > 1.5 * this.period_ms;
    this.lastSteerMs = now;
    if (this.engaged) {
      const why = gap ? 'the runtime held the arms' : this.guard(state, now);
      if (why === undefined) {
        this.follow(state.teleop!.action, command);
        return true;
      }
      this.endByGuard(why, !gap);
    }
    if (this.releasing > 0) {
      const a = 1 - this.releasing / (RELEASE_TICKS + 1);
      for (let i = 0; i < command.length; i++) command[i] = this.last[i] + a * (command[i] - this.last[i]);
      this.releasing--;
    }
    return false;
  }

  /** A new episode: nobody holds the arm, and the figures start again (the caller has taken them). */
  reset(): void {
    this.want(false);
    this.releasing = 0;
    this.lastSteerMs = -Infinity;
    Object.assign(this.figures, NO_FIGURES);
  }

  private tryEngage(state: MeasuredState): void {
    const t = state.teleop;
    if (!t || !this.fresh(t.t_mono_ms, monotonicMs())) return;
    if (!this.arrived(t.action)) return;
    const far = this.farthest(state, t.action);
    if (this.farRad > ENGAGE_RAD) {
      if (!this.saidFar) this.onEvent?.(`bring the leader over: ${this.names[far]} is ${deg(this.farRad)} deg away`);
      this.saidFar = true;
      return;
    }
    this.engaged = true;
    this.tookOnce = true;
    this.lastSteerMs = monotonicMs(); // decided in this tick: its steer follows
    this.figures.engaged++;
    this.last.set(t.action);
    // the grippers start where the followers' are and ramp toward the handles
    for (let i = 0; i < this.source.length; i++)
      if (this.source[i] < 0) this.last[i] = state.gripper[-1 - this.source[i]];
    this.onEvent?.('the leader arms have the followers');
  }

  /** Why the takeover must end now (undefined: it holds). */
  private guard(state: MeasuredState, now: number): string | undefined {
    const t = state.teleop;
    if (!t || !this.fresh(t.t_mono_ms, now)) return 'the leader reading is old';
    const far = this.farthest(state, t.action);
    if (this.farRad > TRACK_RAD) return `the ${this.names[far]} follower is ${deg(this.farRad)} deg behind its leader`;
    return undefined;
  }

  private endByGuard(why: string, blend: boolean): void {
    this.engaged = false;
    this.figures.ended_by_guard++;
    this.releasing = blend ? RELEASE_TICKS : 0;
    this.onEvent?.(`the residual has the arms again (${why}); the takeover resumes near the followers`);
    this.onRelease?.();
  }

  /** The leaders' pose as the command; each gripper at most GRIPPER_STEP nearer the handle than last tick. */
  private follow(leader: Float64Array, command: Float64Array): void {
    for (let i = 0; i < leader.length; i++) {
      if (this.source[i] >= 0) this.last[i] = leader[i];
      else this.last[i] += Math.max(-GRIPPER_STEP, Math.min(GRIPPER_STEP, leader[i] - this.last[i]));
    }
    command.set(this.last);
    this.figures.ticks++;
  }

  /** Whether the pose the scripted operator posted (if any) reads back. */
  private arrived(leader: Float64Array): boolean {
    const e = this.expected;
    if (!e) return !this.posted;
    for (let i = 0; i < leader.length; i++) if (!(Math.abs(leader[i] - e[i]) <= ARRIVED)) return false;
    return true;
  }

  private fresh(t_ms: number, now: number): boolean {
    return now - t_ms <= STALE_TICKS * this.period_ms;
  }

  /**
   * The action index of the arm joint whose leader is farthest from its follower (grippers are not compared);
   * the distance in farRad (a value that is not a number: Infinity). Allocates nothing: it runs every tick.
   */
  private farthest(state: MeasuredState, leader: Float64Array): number {
    this.farRad = 0;
    let at = 0;
    for (let i = 0; i < leader.length; i++) {
      const j = this.source[i];
      if (j < 0) continue;
      const d = Math.abs(leader[i] - state.position_rad[j]);
      const dist = Number.isNaN(d) ? Infinity : d;
      if (dist > this.farRad) {
        this.farRad = dist;
        at = i;
      }
    }
    return at;
  }
}

const deg = (rad: number) => ((rad * 180) / Math.PI).toFixed(0);
