// The one drift-free fixed-rate schedule: tick n is due at start + n * period, on a monotonic clock, so
// lateness never accumulates. Whoever keeps a rate uses it: the control loop (one tick per wake-up,
// lateness counted as overruns), and the simulated hardware (the UR controller, the Dynamixel servos),
// which run every tick that is owed in a short burst, as a real controller's fixed-period thread would.
// After a stall longer than the catch-up allowance the lost time is dropped, as on a real robot, and counted.
export class FixedRateSchedule {
  /** Ticks given up because the process stalled for longer than the allowance. */
  slipped_ticks = 0;
  private startMs = 0;
  private done = 0;

  constructor(
    readonly period_ms: number,
    private readonly max_behind: number,
  ) {
    if (!(period_ms > 0)) throw new Error(`period must be positive, got ${period_ms} ms`);
  }

  start(now_ms: number): void {
    this.startMs = now_ms;
    this.done = 0;
  }

  /** When the next tick is due. */
  due(): number {
    return this.startMs + (this.done + 1) * this.period_ms;
  }

  /** Ticks due by `now_ms` that have not run yet. */
  owed(now_ms: number): number {
    return Math.floor((now_ms - this.startMs) / this.period_ms) - this.done;
  }

  /**
   * `n` ticks ran; at `now_ms`, ticks still owed beyond the allowance are given up and the schedule
   * restarts from now. Returns how many ticks are still owed (0 when on time).
   */
  ran(n: number, now_ms: number): number {
    this.done += n;
    const behind = this.owed(now_ms);
    if (behind > this.max_behind) {
      this.slipped_ticks += behind;
      this.start(now_ms);
      return 0;
    }
    return Math.max(0, behind);
  }
}

/**
 * A schedule kept with timers on the event loop: at each wake-up every owed tick runs (at most
 * `max_catch_up` at once). Timers fire a millisecond or more late, a whole period at 500 Hz, so a burst
 * keeps the rate where waiting for each tick would drift.
 */
export class TickTimer {
  private readonly schedule: FixedRateSchedule;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    period_ms: number,
    private readonly onTick: () => void,
    private readonly max_catch_up = 5,
  ) {
    this.schedule = new FixedRateSchedule(period_ms, max_catch_up);
  }

  get slipped_ticks(): number {
    return this.schedule.slipped_ticks;
  }
  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    this.stop();
    this.schedule.start(performance.now());
    this.arm();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = setTimeout(() => this.wake(), Math.max(0, this.schedule.due() - performance.now()));
  }

  private wake(): void {
    const run = Math.min(Math.max(this.schedule.owed(performance.now()), 1), this.max_catch_up);
    for (let i = 0; i < run && this.timer !== undefined; i++) this.onTick();
    if (this.timer === undefined) return; // stopped by a tick
    this.schedule.ran(run, performance.now());
    this.arm();
  }
}
