// The one fixed-rate schedule (control loop, simulated UR controller, simulated servos), on explicit times:
// tick n is due at start + n * period however late each wake-up is, and a stall longer than the allowance
// drops the lost ticks (counted) instead of bursting through them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FixedRateSchedule } from '../src/util/fixed-rate.js';

test('no drift: late wake-ups that run what is owed keep tick n at start + n * period', () => {
  const s = new FixedRateSchedule(2, 5); // 500 Hz
  s.start(1000);
  let now = 1000,
    ran = 0;
  for (let wake = 0; wake < 1000; wake++) {
    now = s.due() + (wake % 7) * 0.3; // each wake-up 0 to 1.8 ms late
    const owed = s.owed(now);
    assert.ok(owed >= 1 && owed <= 2, `owed ${owed} at wake-up ${wake}`);
    ran += owed;
    assert.equal(s.ran(owed, now), 0);
  }
  assert.equal(ran, Math.floor((now - 1000) / 2), 'every period of the elapsed time got its tick');
  assert.equal(s.due(), 1000 + (ran + 1) * 2);
  assert.equal(s.slipped_ticks, 0);
});

test('a short stall is caught up; a long one is dropped and counted, and the schedule restarts', () => {
  const s = new FixedRateSchedule(20, 5); // 50 Hz, at most 5 ticks behind
  s.start(0);
  assert.equal(s.owed(19.9), 0);
  assert.equal(s.owed(20), 1);
  assert.equal(s.ran(1, 20), 0);
  // stalled 90 ms: 4 more ticks owed, within the allowance
  assert.equal(s.owed(110), 4);
  assert.equal(s.ran(1, 110), 3, 'three still owed after running one');
  assert.equal(s.ran(3, 110), 0);
  assert.equal(s.due(), 120);
  // stalled a second: 50 ticks owed, 49 beyond the one run, all given up
  assert.equal(s.ran(1, 1110), 0);
  assert.equal(s.slipped_ticks, 49);
  assert.equal(s.due(), 1130, 'the next tick is one period after the restart');
});

test('a period that is not positive is refused', () => {
  assert.throws(() => new FixedRateSchedule(0, 5), /period must be positive/);
  assert.throws(() => new FixedRateSchedule(Number.NaN, 5), /period must be positive/);
});
