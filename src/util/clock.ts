// One monotonic time base for every thread of the process. performance.now() restarts from 0 in each
// worker thread, so stamps taken in the control-loop thread and compared in the main thread must come
// from CLOCK_MONOTONIC (process.hrtime) instead.

/** Milliseconds on the process-wide monotonic clock. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
