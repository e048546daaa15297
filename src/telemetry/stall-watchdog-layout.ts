// The shared memory of the stall watchdog: the watchdog thread writes, the control thread reads, no
// messages (the control thread's event loop may never run). Offsets in Float64 slots after a small
// Int32 header.

/** Gaps remembered (a ring; the reader classifies within a few ticks, so a few suffice). */
export const GAP_SLOTS = 256;
/** Steal samples remembered (a ring, one every STEAL_EVERY_MS). */
export const STEAL_SLOTS = 64;
/** How often the watchdog samples the host's steal time (ms). */
export const STEAL_EVERY_MS = 50;
/** Run-queue samples of the watched thread remembered (a ring, one every RUNQ_EVERY_MS: ~5 s). */
export const RUNQ_SLOTS = 512;
/** How often the watchdog samples the watched thread's run-queue wait (ms). */
export const RUNQ_EVERY_MS = 10;
/** The watchdog sleeps this long between beats (ms). */
export const BEAT_MS = 2;
/** A beat this much later than the last one is a gap: the thread was not scheduled (ms). */
export const GAP_MIN_MS = 5;
/**
 * How often the watchdog returns to its event loop (ms): V8 and Node hand a thread some of their clean-up as
 * tasks for its event loop, which a loop that never returns to it would keep for good. Microseconds each.
 */
export const YIELD_EVERY_MS = 500;
/** A pause of the watchdog's own (its event loop's turn) longer than this is counted as a gap after all (ms). */
export const OWN_PAUSE_MAX_MS = 50;

/**
 * Int32 header: [0] stop, [1] gaps written, [2] steal samples written, [3] steal readable (1) or not (0),
 * [4] the watched thread's id (0: none), [5] run-queue samples written.
 */
export const I_STOP = 0;
export const I_GAPS = 1;
export const I_STEALS = 2;
export const I_STEAL_OK = 3;
export const I_TID = 4;
export const I_RUNQ = 5;
const HEADER_INTS = 8;
const HEADER_BYTES = 4 * HEADER_INTS;

/**
 * Float64 slots: [0] last beat (monotonic ms), [1] first steal (ms), [2] [3] the watchdog thread's own V8 heap
 * (used and physical MB, 0 before its first report), then the gap, steal and run-queue rings.
 */
export const F_BEAT = 0;
export const F_STEAL0 = 1;
export const F_HEAP_USED = 2;
export const F_HEAP_PHYSICAL = 3;
export const F_GAPS = 4;
export const F_STEALS = F_GAPS + 2 * GAP_SLOTS;
export const F_RUNQ = F_STEALS + 2 * STEAL_SLOTS;
/** A run-queue sample's slots: when, the wait, the time on a CPU. */
export const RUNQ_STRIDE = 3;
const F_SLOTS = F_RUNQ + RUNQ_STRIDE * RUNQ_SLOTS;

export function newWatchdogMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + 8 * F_SLOTS);
}

export function views(sab: SharedArrayBuffer): { ints: Int32Array; f64: Float64Array } {
  return { ints: new Int32Array(sab, 0, HEADER_INTS), f64: new Float64Array(sab, HEADER_BYTES, F_SLOTS) };
}
