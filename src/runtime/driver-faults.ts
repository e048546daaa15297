// The driver's health as reported by the control thread, turned into what the run reports and decides:
// every stretch of non-ok status is one hold (counted, and timed); a stretch longer than the timeout is a
// fault that ends the run, and so is a latched one (it cannot clear), at once. The control thread has
// already held the robot on its own, at the first faulty tick; this side only decides whether to wait
// for the fault to clear or to give up.
import type { DriverStatusMessage } from './control-protocol.js';

export interface DriverFaultReport {
  /** Stretches of non-ok driver status (each one held the robot). */
  holds: number;
  /** Holds per status ('stale', 'disconnected', ...). */
  holds_by_status: Record<string, number>;
  /** The longest stretch (ms). */
  longest_hold_ms: number;
}

export class DriverFaults {
  private readonly report: DriverFaultReport = { holds: 0, holds_by_status: {}, longest_hold_ms: 0 };
  private since: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last: DriverStatusMessage | undefined;
  private readonly waiters = new Set<() => void>();
  private lastStart = -Infinity;

  /** `onTimeout` is called once per stretch that lasts longer than `timeout_ms`. */
  constructor(private readonly timeout_ms: number, private readonly onTimeout: (reason: string) => void) {}

  get ok(): boolean { return this.since === undefined; }
  /** When the latest fault began (monotonic ms; -Infinity: never). */
  get lastFaultStart_ms(): number { return this.lastStart; }

  update(m: DriverStatusMessage): void {
    const prev = this.last;
    this.last = m;
    if (m.ok) {
      if (this.since !== undefined) this.report.longest_hold_ms = Math.max(this.report.longest_hold_ms, m.t_mono_ms - this.since);
      this.since = undefined;
      clearTimeout(this.timer);
      for (const w of this.waiters) w();
      this.waiters.clear();
      return;
    }
    if (prev?.status !== m.status) this.report.holds_by_status[m.status] = (this.report.holds_by_status[m.status] ?? 0) + 1;
    if (this.since !== undefined) return; // still the same stretch (e.g. disconnected -> connecting)
    this.since = m.t_mono_ms;
    this.lastStart = m.t_mono_ms;
    this.report.holds++;
    // waiting cannot clear a latched fault (a servo's hardware alert): give up at once
    if (m.latched) {
      this.onTimeout(`driver ${m.status}: ${m.reason}`);
      return;
    }
    this.timer = setTimeout(() => {
      const s = this.last!;
      this.onTimeout(`driver ${s.status} for more than ${(this.timeout_ms / 1000).toFixed(1)} s: ${s.reason}`);
    }, this.timeout_ms);
  }

  /** Resolves undefined when the driver is ok (at once if it is), or with why not after `timeout_ms`. */
  whenOk(timeout_ms: number): Promise<string | undefined> {
    if (this.ok) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiters.delete(done); resolve(`driver ${this.last?.status}: ${this.last?.reason}`); }, timeout_ms);
      const done = () => { clearTimeout(timer); resolve(undefined); };
      this.waiters.add(done);
    });
  }

  summary(now_ms: number): DriverFaultReport {
    const open = this.since !== undefined ? now_ms - this.since : 0;
    return { ...this.report, holds_by_status: { ...this.report.holds_by_status }, longest_hold_ms: Math.round(Math.max(this.report.longest_hold_ms, open)) };
  }

  dispose(): void { clearTimeout(this.timer); }
}
