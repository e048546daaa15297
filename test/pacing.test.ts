// The pacers' last stretch: spinUntil returns at its deadline, never before, and (the reason it is not a
// plain clock loop) leaves almost no garbage: on Node 20 each clock read allocates a heap number, and a
// control thread that read it in a tight loop ran a scavenge every second.
import assert from 'node:assert/strict';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import { BurnSizer, createPacer, MAX_BURN_MS, spinUntil } from '../src/runtime/control/pacing.js';

test('spinUntil never returns before its deadline', () => {
  for (let i = 0; i < 100; i++) {
    const deadline = performance.now() + (i % 5) * 0.7;
    spinUntil(deadline);
    assert.ok(performance.now() >= deadline, `spin ${i} returned early`);
  }
});

test('a burn: at most MAX_BURN_MS at the speed learnt; slower counts at once, faster by a quarter', () => {
  const b = new BurnSizer();
  b.learn(1_000_000); // one fast burn (a loop V8 just optimised on-stack)
  assert.equal(b.iters_per_ms, 10_000 + 0.25 * 990_000);
  b.learn(50_000); // the next call runs unoptimised
  assert.equal(b.iters_per_ms, 50_000);
  for (let i = 0; i < 100; i++) b.learn(1_000_000);
  assert.ok(b.size(3) <= MAX_BURN_MS * b.iters_per_ms, 'a 3 ms spin burns in slices of at most MAX_BURN_MS');
  assert.equal(b.size(0.1), Math.floor(0.05 * b.iters_per_ms), 'half of what is left');
});

test('a loop that runs 20 times slower after one fast burn overshoots a spin by little (it once cost 9-16 ms)', () => {
  // a fresh thread's first spins: what each burn would take, if the loop ran at `speed` iterations per ms
  const b = new BurnSizer();
  const speeds = [20_000, 1_000_000, 50_000, 50_000, 1_000_000, 50_000, 50_000, 50_000];
  let worst = 0;
  for (const speed of speeds) {
    const n = b.size(3); // a 3 ms spin's first burn, the largest
    worst = Math.max(worst, n / speed);
    b.learn(speed);
  }
  assert.ok(worst <= 2.1, `a burn took ${worst.toFixed(1)} ms`);
});

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
