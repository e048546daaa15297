// The parts of a replay on a robot that the episode engine runs: the policy that serves the plan (ease-in, hold,
// recorded commands: ease-in.ts) through the engine's buffer and the control loop's safety filter, a world with
// no cameras whose task is done when the plan has been played (the engine then ends the episode; the robot holds
// the last command), and a tracker that sees every tick: how fast the ease-in really moved, how closely the
// robot followed the recording, when the plan is over, and whether a driver fault held the robot (the replay
// then stops: the recording's ticks went on while the robot held).
import type { JointState } from '../../../drivers/driver.js';
import { RecordedActionsPolicy } from '../../policy/recorded-actions.js';
import type { Episode } from '../../recording/index.js';
import type { RobotDescription } from '../../robot/index.js';
import type { CommandSource } from '../../runtime/control/ticker.js';
import type { TickRecorder } from '../../runtime/runtime-types.js';
import { SafetyFilter, safetyLimits } from '../../runtime/safety.js';
import type { WorldLink } from '../../runtime/world-link.js';
import { RecordedCommands } from '../sim/recorded-track.js';
import { type RobotTrack, robotTrack } from './ease-in.js';

export interface RobotReplayOptions {
  speed_rad_s: number;
  settle_s: number;
  /** The control loop's per-tick step cap, if the user set one (the filter the policy predicts must be the same). */
  max_step_rad?: number;
}

export interface RobotReplayReport {
  /** Every recorded command was played. */
  completed: boolean;
  /**
   * The move to the first pose. max_speed_rad_s: the fastest joint speed of the commanded goal during the move,
   * from its first command on, over the ticks of the plan each step covers (a tick that held, for a missed read
   * or an empty buffer, leaves the goal in place, and the next step covers both ticks); start_offset_rad: how
   * far the pose it started from (measured at the first observation) was from the pose the runtime held until
   * then (an arm still settling moves a little); max_measured_speed_rad_s: the fastest joint velocity the robot
   * reported during the move.
   */
  ease: {
    distance_rad: number;
    ticks: number;
    seconds: number;
    max_speed_rad_s: number;
    limit_rad_s: number;
    start_offset_rad: number;
    max_measured_speed_rad_s: number;
  } | null;
  settle_s: number;
  recorded_ticks: number;
  played_ticks: number;
  /** While the recording played: the robot's measured joints against the recorded ones. */
  tracking: { max_abs_rad: number; joints: { name: string; max_abs: number }[] };
  /** Ticks the control loop held (an empty buffer, a driver fault, Ctrl-C) once the plan had begun. */
  held_ticks: number;
}

/** Ticks per chunk of a robot replay: 4 s at 50 Hz (the action ring takes chunks of up to half its 512 ticks). */
export const ROBOT_REPLAY_HORIZON = 200;
/** Trigger margin of a robot replay (ticks): the buffer keeps at least this much of the plan ahead. */
export const ROBOT_REPLAY_MARGIN = 75;

export interface RobotReplay {
  policy: RecordedActionsPolicy;
  world: WorldLink;
  tracker: RobotReplayTracker;
  /** A bound on the episode's length, should the plan's end never be seen. */
  max_ticks: number;
}

/** The start and the ease-in bound are not known before the robot is read: at most this long to find them (s). */
const START_ALLOWANCE_S = 10;

export function robotReplay(ep: Episode, d: RobotDescription, o: RobotReplayOptions): RobotReplay {
  const rec = new RecordedCommands(ep);
  const limits = safetyLimits(d, { max_step_rad: o.max_step_rad });
  const filter = new SafetyFilter(limits);
  const ease = {
    control_hz: d.control_hz,
    speed_rad_s: o.speed_rad_s,
    settle_s: o.settle_s,
    is_gripper: limits.is_gripper,
  };
  const policy = new RecordedActionsPolicy({
    name: 'recorded-actions',
    dim: d.action_names.length,
    control_hz: d.control_hz,
    // long chunks with a wide trigger margin (robot-command.ts): the plan is known, so the buffer stays seconds
    // ahead and a stalled main thread cannot starve the ease-in (an empty tick then a catch-up step would move
    // the arm faster than --ease-speed)
    horizon: ROBOT_REPLAY_HORIZON,
    track: (obs) => robotTrack(rec, obs.state, Math.max(obs.tick + 1, obs.first_tick_hint ?? 0), ease),
    limit: (target, last, out) => {
      filter.limit(target, last, out);
    },
  });
  const tracker = new RobotReplayTracker(ep, d, () => policy.current as RobotTrack | undefined, o);
  const world: WorldLink = { view: () => ({ images: [] }), success: () => tracker.done, close: async () => {} };
  // the longest move: every joint across its whole range
  const widest = Math.max(...d.position_limits_rad.map(([lo, hi]) => hi - lo));
  const bound_s = START_ALLOWANCE_S + (Math.PI * widest) / (2 * o.speed_rad_s) + o.settle_s + 2 / 0.5;
  const max_ticks = Math.ceil(bound_s * d.control_hz) + (rec.last_tick - rec.first_tick) + 1;
  return { policy, world, tracker, max_ticks };
}

