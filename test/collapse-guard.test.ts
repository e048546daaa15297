// What an evaluation means for a fine-tuning run: a new best (a tie included: the later round trained longer),
// fine, a rollback to the best after a collapse, or a stop after too many.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judgeEvaluation } from '../src/rl/collapse-guard.js';
import { FINETUNE_DEFAULTS } from '../src/rl/finetune-config.js';

const C = { ...FINETUNE_DEFAULTS.collapse, drop_fraction: 0.5, min_best: 0.3, max_collapses: 2 };
const best = { round: 10, success: 0.8 };

test('the first evaluation, a better one and a tie are the best; a small drop is fine', () => {
  assert.equal(judgeEvaluation(0.1, null, 0, C).kind, 'best');
  assert.equal(judgeEvaluation(0.85, best, 0, C).kind, 'best');
  assert.equal(judgeEvaluation(0.8, best, 0, C).kind, 'best');
  assert.equal(judgeEvaluation(0.5, best, 0, C).kind, 'ok');
});

test('a fall below half the best rolls back to it, and stops the run after --max-collapses', () => {
  const v = judgeEvaluation(0.3, best, 0, C);
  assert.deepEqual(v.kind === 'rollback' && v.to_round, 10);
  assert.match(v.kind === 'rollback' ? v.why : '', /evaluation success 30% fell below 40% \(the best, 80% at round 10/);
  const s = judgeEvaluation(0.3, best, 2, C);
  assert.equal(s.kind, 'stop');
  assert.match(
    s.kind === 'stop' ? s.why : '',
    /collapse 3, more than --max-collapses 2; the best residual \(round 10\)/,
  );
  // a best too low to judge a collapse by
  assert.equal(judgeEvaluation(0, { round: 3, success: 0.2 }, 0, C).kind, 'ok');
});
