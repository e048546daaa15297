// The pacers' last stretch: spinUntil returns at its deadline, never before, and (the reason it is not a
// plain clock loop) leaves almost no garbage: on Node 20 each clock read allocates a heap number, and a
// control thread that read it in a tight loop ran a scavenge every second.
import assert from 'node:assert/strict';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import { spinUntil } from '../src/runtime/control/pacing.js';

test('spinUntil never returns before its deadline', () => {
  for (let i = 0; i < 100; i++) {
    const deadline = performance.now() + (i % 5) * 0.7;
    spinUntil(deadline);
    assert.ok(performance.now() >= deadline, `spin ${i} returned early`);
  }
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
