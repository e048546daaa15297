// VLA_INJECT_FAULTS's syntax (src/runtime/fault-injection.ts): the fixed list, the seeded random mode the soak
// benchmark uses, refusals, and run ticks across episodes; and the matrix's own command check. No process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadRobot } from '../../../src/robot/index.js';
import { FaultStretches } from '../../../src/runtime/control/fault-stretch.js';
import { FaultPlan, FaultSpecError, RunTicks } from '../../../src/runtime/fault-injection.js';
import { unsafeCommands } from './checks.js';

const quiet = <T>(f: () => T): T => {
  const write = process.stderr.write;
  process.stderr.write = () => true;
  try {
    return f();
  } finally {
    process.stderr.write = write;
  }
};

test('a fixed list fires each fault once, at or after its tick, with its duration', () => {
  const p = FaultPlan.parse('nan-chunk@tick=300,camera-freeze@tick=200:ms=1500,latency-spike@tick=10', 50);
  quiet(() => {
    assert.equal(p.take(['nan-chunk'], 299), undefined);
    assert.deepEqual(p.take(['nan-chunk'], 305), { kind: 'nan-chunk', tick: 300, ms: 0 });
    assert.equal(p.take(['nan-chunk'], 400), undefined, 'once');
    assert.equal(p.take(['camera-freeze'], 250)?.ms, 1500);
    assert.equal(p.take(['latency-spike'], 11)?.ms, 900, 'the default spike');
  });
  assert.ok(p.has(['nan-chunk']) && !p.has(['worker-crash']));
});

test('random mode: seeded, the same schedule every time, gaps of 0.5 to 1.5 x every_s, only the kinds given', () => {
  const spec = 'random:seed=7:every_s=20:kinds=nan-chunk|worker-crash|latency-spike|camera-freeze';
  const kinds = ['nan-chunk', 'worker-crash', 'latency-spike', 'camera-freeze'] as const;
  const schedule = () => {
    const p = FaultPlan.parse(spec, 50);
    const out: number[] = [];
    quiet(() => {
      for (let t = 1; t <= 50 * 600; t++) if (p.take(kinds, t)) out.push(t);
    });
    return out;
  };
  const a = schedule();
  assert.deepEqual(a, schedule());
  // 600 s at one fault every 20 s on average
  assert.ok(a.length >= 20 && a.length <= 40, `${a.length} faults in 600 s`);
  for (let i = 1; i < a.length; i++) {
    const gap = a[i] - a[i - 1];
    assert.ok(gap >= 500 && gap <= 1500, `gap ${gap} ticks is not 10 .. 30 s at 50 Hz`);
  }
  const other = FaultPlan.parse(spec.replace('seed=7', 'seed=8'), 50);
  const first = quiet(() => {
    for (let t = 1; t <= 50 * 600; t++) if (other.take(kinds, t)) return t;
  });
  assert.notEqual(first, a[0], 'another seed, another schedule');
});

test('malformed specs are refused with what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['bogus@tick=1', /unknown fault 'bogus'/],
    ['nan-chunk', /needs @tick=N/],
    ['nan-chunk@tick=0', /needs @tick=N/],
    ['latency-spike@tick=5:ms=-1', /ms must be a number >= 0/],
    ['random:seed=1:kinds=nan-chunk', /every_s/],
    ['random:every_s=5:kinds=nan-chunk|nope', /unknown fault 'nope'/],
  ];
  for (const [spec, why] of cases)
    assert.throws(
      () => FaultPlan.parse(spec, 50),
      (e) => e instanceof FaultSpecError && why.test(e.message),
    );
  assert.equal(FaultPlan.fromEnv(50, undefined), undefined, 'unset: no plan');
});

test('run ticks go on across episodes (each restarts at tick 1)', () => {
  const r = new RunTicks();
  assert.deepEqual(
    [10, 200, 3, 50].map((t) => r.of(t)),
    [10, 200, 203, 250],
  );
});

test("the matrix's command check catches a joint past its limit and a step too large for its ticks", async () => {
  const ur5e = await loadRobot('ur5e');
  const home = Array.from(ur5e.home_rad);
  const far = [...home];
  far[1] += 0.5; // rad in one tick: far above the velocity limit x 20 ms
  const out = [...home];
  out[0] = 100;
  assert.deepEqual(unsafeCommands(ur5e, [home, home], true), []);
  assert.equal(unsafeCommands(ur5e, [home, far], true).length, 1);
  assert.deepEqual(unsafeCommands(ur5e, [home, far], true, [1, 20]), [], 'allowed over 20 ticks');
  assert.match(unsafeCommands(ur5e, [out], true)[0], /outside/);
});

test('the longest driver-fault stretch counts one that ends the run (it never clears)', () => {
  const f = new FaultStretches(1000, 100);
  // a short stretch that clears: 20 ms
  f.enter('io_error', 0, () => 'x');
  f.leave(20);
  // then one that lasts past the fault timeout and ends the episode, at 1020 ms after it began
  for (let t_ms = 100; t_ms < 1100; t_ms += 20)
    assert.equal(
      f.enter('io_error', t_ms, () => 'x'),
      undefined,
    );
  assert.match(f.enter('io_error', 1120, () => 'port gone') ?? '', /io_error for more than 1\.0 s: port gone/);
  assert.equal(f.report.longest_hold_ms, 1020);
  assert.equal(f.report.holds, 2);
});
