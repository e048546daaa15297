// The pacers' last stretch: spinUntil returns at its deadline, never before, and (the reason it is not a
// plain clock loop) leaves almost no garbage: on Node 20 each clock read allocates a heap number, and a
// control thread that read it in a tight loop ran a scavenge every second.
import assert from 'node:assert/strict';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createPacer, spinUntil } from '../src/runtime/control/pacing.js';

test('spinUntil never returns before its deadline', () => {
  for (let i = 0; i < 100; i++) {
    const deadline = performance.now() + (i % 5) * 0.7;
    spinUntil(deadline);
    assert.ok(performance.now() >= deadline, `spin ${i} returned early`);
  }
});

test('in a fresh thread (V8 not warmed up) a spin ends on time, tick after tick', async () => {
  // a control thread's first seconds: a timer to a few ms before each tick, then the spin. Here the spin once
  // sized its burns by the speed of a loop V8 had just optimised on-stack, ran the next call unoptimised and
  // overshot by 9-16 ms for several ticks in a row, in about half of all fresh threads: four threads are tried.
  for (let thread = 0; thread < 4; thread++) {
    const late = await spinsInFreshThread(80);
    // the host may preempt a spin now and then (a plain clock loop overshoots by ~3 ms at times too)
    const over = late.filter((ms) => ms > 5);
    assert.ok(
      over.length <= 2,
      `thread ${thread}: ${over.length} of 80 spins > 5 ms late: ${over.map((ms) => ms.toFixed(1))}`,
    );
  }
});

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

/** Keep this thread busy for `ms` (a long callback of the event loop). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('a yielding wait kept from its timer by a busy event loop says how late its sleep returned', async () => {
  const pacer = createPacer('yielding', 3);
  const deadline = performance.now() + 20; // a timer for 17 ms, then a 3 ms spin
  setTimeout(() => busy(30), 2); // a callback that holds the thread past the timer and the deadline
  await pacer.until(deadline);
  assert.ok(pacer.sleep_late_ms >= 14, `the sleep returned ${pacer.sleep_late_ms} ms late; about 15 expected`);
  await pacer.until(performance.now() - 1); // already due: no sleep, so nothing was late
  assert.equal(pacer.sleep_late_ms, 0);
});

test('a blocking wait that did not sleep reports no late sleep (a long tick before is not the sleep)', () => {
  const pacer = createPacer('blocking', 1);
  pacer.until(performance.now() - 5);
  assert.equal(pacer.sleep_late_ms, 0);
});

test('300 spins of 3 ms leave next to no garbage (a plain clock loop: hundreds of scavenges)', async () => {
  let scavenges = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
  });
  obs.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < 300; i++) spinUntil(performance.now() + 3);
  await new Promise((r) => setTimeout(r, 50)); // the GC entries are delivered after the synchronous stretch
  obs.disconnect();
  assert.ok(scavenges <= 3, `${scavenges} scavenges in 0.9 s of spinning`);
});
