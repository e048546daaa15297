// Two inference requests out at once (--max-in-flight 2): the trigger counts what a request out will
// cover, chunks never land out of order, and a latency one request cannot absorb runs without underruns.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { InFlight } from '../src/runtime/episode/in-flight.js';

const BIN = resolve(import.meta.dirname, '../../bin/vla-run.js');

test('in flight: what requests out will cover, a bound, and an older chunk never lands after a newer one', () => {
  const f = new InFlight(2);
  assert.equal(f.promisedAfter(10), 0);
  const a = f.ask(10, 1, 25); // covers 11 .. 35
  assert.equal(f.promisedAfter(20), 15);
  const b = f.ask(18, 1, 25); // covers 19 .. 43
  assert.ok(f.full);
  assert.equal(f.promisedAfter(20), 23);
  f.settle(a);
  assert.ok(!f.full);
  assert.ok(f.mayLand(18), 'the newer request landed first');
  assert.ok(!f.mayLand(10), 'the older one lands after it: dropped');
  assert.equal(f.out_of_order, 1);
  f.settle(b);
  assert.equal(f.promisedAfter(20), 0);
  assert.throws(() => new InFlight(0), /whole number >= 1/);
});

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, '--robot', 'ur5e', '--sim', '--clock', 'fast', '--json', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('260 ms per call, H 25 at 50 Hz: one request out underruns, two do not; nothing stale is executed', () => {
  const slow = ['--latency-model', 'fixed:260', '--duration', '10'];
  const one = run(...slow, '--max-in-flight', '1');
  const two = run(...slow, '--max-in-flight', '2');
  assert.ok(one.control.underruns > 0, JSON.stringify(one.control));
  assert.equal(two.control.underruns, 0, JSON.stringify(two.control));
  assert.equal(two.inference.max_in_flight, 2);
  const stamped = run(...slow, '--max-in-flight', '2', '--policy', 'tick-stamp');
  assert.equal(stamped.buffer.stale_actions_executed, 0);
});
