// Which checkpoints run again at a run's end: the best-evaluated ones, a later round first among equals (trained
// longer), each round by its last evaluation (a resumed run may have evaluated it twice), in round order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selectionCandidates } from '../src/rl/checkpoint-selection.js';

test('the n best-evaluated rounds, the later among equals, each by its last evaluation', () => {
  const evals = [
    { round: 5, success: 0.9 },
    { round: 10, success: 0.95 },
    { round: 15, success: 0.9 },
    { round: 20, success: 1 },
    { round: 25, success: 0.95 },
    { round: 20, success: 0.5 }, // round 20 evaluated again after a resume: this one counts
  ];
  assert.deepEqual(selectionCandidates(evals, 2), [10, 25]);
  assert.deepEqual(selectionCandidates(evals, 3), [10, 15, 25]);
  assert.deepEqual(selectionCandidates(evals, 10), [5, 10, 15, 20, 25]);
  assert.deepEqual(selectionCandidates([], 3), []);
});
