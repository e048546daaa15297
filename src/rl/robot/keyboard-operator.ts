// The person beside the robot in a fine-tuning session (--operator keyboard), HIL-SERL's human in its simplest
// form: before each episode they reset the scene and press Enter; during it they judge it. Keys:
//   Enter  start the episode (the scene is reset)        s  success: the episode ends, rewarded
//   f      failure: the episode ends                       p  pause: the robot holds, the episode is cut short
//   q      stop the session: the robot holds at once, the learner keeps what it has
//   t      take the arm over (keyboard-takeover.ts: [ ] + - 0 steer it, or the leader arms have it), t again to give
//          it back
// An episode nobody judged before its time limit is a failure. A detector may give the success instead of the
// person (a SuccessSource: --success-topic); the keys still work. Keys come from a KeySource: this terminal, or
// the learner's, forwarded (a process in the background may not read the terminal).
import { KeyboardTakeover } from './keyboard-takeover.js';

/** Keys as the operator sees them: one character each ('\n' for Enter). */
export interface KeySource {
  onKey(listener: (key: string) => void): void;
}

/** Successes from elsewhere than the keys (a detector's topic): it calls `act` once for a success while watched. */
export interface SuccessSource {
  /** What says success, for the prompt (e.g. "/detector/success"). */
  readonly name: string;
  watch(act: () => void): void;
  unwatch(): void;
}

export type Judgement = 'success' | 'failure' | 'paused' | 'stopped';

/**
 * The person's correction while they hold the arm (u per action dimension), 'leaders' when they hand the followers
 * to the leader arms, or null when they give the arm back.
 */
export type Steer = (u: number[] | 'leaders' | null) => void;

export interface KeyboardOperatorOptions {
  /** A detector that says success too. */
  success?: SuccessSource;
  /** The action dimensions, for taking the arm over (none: no takeover). */
  action_names?: readonly string[];
  /** The rig has leader arms: the takeover key hands the followers to them. */
  leaders?: boolean;
}

/** The fault of an episode the operator stopped the session in (the actor ends, not as after a robot fault). */
export const OPERATOR_STOP = 'stopped by the operator';
/** The fault of an episode the operator paused: cut short (no terminal state), and the session goes on. */
export const OPERATOR_PAUSE = 'paused by the operator';

export class KeyboardOperator {
  private waiting: ((go: boolean) => void) | undefined;
  private judged: Judgement | undefined;
  private during: ((j: Judgement) => void) | undefined;
  private steer: Steer | undefined;
  private stoppedBy = false;
  private readonly success: SuccessSource | undefined;
  private readonly takeover: KeyboardTakeover | undefined;

  constructor(
    keys: KeySource,
    private readonly say: (line: string) => void,
    opts: KeyboardOperatorOptions = {},
  ) {
    this.success = opts.success;
    this.takeover = opts.action_names ? new KeyboardTakeover(opts.action_names, say, opts.leaders) : undefined;
    keys.onKey((key) => this.key(key));
  }

  /** Before an episode: resolves true on Enter, false when the session is to stop (q). */
  ready(seed: number): Promise<boolean> {
    if (this.stoppedBy) return Promise.resolve(false);
    this.judged = undefined;
    this.say(`episode (seed ${seed}): reset the scene, then press Enter (q: stop the session)`);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /**
   * The episode is running: `act` is called once with the person's judgement (end it with success, end it with a
   * failure, hold it) as soon as they give one; `steer` with their correction each time they change it.
   */
  watch(act: (j: Judgement) => void, steer?: Steer): void {
    const from = this.success ? ` (or ${this.success.name})` : '';
    const take = this.takeover && steer ? ', t take over' : '';
    this.say(`running: s success${from}, f failure, p pause, q stop${take}`);
    this.during = act;
    this.steer = steer;
    this.success?.watch(() => this.judge('success'));
  }

  /** The episode ended: its judgement (undefined: nobody judged it in time). */
  finish(): Judgement | undefined {
    this.during = undefined;
    this.steer = undefined;
    this.takeover?.end();
    this.success?.unwatch();
    return this.judged;
  }

  /** The session is being stopped from elsewhere (Ctrl-C): a pending wait for Enter ends. */
  stop(): void {
    this.stoppedBy = true;
    this.waiting?.(false);
    this.waiting = undefined;
  }

  private key(key: string): void {
    const k = key === '\r' ? '\n' : key.toLowerCase();
    if (this.waiting) {
      if (k === 'q') this.stop();
      else if (k === '\n') {
        const go = this.waiting;
        this.waiting = undefined;
        go(true);
      }
      return;
    }
    if (this.during && !this.judged && this.takeover && this.steer) {
      const u = this.takeover.key(k);
      if (u !== undefined) return void this.steer?.(u);
    }
    const judgement: Judgement | undefined =
      k === 's'
        ? 'success'
        : k === 'f'
          ? 'failure'
          : k === 'p' || k === ' '
            ? 'paused'
            : k === 'q'
              ? 'stopped'
              : undefined;
    if (judgement) this.judge(judgement);
  }

  /** The first judgement of a watched episode stands; a stop also ends the session after it. */
  private judge(judgement: Judgement): void {
    if (judgement === 'stopped') this.stoppedBy = true;
    if (!this.during || this.judged) return;
    this.judged = judgement;
    this.during(judgement);
  }
}
