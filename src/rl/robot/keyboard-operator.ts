// The person beside the robot in a fine-tuning session (--operator keyboard), HIL-SERL's human in its simplest
// form: before each episode they reset the scene and press Enter; during it they judge it. Keys:
//   Enter  start the episode (the scene is reset)        s  success: the episode ends, rewarded
//   f      failure: the episode ends                       p  pause: the robot holds, the episode is cut short
//   q      stop the session: the robot holds at once, the learner keeps what it has
// An episode nobody judged before its time limit is a failure. A detector may give the success instead of the
// person (a SuccessSource: --success-topic); the keys still work. Taking the arm over from the keyboard is not
// here yet (the scripted operator takes over in the sim). Keys come from a KeySource: this terminal, or the
// learner's, forwarded (a process in the background may not read the terminal).

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

/** The fault of an episode the operator stopped the session in (the actor ends, not as after a robot fault). */
export const OPERATOR_STOP = 'stopped by the operator';
/** The fault of an episode the operator paused: cut short (no terminal state), and the session goes on. */
export const OPERATOR_PAUSE = 'paused by the operator';

export class KeyboardOperator {
  private waiting: ((go: boolean) => void) | undefined;
  private judged: Judgement | undefined;
  private during: ((j: Judgement) => void) | undefined;
  private stoppedBy = false;

  constructor(
    keys: KeySource,
    private readonly say: (line: string) => void,
    private readonly success?: SuccessSource,
  ) {
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
   * failure, hold it) as soon as they give one.
   */
  watch(act: (j: Judgement) => void): void {
    const from = this.success ? ` (or ${this.success.name})` : '';
    this.say(`running: s success${from}, f failure, p pause, q stop`);
    this.during = act;
    this.success?.watch(() => this.judge('success'));
  }

  /** The episode ended: its judgement (undefined: nobody judged it in time). */
  finish(): Judgement | undefined {
    this.during = undefined;
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
