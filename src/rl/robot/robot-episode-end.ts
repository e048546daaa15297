// What a robot actor does after each episode, as the person beside the robot follows it: one line about the
// episode, and whether the session goes on. A fault stops the robot, and the session with it (--resume goes on
// from its checkpoint), except a lost link (a connection lost, a stale state, servos that stopped answering:
// anything but a latched alarm): the robot holds while the actor waits for it to come back, then the session
// goes on by itself. A link that is lost again and again ends it all the same.
import type { EpisodeRunner } from '../rollout-pool.js';
import type { RolloutEpisode } from '../sim-rollouts.js';
import { OPERATOR_PAUSE } from './keyboard-operator.js';

/** Robot episodes in a row whose link was lost: after this many the session ends, however soon each came back. */
const LINK_LOSSES_IN_A_ROW_MAX = 3;

export class RobotEpisodeEnd {
  private linkLosses = 0;

  /** `wait_ms`: how long to wait for a lost link to come back (0: end at once, as after any fault). */
  constructor(
    private readonly wait_ms: number,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * After episode `ep` (its result already sent): undefined when the session goes on, or why it ends. Resolves
   * once the robot is back when its link was lost.
   */
  async after(ep: RolloutEpisode, runner: EpisodeRunner): Promise<string | undefined> {
    if (!ep.link_lost) this.linkLosses = 0;
    if (!ep.fault || ep.fault === OPERATOR_PAUSE) return undefined;
    if (!ep.link_lost || !runner.awaitRobot || this.wait_ms <= 0) return ep.fault;
    if (++this.linkLosses > LINK_LOSSES_IN_A_ROW_MAX)
      return `${ep.fault} (the robot's link was lost in ${this.linkLosses} episodes in a row)`;
    this.log(`the robot's link was lost (${ep.fault}): it holds; waiting up to ${this.wait_ms / 1000} s for it`);
    const why = await runner.awaitRobot(this.wait_ms, this.log);
    if (why === undefined) this.log('the robot is back: the session goes on');
    return why;
  }
}

/** A robot's episode as the person beside it follows the session. */
export function episodeLine(ep: RolloutEpisode, evaluation: boolean): string {
  const end = ep.fault
    ? `ended by a fault: ${ep.fault}`
    : ep.success
      ? 'success'
      : ep.truncated
        ? 'time out'
        : 'failure';
  const took = ep.steps > 0 ? Math.round((100 * ep.interventions.length) / ep.steps) : 0;
  const kind = evaluation ? 'evaluation' : 'training';
  return `${kind} episode (seed ${ep.seed}): ${end}, ${ep.ticks} ticks, operator ${took}%`;
}
