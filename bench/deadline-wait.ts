// Waiting for a control deadline on the main thread: a timer wakes us a little early (timers fire late by
// a millisecond or more, much more on a loaded machine), then we spin on the monotonic clock.
import { monotonicMs } from '../src/util/clock.js';

const SPIN_MS = 2;

/** Resolves at `deadline_ms` (monotonic), or at once if it has passed. */
export async function waitUntil(deadline_ms: number): Promise<void> {
  const sleep_ms = deadline_ms - SPIN_MS - monotonicMs();
  if (sleep_ms > 0) await new Promise((resolve) => setTimeout(resolve, sleep_ms));
  while (monotonicMs() < deadline_ms) {
    /* spin: the last 2 ms, for a punctual start */
  }
}
