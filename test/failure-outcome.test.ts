import assert from 'node:assert/strict';
import { test } from 'node:test';
import { failureOutcome } from '../src/runtime/episode/failure-outcome.js';

const figures = (to_target_m: number, lifted = false) => ({ cube_to_target_m: to_target_m, cube_lifted: lifted });

test('failure outcome: the median of each number and how many had each flag', () => {
  const f = failureOutcome([figures(0.2), figures(0.06, true), undefined, figures(0.08)]);
  assert.deepEqual(f, { failures: 3, median: { cube_to_target_m: 0.08 }, flagged: { cube_lifted: 1 } });
});

test('failure outcome: none without failed episodes that carry task figures (a robot has none)', () => {
  assert.equal(failureOutcome([undefined, undefined]), undefined);
  assert.equal(failureOutcome([]), undefined);
});

test('failure outcome: keys from any episode, each over the episodes that gave it', () => {
  const f = failureOutcome([{ a_m: 0.1 }, { a_m: 0.3, b_m: 0.2 }, { b_m: 0.4, lifted: true }]);
  assert.deepEqual(f, { failures: 3, median: { a_m: 0.2, b_m: 0.3 }, flagged: { lifted: 1 } });
});
