import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EpisodeEnd } from '../src/cli/run/episodes.js';
import { failureOutcome } from '../src/cli/run/summary.js';
import type { EpisodeOutcome } from '../src/runtime/runtime-types.js';

type Episode = EpisodeOutcome & { end: EpisodeEnd };
const episode = (end: EpisodeEnd, to_target_m?: number, lifted = false): Episode => ({
  seed: 0,
  success: end === 'success',
  ticks: 400,
  end,
  ...(to_target_m === undefined ? {} : { task_outcome: { cube_to_target_m: to_target_m, cube_lifted: lifted } }),
});

test('failure outcome: medians and flag counts over the failed episodes only', () => {
  const f = failureOutcome([
    episode('success', 0.01, true),
    episode('failure', 0.2),
    episode('failure', 0.06, true),
    episode('failure', 0.08),
    episode('truncated', 0.5, true),
  ]);
  assert.deepEqual(f, { failures: 3, median: { cube_to_target_m: 0.08 }, flagged: { cube_lifted: 1 } });
});

test('failure outcome: none without failed episodes that carry task figures (a robot has none)', () => {
  assert.equal(failureOutcome([episode('success', 0.01), episode('failure')]), undefined);
  assert.equal(failureOutcome([]), undefined);
});
