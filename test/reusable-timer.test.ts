import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReusableTimer } from '../src/util/reusable-timer.js';

test('reusable timer: fires once per arming; disarmed or re-armed, the old arming is silent', async () => {
  let fired = 0;
  const t = new ReusableTimer(() => fired++);
  try {
    t.arm(5);
    await sleep(30);
    assert.equal(fired, 1, 'an arming fires once');
    t.arm(5);
    t.disarm();
    await sleep(30);
    assert.equal(fired, 1, 'a disarmed timer does not fire');
    t.arm(40);
    t.arm(5);
    await sleep(80);
    assert.equal(fired, 2, 're-armed with another duration: only the last arming fires');
    t.arm(5);
    await sleep(2);
    t.arm(5); // the same duration again: the pending Timeout is moved, not doubled
    await sleep(40);
    assert.equal(fired, 3);
  } finally {
    t.dispose();
  }
});
