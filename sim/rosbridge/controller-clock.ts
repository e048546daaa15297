// Paces the simulated robot controller on wall time: tick k is due at start + k / rate_hz. Timers in
// Node fire late by a millisecond or more, which is a whole period at 500 Hz, so each wake-up runs every
// tick that is due (a short burst) instead of drifting; after a long stall the lost time is dropped, as a
// real controller would, and counted.
export class ControllerClock {
  /** Ticks dropped because the process stalled for longer than the catch-up allowance. */
  slipped_ticks = 0;
  private timer: NodeJS.Timeout | undefined;
  private startMs = 0;
  private done = 0;

  constructor(
    readonly rate_hz: number,
    private readonly tick: () => void,
    /** At most this many overdue ticks are run in one burst. */
    private readonly maxCatchUp = 25,
  ) {}

  start(): void {
    this.stop();
    this.startMs = performance.now();
    this.done = 0;
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const periodMs = 1000 / this.rate_hz;
    const due = this.startMs + (this.done + 1) * periodMs;
    this.timer = setTimeout(() => this.wake(), Math.max(0, due - performance.now()));
  }

  private wake(): void {
    const periodMs = 1000 / this.rate_hz;
    const owed = Math.floor((performance.now() - this.startMs) / periodMs) - this.done;
    const run = Math.min(Math.max(owed, 1), this.maxCatchUp);
    for (let i = 0; i < run; i++) this.tick();
    this.done += run;
    if (owed > this.maxCatchUp) {
      this.slipped_ticks += owed - this.maxCatchUp;
      this.startMs = performance.now();
      this.done = 0;
    }
    if (this.timer !== undefined) this.schedule();
  }
}