export class RobotReplayTracker implements TickRecorder {
  done = false;
  /**
   * Called once when the control loop comes back from a driver fault with the plan refused (it resumes only with
   * a fresh chunk). The plan's ticks went on while the robot held, so a fresh chunk would jump ahead in the
   * recording: the replay stops instead. (A few missed reads go on with the buffered plan, as in any run.)
   */
  onFault: ((why: string) => void) | undefined;
  private faulted = false;
  private sawBuffer = false;
  private played = 0;
  private held = 0;
  private maxEaseSpeed = 0;
  private maxMeasuredSpeed = 0;
  private startOffset = 0;
  private readonly prev: Float64Array;
  private havePrev = false;
  /** The last tick whose command came from the plan (the buffer), while the move runs. */
  private lastPlanTick = -1;
  private readonly trackAbs: Float64Array;
  private readonly rows = new Map<number, number>();

  constructor(
    private readonly ep: Episode,
    private readonly d: RobotDescription,
    private readonly track: () => RobotTrack | undefined,
    private readonly o: RobotReplayOptions,
  ) {
    this.prev = new Float64Array(d.action_names.length);
    this.trackAbs = new Float64Array(d.joint_names.length);
    ep.tick.forEach((k, row) => {
      this.rows.set(k, row);
    });
  }

  /** The recorder's tick k carries the command of the engine's tick k + 1. */
  tick(state: JointState, command: Float64Array, k: number, source: CommandSource): void {
    const t = this.track();
    const T = k + 1;
    if (t && T >= t.start_tick) {
      if (source !== 'buffer') this.held++;
      // after a fault the control loop starts again from the measured pose, as at an episode's start
      if (source === 'buffer') this.sawBuffer = true;
      else if (source === 'startup' && this.sawBuffer && !this.faulted) {
        this.faulted = true;
        this.onFault?.(
          `the robot was held for a driver fault before tick ${T}: the replay stops rather than resume mid-recording ` +
            '(run it again to ease in from where the robot is)',
        );
      }
      if (T < t.start_tick + t.ease_ticks && this.havePrev && source === 'buffer') {
        // ticks of the plan this step covers: since the last planned command, or since the move began
        const ticks = this.lastPlanTick >= t.start_tick ? T - this.lastPlanTick : T - t.start_tick + 1;
        this.ease(state, command, this.lastPlanTick < t.start_tick, ticks);
        this.lastPlanTick = T;
      }
      if (T >= t.recorded_from_tick && T <= t.end_tick) this.compare(state, t.recordedTickAt(T));
      if (T >= t.end_tick) this.done = true;
    }
    this.prev.set(command);
    this.havePrev = true;
  }

  report(): RobotReplayReport {
    const t = this.track();
    const hz = this.d.control_hz;
    const joints = this.d.joint_names.map((name, j) => ({ name, max_abs: this.trackAbs[j] }));
    return {
      completed: this.done,
      ease: t
        ? {
            distance_rad: t.ease_distance_rad,
            ticks: t.ease_ticks,
            seconds: t.ease_ticks / hz,
            max_speed_rad_s: this.maxEaseSpeed,
            limit_rad_s: this.o.speed_rad_s,
            start_offset_rad: this.startOffset,
            max_measured_speed_rad_s: this.maxMeasuredSpeed,
          }
        : null,
      settle_s: this.o.settle_s,
      recorded_ticks: this.ep.ticks,
      played_ticks: this.played,
      tracking: { max_abs_rad: Math.max(0, ...joints.map((j) => j.max_abs)), joints },
      held_ticks: this.held,
    };
  }

  /** The commanded and measured speeds of the joints during the move (grippers apart). */
  private ease(state: JointState, command: Float64Array, first: boolean, ticks: number): void {
    const src = this.d.action_source;
    const plan = this.track()!;
    for (let i = 0; i < command.length; i++) {
      const j = src[i];
      if (j < 0) continue;
      // the first step leaves the pose the runtime held, not the one the move starts from: apart
      if (first) this.startOffset = Math.max(this.startOffset, Math.abs(plan.from[i] - this.prev[i]));
      const step = Math.abs(command[i] - (first ? plan.from[i] : this.prev[i]));
      this.maxEaseSpeed = Math.max(this.maxEaseSpeed, (step * this.d.control_hz) / ticks);
      this.maxMeasuredSpeed = Math.max(this.maxMeasuredSpeed, Math.abs(state.velocity_rad_s[j]));
    }
  }

  private compare(state: JointState, recordedTick: number): void {
    const row = this.rows.get(recordedTick);
    this.played++;
    if (row === undefined) return;
    const J = this.trackAbs.length;
    for (let j = 0; j < J; j++) {
      const e = Math.abs(state.position_rad[j] - this.ep.position_rad[row * J + j]);
      if (e > this.trackAbs[j]) this.trackAbs[j] = e;
    }
  }
}
