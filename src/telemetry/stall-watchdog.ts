// The stall watchdog seen from the thread that owns it: starts the watchdog thread, and reads back the
// gaps it saw and the steal time it sampled (shared memory; nothing here waits on the other thread).
import { Worker } from 'node:worker_threads';
import type { RunQueueSample, StealSample, WatchdogGap } from './stall-classifier.js';
import {
  F_BEAT,
  F_GAPS,
  F_HEAP_PHYSICAL,
  F_HEAP_USED,
  F_RUNQ,
  F_STEALS,
  GAP_SLOTS,
  I_GAPS,
  I_RUNQ,
  I_STEAL_OK,
  I_STEALS,
  I_STOP,
  I_TID,
  newWatchdogMemory,
  RUNQ_SLOTS,
  RUNQ_STRIDE,
  STEAL_SLOTS,
  views,
} from './stall-watchdog-layout.js';
import { currentThreadId } from './steal-time.js';
import type { ThreadHeap } from './thread-heaps.js';

export class StallWatchdog {
  private readonly ints: Int32Array;
  private readonly f64: Float64Array;

  private constructor(
    sab: SharedArrayBuffer,
    private readonly worker: Worker,
  ) {
    ({ ints: this.ints, f64: this.f64 } = views(sab));
  }

  /**
   * Start the watchdog thread, watching the calling thread's run-queue wait; undefined if no thread can be
   * started (misses are then all the runtime's).
   */
  static start(): StallWatchdog | undefined {
    const sab = newWatchdogMemory();
    Atomics.store(views(sab).ints, I_TID, currentThreadId() ?? 0);
    try {
      const worker = new Worker(new URL('./stall-watchdog-thread.js', import.meta.url), { workerData: { sab } });
      worker.unref(); // never what keeps a process alive
      worker.on('error', () => undefined); // a dead watchdog only means no evidence of host stalls
      return new StallWatchdog(sab, worker);
    } catch {
      return undefined;
    }
  }

  /** When the watchdog last ran (monotonic ms; 0 before it first did). */
  lastBeat(): number {
    return this.f64[F_BEAT];
  }

  /** The gaps remembered (the last GAP_SLOTS). */
  gaps(): WatchdogGap[] {
    const n = Atomics.load(this.ints, I_GAPS);
    const out: WatchdogGap[] = [];
    for (let i = Math.max(0, n - GAP_SLOTS); i < n; i++) {
      const at = F_GAPS + 2 * (i % GAP_SLOTS);
      out.push({ start_ms: this.f64[at], end_ms: this.f64[at + 1] });
    }
    return out;
  }

  /** Steal time since the watchdog started, as sampled (the last STEAL_SLOTS); empty where there is none. */
  steal(): StealSample[] {
    const n = Atomics.load(this.ints, I_STEALS);
    const out: StealSample[] = [];
    for (let i = Math.max(0, n - STEAL_SLOTS); i < n; i++) {
      const at = F_STEALS + 2 * (i % STEAL_SLOTS);
      out.push({ t_ms: this.f64[at], steal_ms: this.f64[at + 1] });
    }
    return out;
  }

  /** The watched thread's cumulative run-queue wait, as sampled (the last RUNQ_SLOTS); empty where unknown. */
  runQueue(): RunQueueSample[] {
    const n = Atomics.load(this.ints, I_RUNQ);
    const out: RunQueueSample[] = [];
    for (let i = Math.max(0, n - RUNQ_SLOTS); i < n; i++) {
      const at = F_RUNQ + RUNQ_STRIDE * (i % RUNQ_SLOTS);
      out.push({ t_ms: this.f64[at], wait_ms: this.f64[at + 1], cpu_ms: this.f64[at + 2] });
    }
    return out;
  }

  /** Steal time since the watchdog started (ms), null where /proc/stat has none. */
  stealTotalMs(): number | null {
    if (Atomics.load(this.ints, I_STEAL_OK) !== 1) return null;
    const n = Atomics.load(this.ints, I_STEALS);
    return n === 0 ? 0 : this.f64[F_STEALS + 2 * ((n - 1) % STEAL_SLOTS) + 1];
  }

  lastStealAt(): number {
    if (Atomics.load(this.ints, I_STEAL_OK) !== 1) return Number.POSITIVE_INFINITY;
    const n = Atomics.load(this.ints, I_STEALS);
    return n === 0 ? 0 : this.f64[F_STEALS + 2 * ((n - 1) % STEAL_SLOTS)];
  }

  lastRunQueueAt(): number {
    const n = Atomics.load(this.ints, I_RUNQ);
    return n === 0 ? Number.POSITIVE_INFINITY : this.f64[F_RUNQ + RUNQ_STRIDE * ((n - 1) % RUNQ_SLOTS)];
  }

  /** The watchdog thread's own V8 heap as it last posted it; undefined before it first did. */
  heap(): ThreadHeap | undefined {
    const physical_mb = this.f64[F_HEAP_PHYSICAL];
    return physical_mb > 0 ? { used_mb: this.f64[F_HEAP_USED], physical_mb } : undefined;
  }

  async stop(): Promise<void> {
    Atomics.store(this.ints, I_STOP, 1);
    Atomics.notify(this.ints, I_STOP);
    await this.worker.terminate();
  }
}
