// The RL learner's ROUTER under fuzz through real ZeroMQ DEALERs (bench/fuzz-learner.ts). VLA_FUZZ_SEED repeats.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzLearner } from '../bench/fuzz-learner.js';

const SEED = Number(process.env.VLA_FUZZ_SEED ?? 1);

test('the learner drops 400 fuzzed messages, counts them, and takes only the valid result', async () => {
  const r = await fuzzLearner({ cases: 400, seed: SEED });
  const why = `seed ${SEED}: ${JSON.stringify(r)}`;
  assert.ok(r.episode_is_the_valid_one, why);
  assert.equal(r.counters.episodes, 1, why);
  const m = r.counters.malformed;
  // each kind the fuzzer sent on purpose is counted under it; mutated headers ('other') may add to any
  for (const kind of ['not_json', 'version', 'schema', 'result'] as const) {
    const n = m[kind] ?? 0;
    assert.ok(n >= r.sent[kind] && n <= r.sent[kind] + r.sent.other, `${kind}: ${why}`);
  }
  const ignored = r.counters.stale_results + r.counters.duplicate_results;
  assert.ok(ignored >= r.sent.ignored && ignored <= r.sent.ignored + r.sent.other, why);
  assert.ok(r.sent.result > 100, why);
});
