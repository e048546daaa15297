// A one-shot timer that is armed and disarmed every control tick without allocating. setTimeout makes a
// new Timeout per call, and clearTimeout destroys it; here each duration (whole milliseconds) gets one
// Timeout the first time it is used, re-armed afterwards with refresh(). Disarming only forgets the
// arming: a Timeout still pending fires later and finds itself stale.

export class ReusableTimer {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  /** The duration of the current arming; -1 when disarmed. */
  private armedMs = -1;

  constructor(private readonly fire: () => void) {}

  /** Call `fire` in `ms` (rounded up to a whole millisecond, at least 1), replacing any earlier arming. */
  arm(ms: number): void {
    const whole = Math.max(1, Math.ceil(ms));
    const t = this.timers.get(whole);
    if (t === undefined)
      this.timers.set(
        whole,
        setTimeout(() => this.onTimeout(whole), whole),
      );
    else t.refresh();
    this.armedMs = whole;
  }

  disarm(): void {
    this.armedMs = -1;
  }

  /** Disarm and release every Timeout (they keep the event loop alive until they fire). */
  dispose(): void {
    this.armedMs = -1;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private onTimeout(ms: number): void {
    // a Timeout of an earlier arming (since disarmed, or re-armed with another duration)
    if (this.armedMs !== ms) return;
    this.armedMs = -1;
    this.fire();
  }
}
