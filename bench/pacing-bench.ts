// The control thread's spin in fresh threads (V8 not warmed up), where it once overshot its deadline by 9-16 ms for
// several ticks in a row in about half of all threads: a burn sized by a loop V8 had just optimised on-stack, run
// unoptimised (src/runtime/control/pacing.ts). Each thread waits on a timer to 4 ms before each deadline, then
// spins, as a control tick does. On a shared machine the host may preempt a spin now and then: the figures say how
// often a spin ended more than 5 ms late, and how late the worst did.
import { Worker } from 'node:worker_threads';

export interface FreshThreadSpin {
  threads: number;
  spins_per_thread: number;
  /** Per thread: spins that ended more than 5 ms after their deadline. */
  over_5ms: number[];
  /** Per thread: the latest spin's lateness (ms). */
  max_late_ms: number[];
  p99_late_ms: number;
}

export async function benchmarkFreshThreadSpin(threads = 8, spins = 80): Promise<FreshThreadSpin> {
  const all: number[] = [];
  const over_5ms: number[] = [];
  const max_late_ms: number[] = [];
  for (let t = 0; t < threads; t++) {
    const late = await spinsInFreshThread(spins);
    all.push(...late);
    over_5ms.push(late.filter((ms) => ms > 5).length);
    max_late_ms.push(Math.round(Math.max(...late) * 100) / 100);
  }
  all.sort((a, b) => a - b);
  const p99 = all[Math.min(all.length - 1, Math.floor(0.99 * all.length))];
  return { threads, spins_per_thread: spins, over_5ms, max_late_ms, p99_late_ms: Math.round(p99 * 100) / 100 };
}

/** How late each of `ticks` spins ended (ms), each after a 16 ms timer, in a new worker thread. */
async function spinsInFreshThread(ticks: number): Promise<number[]> {
  const url = new URL('../src/runtime/control/pacing.js', import.meta.url).href;
  const code = `
    const { spinUntil } = await import(${JSON.stringify(url)});
    const { parentPort } = await import('node:worker_threads');
    const late = [];
    for (let i = 0; i < ${ticks}; i++) {
      const deadline = performance.now() + 20;
      await new Promise((r) => setTimeout(r, 16));
      spinUntil(deadline);
      late.push(performance.now() - deadline);
    }
    parentPort.postMessage(late);`;
  const worker = new Worker(code, { eval: true, type: 'module' } as ConstructorParameters<typeof Worker>[1]);
  try {
    return await new Promise((ok, fail) => worker.once('message', ok).once('error', fail));
  } finally {
    await worker.terminate();
  }
}
