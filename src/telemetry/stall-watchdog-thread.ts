// The stall watchdog's thread: beats every 2 ms and writes down each stretch it was not scheduled
// (a gap), samples the host's steal time and how long the watched (control) thread waited for a CPU. It
// shares nothing with the control thread but memory, so a gap it saw is a stretch in which the process as a
// whole did not run, not just one busy thread. Every YIELD_EVERY_MS it also posts its own heap to the shared
// memory and lets its event loop run once. Its beats read /proc into fixed buffers and parse the bytes, so all
// they allocate is the odd clock reading (a heap number), which the young generation frees: nothing is promoted,
// and no full collection of its own competes with the control thread for a CPU.
import { setImmediate } from 'node:timers/promises';
import { workerData } from 'node:worker_threads';
import { monotonicMs } from '../util/clock.js';
import {
  BEAT_MS,
  F_BEAT,
  F_GAPS,
  F_HEAP_PHYSICAL,
  F_HEAP_USED,
  F_RUNQ,
  F_STEAL0,
  F_STEALS,
  GAP_MIN_MS,
  GAP_SLOTS,
  I_GAPS,
  I_RUNQ,
  I_STEAL_OK,
  I_STEALS,
  I_STOP,
  I_TID,
  OWN_PAUSE_MAX_MS,
  RUNQ_EVERY_MS,
  RUNQ_SLOTS,
  RUNQ_STRIDE,
  STEAL_EVERY_MS,
  STEAL_SLOTS,
  views,
  YIELD_EVERY_MS,
} from './stall-watchdog-layout.js';
import { RunQueueWait, StealTime } from './steal-time.js';
import { ownHeap } from './thread-heaps.js';

const { ints, f64 } = views(workerData.sab as SharedArrayBuffer);
const stealTime = new StealTime();
const steal0 = stealTime.read();
if (steal0 !== undefined) {
  f64[F_STEAL0] = steal0;
  Atomics.store(ints, I_STEAL_OK, 1);
}
const tid = Atomics.load(ints, I_TID);
const runq = tid > 0 ? new RunQueueWait(tid) : undefined;
let last = monotonicMs();
let nextSteal = last;
let nextRunq = last;
let nextYield = last;
f64[F_BEAT] = last;
while (Atomics.load(ints, I_STOP) === 0) {
  Atomics.wait(ints, I_STOP, 0, BEAT_MS);
  const now = monotonicMs();
  if (now - last >= GAP_MIN_MS) {
    const n = Atomics.load(ints, I_GAPS);
    const at = F_GAPS + 2 * (n % GAP_SLOTS);
    f64[at] = last;
    f64[at + 1] = now;
    Atomics.store(ints, I_GAPS, n + 1); // published after its slots are written
  }
  if (steal0 !== undefined && now >= nextSteal) {
    sampleSteal(now);
    nextSteal = now + STEAL_EVERY_MS;
  }
  if (runq && now >= nextRunq) {
    sampleRunQueue(now);
    nextRunq = now + RUNQ_EVERY_MS;
  }
  last = now;
  f64[F_BEAT] = now;
  if (now >= nextYield) {
    nextYield = now + YIELD_EVERY_MS;
    reportHeap();
    await setImmediate();
    // this thread's own pause is no stall of the process, unless the process stopped in the middle of it
    const resumed = monotonicMs();
    if (resumed - now < OWN_PAUSE_MAX_MS) last = resumed;
  }
}
// the thread shares the process's file table: what it opened outlives it unless closed
stealTime.close();
runq?.close();

/** This thread's heap into the shared slots, where the control thread picks it up for --stats-every. */
function reportHeap(): void {
  const h = ownHeap();
  f64[F_HEAP_USED] = h.used_mb;
  f64[F_HEAP_PHYSICAL] = h.physical_mb;
}

function sampleSteal(now: number): void {
  const steal = stealTime.read();
  if (steal === undefined) return;
  const n = Atomics.load(ints, I_STEALS);
  const at = F_STEALS + 2 * (n % STEAL_SLOTS);
  f64[at] = now;
  f64[at + 1] = steal - f64[F_STEAL0];
  Atomics.store(ints, I_STEALS, n + 1);
}

function sampleRunQueue(now: number): void {
  const wait = runq?.read();
  if (wait === undefined) return;
  const n = Atomics.load(ints, I_RUNQ);
  const at = F_RUNQ + RUNQ_STRIDE * (n % RUNQ_SLOTS);
  f64[at] = now;
  f64[at + 1] = wait;
  f64[at + 2] = runq?.on_cpu_ms ?? Number.NaN;
  Atomics.store(ints, I_RUNQ, n + 1);
}
