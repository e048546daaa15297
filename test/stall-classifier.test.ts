// Missed ticks by cause, on synthetic timelines (the classifier and its accumulator), then on the real
// watchdog thread of this process: a stall of the whole process (SIGSTOP from outside, then SIGCONT) is a
// host stall; this thread busy while the watchdog runs is the runtime's own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { type EvidenceSource, StallAccount } from '../src/telemetry/stall-account.js';
import {
  classifyLateTick,
  judgeEvidence,
  LISTED_MAX,
  MissedTicks,
  measureEvidence,
  type StealSample,
  type WatchdogGap,
} from '../src/telemetry/stall-classifier.js';
import { StallWatchdog } from '../src/telemetry/stall-watchdog.js';
import { currentThreadId, firstLineField, parseStealMs, runQueueWaitMs } from '../src/telemetry/steal-time.js';
import { monotonicMs } from '../src/util/clock.js';

test('a late tick covered by a watchdog gap is a host stall; one the watchdog ran through is the runtime', () => {
  const late = { due_ms: 1000, woke_ms: 1400 };
  const gap: WatchdogGap = { start_ms: 990, end_ms: 1398 };
  assert.deepEqual(classifyLateTick(late, [gap], []), { cause: 'host_stall', evidence: 'watchdog_gap' });
  // the watchdog beat all along (no gap), or its gaps were elsewhere in time
  assert.deepEqual(classifyLateTick(late, [], []), { cause: 'runtime' });
  assert.deepEqual(classifyLateTick(late, [{ start_ms: 500, end_ms: 900 }], []), { cause: 'runtime' });
  // a short gap inside a long late stretch: mostly the control thread's own lateness
  assert.deepEqual(classifyLateTick(late, [{ start_ms: 1100, end_ms: 1150 }], []), { cause: 'runtime' });
  // several gaps adding up to more than half of it
  const pieces = [
    { start_ms: 1000, end_ms: 1120 },
    { start_ms: 1130, end_ms: 1250 },
  ];
  assert.equal(classifyLateTick(late, pieces, []).cause, 'host_stall');
});

test('steal that rose by half the lateness across the tick is a host stall; far-apart samples prove nothing', () => {
  const late = { due_ms: 1000, woke_ms: 1040 };
  const steal = (pairs: [number, number][]): StealSample[] => pairs.map(([t_ms, steal_ms]) => ({ t_ms, steal_ms }));
  assert.deepEqual(
    classifyLateTick(
      late,
      [],
      steal([
        [980, 100],
        [1050, 130],
      ]),
    ),
    {
      cause: 'host_stall',
      evidence: 'steal_time',
    },
  );
  assert.equal(
    classifyLateTick(
      late,
      [],
      steal([
        [980, 100],
        [1050, 110],
      ]),
    ).cause,
    'runtime',
    '10 ms of 40',
  );
  // the samples straddle the tick but a second apart: the steal could be anywhere in that second
  assert.equal(
    classifyLateTick(
      late,
      [],
      steal([
        [0, 0],
        [2000, 500],
      ]),
    ).cause,
    'runtime',
  );
  // no sample after the tick woke: no evidence
  assert.equal(classifyLateTick(late, [], steal([[980, 100]])).cause, 'runtime');
});

test('a late tick the control thread spent waiting for a CPU is contention, not the runtime', () => {
  const late = { due_ms: 1000, woke_ms: 1060 };
  const runq = (pairs: [number, number][]) => pairs.map(([t_ms, wait_ms]) => ({ t_ms, wait_ms }));
  assert.deepEqual(
    classifyLateTick(
      late,
      [],
      [],
      runq([
        [998, 500],
        [1062, 548],
      ]),
    ),
    {
      cause: 'cpu_contention',
      evidence: 'run_queue',
    },
  );
  assert.equal(
    classifyLateTick(
      late,
      [],
      [],
      runq([
        [998, 500],
        [1062, 510],
      ]),
    ).cause,
    'runtime',
    'ran most of it',
  );
  // a watchdog gap over it says more: the whole process stopped
  const gap = [{ start_ms: 999, end_ms: 1059 }];
  assert.equal(
    classifyLateTick(
      late,
      gap,
      [],
      runq([
        [998, 500],
        [1062, 560],
      ]),
    ).cause,
    'host_stall',
  );
  // samples 100 ms wider than the stretch: the wait could have been before it
  assert.equal(
    classifyLateTick(
      late,
      [],
      [],
      runq([
        [900, 400],
        [1100, 500],
      ]),
    ).cause,
    'runtime',
  );
});

