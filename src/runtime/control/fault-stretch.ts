// Every stretch of ticks whose health is not ok holds the robot once. This decides, per stretch, what
// the run does: wait for it to clear (resuming from a fresh measurement and a fresh chunk, or, when it
// was only a few missed reads, going on with the plan because the actuators never left their last goal),
// or give up: a stretch longer than the fault timeout ends the episode, and a latched fault (a servo's
// hardware alert) ends it at once.
import { type Health, isLatched, isMissedRead } from '../../../drivers/driver.js';

export interface FaultReport {
  /** Stretches of non-ok health (each one held the robot). */
  holds: number;
  /** Holds per health ('stale', 'disconnected', ...). */
  holds_by_health: Record<string, number>;
  /** The longest stretch (ms). */
  longest_hold_ms: number;
}

export type StretchEnd = 'resume' | 'continue';

export class FaultStretches {
  readonly report: FaultReport = { holds: 0, holds_by_health: {}, longest_hold_ms: 0 };
  /** When the current (or last) stretch began (monotonic ms; -Infinity: never). */
  started_ms = -Infinity;
  private active = false;
  private onlyMissedReads = true;
  private last: Health = 'ok';

  constructor(
    private readonly timeout_ms: number,
    private readonly transient_ms: number,
  ) {}

  get holding(): boolean {
    return this.active;
  }

  /** A tick with this health: undefined while the run may go on, else why it must end now. */
  enter(h: Health, now_ms: number, problem: () => string): string | undefined {
    if (!this.active) {
      this.active = true;
      this.started_ms = now_ms;
      this.onlyMissedReads = true;
      this.report.holds++;
    }
    if (h !== this.last) this.report.holds_by_health[h] = (this.report.holds_by_health[h] ?? 0) + 1;
    this.last = h;
    if (!isMissedRead(h)) this.onlyMissedReads = false;
    // measured on every faulty tick, not only when the stretch clears: a stretch that ends the episode (the
    // fault timeout, a latched alert, a signal) never clears, and it is the longest one
    this.report.longest_hold_ms = Math.max(this.report.longest_hold_ms, Math.round(now_ms - this.started_ms));
    if (isLatched(h)) return `driver ${h}: ${problem()}`;
    if (now_ms - this.started_ms > this.timeout_ms)
      return `driver ${h} for more than ${(this.timeout_ms / 1000).toFixed(1)} s: ${problem()}`;
    return undefined;
  }

  /**
   * An ok tick after a stretch: 'continue' with the plan when the stretch was only missed reads and short
   * (the actuators stayed on the last goal), else 'resume' from the measured pose and a fresh chunk.
   */
  leave(now_ms: number): StretchEnd {
    this.active = false;
    this.last = 'ok';
    const took = now_ms - this.started_ms;
    this.report.longest_hold_ms = Math.max(this.report.longest_hold_ms, Math.round(took));
    return this.onlyMissedReads && took <= this.transient_ms ? 'continue' : 'resume';
  }

  /** A new episode starts with no stretch open. */
  reset(): void {
    this.active = false;
    this.last = 'ok';
  }
}
