// vla-serve under fuzz through a real ZeroMQ DEALER (bench/fuzz-vla-serve.ts). VLA_FUZZ_SEED repeats a run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzVlaServe } from '../bench/fuzz-vla-serve.js';

const SEED = Number(process.env.VLA_FUZZ_SEED ?? 1);

test('vla-serve answers 400 fuzz cases with typed errors, counts them, and still serves a valid request', async () => {
  const r = await fuzzVlaServe({ cases: 400, seed: SEED });
  const why = `seed ${SEED}: ${JSON.stringify(r)}`;
  assert.equal(r.crashes, 0, why);
  assert.ok(r.after.values > 0 && r.after.finite, why);
  // each case the fuzzer made bad on purpose got the error code of its kind (a NaN state: bad_request)
  assert.deepEqual(r.mismatched, [], why);
  assert.ok(r.sent.malformed > 50 && r.sent.bad_request > 50 && r.sent.version > 10, why);
  // what the fuzzer knows it caused; mutated headers ('other') may add to any of them
  const upTo = (code: keyof typeof r.sent) => r.sent[code] + r.sent.other;
  for (const code of ['malformed', 'version', 'bad_request'] as const) {
    const n = r.rejected[code] ?? 0;
    assert.ok(n >= r.sent[code] && n <= upTo(code), `${code}: ${why}`);
  }
  assert.equal(r.rejected.too_large ?? 0, r.sent.too_large, why);
});