/** Evidence for a tick whose verdict the test gives (only a runtime miss lists it). */
const NONE = { gap_ms: 0, steal_ms: null, runq_ms: null, cpu_ms: null, gc_ms: 0 };
/** What a late tick built by a test does not know of its own part. */
const NOT_OWN = { prev_tick_ms: null, sleep_late_ms: null };

test('MissedTicks counts by cause, sums lateness, and lists the longest host stalls in time order', () => {
  const m = new MissedTicks(10, 5000);
  m.add({ due_ms: 6000, woke_ms: 6500 }, { cause: 'host_stall', evidence: 'watchdog_gap' }, NONE);
  m.add({ due_ms: 7000, woke_ms: 7012 }, { cause: 'runtime' }, { ...NONE, gap_ms: 2, steal_ms: 0 });
  m.add({ due_ms: 7500, woke_ms: 7530 }, { cause: 'cpu_contention', evidence: 'run_queue' }, NONE);
  for (let i = 0; i < LISTED_MAX + 3; i++)
    m.add({ due_ms: 8000 + i * 100, woke_ms: 8020 + i * 100 }, { cause: 'host_stall', evidence: 'steal_time' }, NONE);
  // after the list is full: a long stall must still be listed (a soak's worst is what a reader looks for)
  m.add({ due_ms: 20_000, woke_ms: 20_300 }, { cause: 'host_stall', evidence: 'watchdog_gap' }, NONE);
  const r = m.report(true, 42);
  assert.equal(r.total, LISTED_MAX + 7);
  assert.equal(r.cpu_contention, 1);
  assert.equal(r.host_stall, LISTED_MAX + 5);
  assert.equal(r.runtime, 1);
  assert.deepEqual(r.late_ms, { host_stall: 800 + 20 * (LISTED_MAX + 3), cpu_contention: 30, runtime: 12 });
  assert.equal(r.host_stalls.length, LISTED_MAX);
  assert.equal(r.host_stalls_dropped, 5);
  assert.deepEqual(r.host_stalls[0], { start_ms: 1000, length_ms: 500, evidence: 'watchdog_gap' });
  assert.deepEqual(r.host_stalls.at(-1), { start_ms: 15_000, length_ms: 300, evidence: 'watchdog_gap' });
  const starts = r.host_stalls.map((e) => e.start_ms);
  assert.deepEqual(
    starts,
    [...starts].sort((x, y) => x - y),
    'in time order',
  );
  assert.deepEqual(r.runtime_examples, [{ start_ms: 2000, late_ms: 12, ...NONE, ...NOT_OWN, gap_ms: 2, steal_ms: 0 }]);
  assert.equal(r.steal_ms, 42);
});

/** A watchdog timeline written by the test: the account sees what a real watchdog would have published. */
function timeline(): EvidenceSource & { beat: number; gapList: WatchdogGap[] } {
  return {
    beat: 0,
    gapList: [],
    lastBeat() {
      return this.beat;
    },
    gaps() {
      return this.gapList;
    },
    steal: () => [],
    runQueue: () => [],
    stealTotalMs: () => null,
    lastStealAt: () => Number.POSITIVE_INFINITY,
    lastRunQueueAt: () => Number.POSITIVE_INFINITY,
    stop: async () => undefined,
  };
}

