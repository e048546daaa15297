// How the control thread waits for its next tick. Two ways, chosen by the kind of driver it owns:
//  - blocking: Atomics.wait until spin_ms before the deadline, then spin. The thread's event loop never
//    runs, so nothing can delay a tick; right for drivers that do all their work inside send() (the
//    embedded sim). Its jitter is what bench/runtime-bench.ts measures.
//  - yielding: a timer until yield_ms before the deadline (the event loop runs: WebSocket or serial I/O,
//    the driver's watchdogs), then spin. Timers fire late by a millisecond or more under load, so the
//    timer aims earlier than the spin of the blocking pacer does.
// Both return nothing when they wait synchronously, so the blocking loop never awaits anything.

export type PacingKind = 'blocking' | 'yielding';

export interface Pacer {
  readonly kind: PacingKind;
  /** Return at `deadline_ms` (performance.now() of this thread): synchronously, or via the promise. */
  until(deadline_ms: number): void | Promise<void>;
  /** Idle between episodes for about `ms`. */
  idle(ms: number): void | Promise<void>;
  /**
   * How late the last until() returned from its sleep, before its spin (ms; 0 when it did not sleep). A thread
   * kept busy by its own event loop (a long callback, a collection) returns late; one that slept does not.
   */
  sleep_late_ms: number;
}

/** A timer set this long before a tick is due, at least (ms): covers timer lateness on a loaded host. */
const YIELD_MARGIN_MS = 3;

export function createPacer(kind: PacingKind, spin_ms: number): Pacer {
  return kind === 'blocking' ? blockingPacer(spin_ms) : yieldingPacer(Math.max(spin_ms, YIELD_MARGIN_MS));
}

function blockingPacer(spin_ms: number): Pacer {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return {
    kind: 'blocking',
    sleep_late_ms: 0,
    until(deadline) {
      let slept = false;
      this.sleep_late_ms = 0;
      for (;;) {
        const left = deadline - performance.now();
        if (left <= spin_ms) {
          if (slept) this.sleep_late_ms = spin_ms - left;
          break;
        }
        Atomics.wait(cell, 0, 0, left - spin_ms);
        slept = true;
      }
      spinUntil(deadline);
    },
    idle(ms) {
      Atomics.wait(cell, 0, 0, ms);
    },
  };
}

function yieldingPacer(yield_ms: number): Pacer {
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  return {
    kind: 'yielding',
    sleep_late_ms: 0,
    async until(deadline) {
      const left = deadline - performance.now();
      this.sleep_late_ms = 0;
      if (left > yield_ms) {
        await sleep(left - yield_ms);
        this.sleep_late_ms = Math.max(0, yield_ms - (deadline - performance.now()));
      }
      spinUntil(deadline);
    },
    idle: sleep,
  };
}

/**
 * Spin until `deadline_ms` without reading the clock in a tight loop: on Node 20 every performance.now()
 * allocates a 16-byte heap number, and a 3 ms spin read it some 30 000 times a tick (13 MB/s of garbage in
 * the control thread: scavenges every second, each promoting what was in flight, an old generation that grew
 * by tens of MB between major GCs). Instead it burns a counted loop for a short slice (half of what is left, at
 * most MAX_BURN_MS) at the speed it has learnt, and reads the clock after each: ~30 reads a tick.
 */
export function spinUntil(deadline_ms: number): void {
  for (;;) {
    const t0 = performance.now();
    const left = deadline_ms - t0;
    if (left <= 0) return;
    if (left < MIN_BURN_MS) continue; // the last microseconds: plain reads
    const n = burn.size(left);
    burnIterations(n);
    const took = performance.now() - t0;
    if (took > 0) burn.learn(n / took);
  }
}

/** Below this much left (ms) the spin only reads the clock. */
const MIN_BURN_MS = 0.002;
/** Share of what is left one burn may take at the speed learnt. */
const BURN_SHARE = 0.5;
/**
 * The longest one burn may take at the speed learnt (ms). The same loop runs 10-20 times slower when V8 runs it
 * unoptimised: in a fresh thread a burn optimised on-stack (OSR) is fast, and the next call starts again in the
 * interpreter. Capped, such a burn overshoots by ~2 ms once; uncapped, the 1.5 ms burns of a 3 ms spin overshot by
 * up to 16 ms (missed ticks in the first seconds of about half of all ALOHA runs).
 */
export const MAX_BURN_MS = 0.1;

/**
 * How many iterations of the burn loop one burn runs: its share of what is left, at most MAX_BURN_MS, at the
 * speed learnt (iterations per ms). A slower speed is taken at once (code can run slower than it did: a
 * deoptimised loop, a preempted burn, a throttled CPU); a faster one a quarter of the way per burn, so that one
 * fast measurement (a loop optimised mid-burn) never sizes the next burns alone. It starts low: a first burn
 * cannot overshoot. (`VLA_BENCH_ONLY=runtime`'s fresh_thread_spin measures the spin in fresh threads.)
 */
export class BurnSizer {
  iters_per_ms = 10_000;

  size(left_ms: number): number {
    return Math.floor(Math.min(left_ms * BURN_SHARE, MAX_BURN_MS) * this.iters_per_ms);
  }

  learn(speed: number): void {
    this.iters_per_ms = speed < this.iters_per_ms ? speed : this.iters_per_ms + 0.25 * (speed - this.iters_per_ms);
  }
}

/** The spin's sizer: one per thread (module state is per thread), learnt over the thread's life. */
const burn = new BurnSizer();

/** Written by the burn loop so that it cannot be optimised away. */
let sink = 0;

function burnIterations(n: number): void {
  let x = sink;
  for (let i = 0; i < n; i++) x = (x + i) | 0;
  sink = x;
}
