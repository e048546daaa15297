// The soak's arithmetic and its fault scheduler, without the hours: memory growth is judged after the
// warm-up and never on the sample taken as the process exits; faults come in a seeded order, and a fault
// that cannot be thrown is reported, not lost.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FaultScheduler } from '../bench/soak-faults.js';
import { memoryReport } from '../bench/soak-report.js';
import type { ProcessSample } from '../src/telemetry/process-stats.js';

const sample = (t_s: number, rss_mb: number, fds: number, final?: true): ProcessSample => ({
  t_s,
  rss_mb,
  heap_used_mb: rss_mb / 4,
  heap_total_mb: rss_mb / 2,
  external_mb: 1,
  array_buffers_mb: 1,
  rss_anon_mb: rss_mb - 50,
  rss_file_mb: 50,
  thread_heaps_mb: { control: 5 },
  thread_heaps_physical_mb: { control: 8 },
  fds,
  ...(final ? { final } : {}),
});

test('memory growth: last running sample minus the first after the warm-up; the exit sample left out', () => {
  const stats = [sample(0, 90, 20), sample(30, 200, 29), sample(60, 202, 29), sample(90, 203.5, 30)];
  const r = memoryReport([...stats, sample(91, 100, 20, true)], 30);
  assert.equal(r.rss_growth_mb, 3.5, 'warm-up (90 -> 200 MB) is not growth; the drop at exit is not a fix');
  assert.equal(r.heap_growth_mb, 0.88);
  assert.equal(r.fds_first, 20);
  assert.equal(r.fds_last, 30);
  assert.equal(r.samples.length, 5);
  assert.equal(r.samples.at(-1)?.final, true);
});

test('memory growth is null when the run was too short for two samples after the warm-up', () => {
  assert.equal(memoryReport([sample(0, 90, 20), sample(30, 200, 29)], 30).rss_growth_mb, null);
  assert.equal(memoryReport([], 30).rss_growth_mb, null);
});

async function schedule(seed: number, fail = false) {
  const kinds: string[] = [];
  const act = (kind: string) => async () => {
    kinds.push(kind);
    if (fail && kind === 'b') throw new Error('the endpoint is gone');
    return { kind, length_ms: 1, recovery_ms: null };
  };
  const s = new FaultScheduler(seed, 0.02, { a: act('a'), b: act('b'), c: act('c') });
  await new Promise((r) => setTimeout(r, 400));
  const events = await s.stop();
  return { kinds, events };
}

test('the fault scheduler: seeded order, every fault recorded, a failed one with its error', async () => {
  const one = await schedule(3);
  const two = await schedule(3, true);
  assert.ok(one.kinds.length >= 5, `fired ${one.kinds.length} in 0.4 s at ~0.02 s apart`);
  const n = Math.min(one.kinds.length, two.kinds.length);
  assert.deepEqual(two.kinds.slice(0, n), one.kinds.slice(0, n), 'the same seed, the same faults');
  assert.equal(one.events.length, one.kinds.length);
  const failed = two.events.filter((e) => e.error);
  assert.equal(failed.length, two.kinds.filter((k) => k === 'b').length);
  assert.ok(failed.every((e) => e.error === 'the endpoint is gone' && e.kind === 'b'));
  const other = await schedule(4);
  assert.notDeepEqual(other.kinds.slice(0, 5), one.kinds.slice(0, 5), 'another seed, another order');
});

test('retained growth comes from the samples taken after a full GC; null without them', () => {
  const gcd = (t_s: number, rss_mb: number, kept_mb: number) => ({
    ...sample(t_s, rss_mb, 30),
    after_gc: { rss_mb: kept_mb, rss_anon_mb: kept_mb - 50, heap_used_mb: 10 },
  });
  // garbage V8 has yet to collect makes plain RSS climb; what the process keeps moves by 1 MB
  const r = memoryReport([gcd(0, 90, 88), gcd(30, 100, 95), gcd(60, 115, 95.5), gcd(90, 130, 96)], 30);
  assert.equal(r.rss_growth_mb, 30);
  assert.equal(r.retained_rss_growth_mb, 1);
  assert.equal(
    memoryReport([sample(0, 90, 20), sample(30, 95, 20), sample(60, 99, 20)], 30).retained_rss_growth_mb,
    null,
  );
});
