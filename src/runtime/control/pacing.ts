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
    until(deadline) {
      for (;;) {
        const left = deadline - performance.now();
        if (left <= spin_ms) break;
        Atomics.wait(cell, 0, 0, left - spin_ms);
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
    async until(deadline) {
      const left = deadline - performance.now();
      if (left > yield_ms) await sleep(left - yield_ms);
      spinUntil(deadline);
    },
    idle: sleep,
  };
}

function spinUntil(deadline: number): void {
  while (performance.now() < deadline) {
    /* spin: the last stretch is too short to trust a timer with */
  }
}
