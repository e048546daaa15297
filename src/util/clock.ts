// One monotonic time base for every thread of the process. performance.now() restarts from 0 in each
// worker thread, so stamps taken in the control-loop thread and compared in the main thread must come
// from CLOCK_MONOTONIC (process.hrtime) instead. Both read the same clock, so each thread measures the
// offset once and later calls cost a performance.now(): no BigInt on the hot path, only the 16-byte heap
// number every clock read costs on Node 20 (so loops must not read it thousands of times: pacing.ts).
const OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();

/** Milliseconds on the process-wide monotonic clock. */
export function monotonicMs(): number {
  return performance.now() + OFFSET_MS;
}
