// What vla-replay robot plays, tick by tick: from the pose the robot is found in, a smooth move to the recording's
// first command no faster than the ease-in speed, a short hold there, then the recorded commands at the
// recording's rate (a tick the recording lacks keeps the command before it), then the last one held.
// The move is a cosine blend, s(u) = (1 - cos(pi u)) / 2: it starts and stops at rest, and its peak speed,
// pi/2 times the mean, is what the speed limit bounds; every joint arrives together.
import type { CommandTrack } from '../../policy/recorded-actions.js';
import type { RecordedCommands } from '../sim/recorded-track.js';

/** Default ease-in speed: a slow, visible move a person can stop (rad/s at the fastest joint). */
export const DEFAULT_EASE_RAD_S = 0.25;
/** Grippers ease in at this many full openings per second at most (they have no velocity limit of their own). */
export const GRIPPER_EASE_PER_S = 0.5;
/** Default hold at the first pose before the recording plays, so the arm settles where it starts (s). */
export const DEFAULT_SETTLE_S = 0.5;

export interface EaseInOptions {
  control_hz: number;
  /** Peak joint speed of the move (rad/s). */
  speed_rad_s: number;
  settle_s: number;
  /** For each action index: a gripper (eased by GRIPPER_EASE_PER_S) or a joint. */
  is_gripper: ArrayLike<number>;
}

/** The plan of one replay on a robot, in the engine's ticks. */
export interface RobotTrack extends CommandTrack {
  /** Ticks of the move to the first pose, and of the hold there. */
  readonly ease_ticks: number;
  readonly settle_ticks: number;
  /** The first tick of the recorded commands, and the last tick of the plan. */
  readonly recorded_from_tick: number;
  readonly end_tick: number;
  /** The largest joint distance the move covers (rad). */
  readonly ease_distance_rad: number;
  /** The pose the move starts from (action layout). */
  readonly from: Float64Array;
  /** The recorded tick played at engine tick t (t >= recorded_from_tick). */
  recordedTickAt(t: number): number;
}

/** Ticks a move of `distance` takes with a cosine profile whose peak speed is `speed` per second. */
export function easeTicks(distance: number, speed: number, hz: number): number {
  return distance > 0 ? Math.ceil((Math.PI * distance * hz) / (2 * speed)) : 0;
}

/** The plan from `from` (the measured pose, action layout) at `start_tick`. */
export function robotTrack(
  rec: RecordedCommands,
  from: ArrayLike<number>,
  start_tick: number,
  o: EaseInOptions,
): RobotTrack {
  const D = rec.dim;
  const first = new Float64Array(D);
  rec.at(rec.first_tick, first);
  const start = Float64Array.from(from);
  let ease_ticks = 1;
  let ease_distance_rad = 0;
  for (let i = 0; i < D; i++) {
    const d = Math.abs(first[i] - start[i]);
    if (!o.is_gripper[i]) ease_distance_rad = Math.max(ease_distance_rad, d);
    const speed = o.is_gripper[i] ? GRIPPER_EASE_PER_S : o.speed_rad_s;
    ease_ticks = Math.max(ease_ticks, easeTicks(d, speed, o.control_hz));
  }
  const settle_ticks = Math.round(o.settle_s * o.control_hz);
  const recorded_from_tick = start_tick + ease_ticks + settle_ticks;
  const end_tick = recorded_from_tick + (rec.last_tick - rec.first_tick);
  const recordedTickAt = (t: number) => rec.first_tick + (t - recorded_from_tick);
  return {
    start_tick,
    ease_ticks,
    settle_ticks,
    recorded_from_tick,
    end_tick,
    ease_distance_rad,
    from: start,
    recordedTickAt,
    command(t, out) {
      if (t < start_tick) return false;
      if (t >= recorded_from_tick) return rec.at(recordedTickAt(Math.min(t, end_tick)), out);
      // tick start_tick is the first step of the move; it arrives at ease_ticks and stays for the settle
      const u = Math.min(1, (t - start_tick + 1) / ease_ticks);
      const s = (1 - Math.cos(Math.PI * u)) / 2;
      for (let i = 0; i < D; i++) out[i] = u >= 1 ? first[i] : start[i] + (first[i] - start[i]) * s;
      return true;
    },
  };
}