test('StallAccount waits for the watchdog to run after a late tick before judging it', async () => {
  const w = timeline();
  const acct = new StallAccount(10, 0, w);
  w.beat = 1000;
  acct.tick(1000, 1001); // on time: nothing pending
  acct.tick(1020, 1420); // the control thread woke first after a 400 ms stall; the watchdog has not yet
  acct.tick(1440, 1440.5); // the watchdog still has not run: judging now would miss its gap
  assert.equal(acct.pending_count, 1, 'held until the watchdog has run');
  w.gapList.push({ start_ms: 1000, end_ms: 1421 });
  w.beat = 1421;
  acct.tick(1460, 1460.2);
  assert.equal(acct.pending_count, 0, 'judged as soon as it has');
  acct.tick(1480, 1530, 31.5, 18); // 50 ms late while the watchdog beat but for 10 ms: the runtime's own
  w.gapList.push({ start_ms: 1500, end_ms: 1510 });
  acct.gcPause(1470, 1485); // a collection of the control thread, 5 ms of it in the late stretch
  acct.gcPause(1300, 1310); // and one long before
  w.beat = 1531;
  const r = await acct.close(1600);
  assert.equal(r.host_stall, 1);
  assert.equal(r.runtime, 1);
  assert.equal(r.host_stalls[0].length_ms, 400);
  assert.deepEqual(
    r.runtime_examples,
    [{ ...NONE, start_ms: 1480, late_ms: 50, gap_ms: 10, gc_ms: 5, prev_tick_ms: 31.5, sleep_late_ms: 18 }],
    'listed with what was measured: 10 ms of gap (below half of 50), 5 of GC, the tick before and the late sleep',
  );
});

test('without a watchdog every miss is the runtime (nothing shows the process stopped), and it says so', async () => {
  const acct = new StallAccount(10, 0, null);
  acct.tick(100, 600);
  const r = await acct.close(700);
  assert.equal(r.runtime, 1);
  assert.equal(r.watchdog, false);
});

test('measureEvidence: the gap cover, the steal and run-queue rise over a late tick (null: no samples near)', () => {
  const late = { due_ms: 1000, woke_ms: 1020 };
  const gaps = [
    { start_ms: 990, end_ms: 1004 },
    { start_ms: 1010, end_ms: 1012 },
  ];
  const steal = [
    { t_ms: 980, steal_ms: 100 },
    { t_ms: 1030, steal_ms: 110 },
  ];
  const runq = [
    { t_ms: 995, wait_ms: 7, cpu_ms: 40 },
    { t_ms: 1025, wait_ms: 10.5, cpu_ms: 52 },
  ];
  const gcs = [{ start_ms: 1015, end_ms: 1023 }];
  const measured = measureEvidence(late, gaps, steal, runq, gcs);
  assert.deepEqual(measured, { gap_ms: 6, steal_ms: 10, runq_ms: 3.5, cpu_ms: 12, gc_ms: 5 });
  assert.deepEqual(measureEvidence(late, [], [{ t_ms: 500, steal_ms: 0 }], []), {
    gap_ms: 0,
    steal_ms: null,
    runq_ms: null,
    cpu_ms: null,
    gc_ms: 0,
  });
  assert.deepEqual(judgeEvidence(late, measured), {
    cause: 'host_stall',
    evidence: 'steal_time',
  });
});

test('firstLineField reads a field of the first line from bytes; not one with other characters', () => {
  const b = Buffer.from('cpu  14136 0 4348\ncpu0 9 9 9\n', 'latin1');
  assert.equal(firstLineField(b, b.length, 1), 14136);
  assert.equal(firstLineField(b, b.length, 3), 4348);
  assert.equal(firstLineField(b, b.length, 4), undefined, 'the next line is not this one');
  assert.equal(firstLineField(b, 9, 1), 1413, 'only the bytes read count');
  const s = Buffer.from('12 34x 5\n', 'latin1');
  assert.equal(firstLineField(s, s.length, 1), undefined);
  assert.equal(firstLineField(s, s.length, 2), 5);
});

