// A policy that cannot be reached for now (PolicyUnavailable: a remote server restarting, busy or slow) is
// a fault like a driver's: the buffer runs out and the robot holds, the engine asks again with a fresh
// observation, calmly (a server that is away refuses every call at once: 100 ms, doubling to 1 s), and
// only an outage longer than the fault timeout ends the episode. Times are the engine clock's (ms).

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 1000;

export class PolicyOutage {
  /** Calls that found the policy unreachable, all episodes together. */
  calls = 0;
  private since: number | undefined;
  private backoff_ms = 0;
  private retryAt = 0;

  /** A call failed at `now`: the fault to end the episode with once the outage outlasts `timeout_ms`. */
  failed(now: number, timeout_ms: number, why: string): string | undefined {
    this.calls++;
    this.since ??= now;
    this.backoff_ms = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, 2 * this.backoff_ms));
    this.retryAt = now + this.backoff_ms;
    const down_ms = now - this.since;
    return down_ms > timeout_ms
      ? `the policy could not be reached for ${(down_ms / 1000).toFixed(1)} s: ${why}`
      : undefined;
  }

  /** Whether a call may go out at `now` (not while backing off). */
  mayAsk(now: number): boolean {
    return this.backoff_ms === 0 || now >= this.retryAt;
  }

  /** A chunk came: the outage, if any, is over. */
  recovered(): void {
    this.since = undefined;
    this.backoff_ms = 0;
  }
}