test('parseStealMs reads the 8th number of the cpu line in 1/100 s', () => {
  assert.equal(parseStealMs('cpu  14136 0 4348 165657 267 0 151 1262 0 0\ncpu0 1 2 3\n'), 12620);
  assert.equal(parseStealMs('cpu  1 2 3\n'), undefined, 'an old kernel without steal');
  assert.equal(parseStealMs('intr 5\n'), undefined);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Block this thread for `ms` without letting it be descheduled by choice (a long tick). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* the control thread doing too much */
  }
}

/** Spin until this thread sees the clock jump by `jump_ms` (it was stopped); the last instant before it. */
function spinUntilJump(jump_ms: number, give_up_ms: number): { before: number; after: number } | undefined {
  const end = monotonicMs() + give_up_ms;
  for (let prev = monotonicMs(); prev < end; ) {
    const now = monotonicMs();
    if (now - prev >= jump_ms) return { before: prev, after: now };
    prev = now;
  }
  return undefined;
}

test('real watchdog: the process stopped 400 ms (SIGSTOP) is a host stall; a long tick is judged by its run queue', {
  skip: process.platform !== 'linux' && 'needs /proc and SIGSTOP',
}, async () => {
  const watchdog = StallWatchdog.start();
  assert.ok(watchdog, 'the watchdog thread starts');
  const acct = new StallAccount(10, monotonicMs(), watchdog);
  await acct.ready(5000);
  assert.ok(watchdog.lastBeat() > 0, 'it beats (a thread starts in 100-200 ms here)');
  const tid = currentThreadId();
  assert.ok(tid, 'this thread has an id');

  // a tick that ran long: this thread busy. Whether the OS let it run is measured here independently.
  const waited0 = runQueueWaitMs(tid) ?? 0;
  const due = monotonicMs();
  busy(150);
  const woke = monotonicMs();
  const waited_ms = (runQueueWaitMs(tid) ?? 0) - waited0;
  acct.tick(due, woke);
  await sleep(100);
  acct.tick(monotonicMs(), monotonicMs()); // an on-time tick: the late one is judged, its evidence in
  const first = acct.counts();

  // another process stops this one as a paused VM would, and lets it go 400 ms later
  // (after 0.2 s: a stop that lands while spawn() still runs would be over before the spin below starts)
  const pid = process.pid;
  const helper = spawn('sh', ['-c', `sleep 0.2; kill -STOP ${pid}; sleep 0.4; kill -CONT ${pid}`]);
  const stop = spinUntilJump(300, 10_000);
  assert.ok(stop, 'the process was stopped');
  // a tick due 1 ms after this thread last ran, woken when the process went on
  acct.tick(stop.before + 1, stop.after);
  await new Promise((r) => helper.on('exit', r));
  const r = await acct.close(monotonicMs());
  assert.equal(r.watchdog, true);
  assert.equal(r.total, 2, JSON.stringify(r));
  assert.ok(
    r.host_stalls.some((e) => e.length_ms >= 300 && e.evidence === 'watchdog_gap'),
    `the stop is a host stall: ${JSON.stringify(r)}`,
  );
  assert.equal(first.total, 1, `the long tick was judged before the stop: ${JSON.stringify(first)}`);
  // the long tick: contention exactly when this thread waited for a CPU for half of it, else the runtime
  // (unless the watchdog starved as well on a loaded machine: then the process as a whole was not running)
  // The watchdog samples the run queue at its own instants, so near the half-way line the two measurements can
  // fall on either side: judged only where the independent reading is clear (a wait of <= 20% or >= 80%).
  if (first.host_stall === 0) {
    const share = waited_ms / (woke - due);
    const why = `waited ${waited_ms} ms of ${woke - due}: ${JSON.stringify(first)}`;
    assert.equal(first.cpu_contention + first.runtime, 1, why);
    if (share >= 0.8) assert.equal(first.cpu_contention, 1, why);
    if (share <= 0.2) assert.equal(first.runtime, 1, why);
  }
});
