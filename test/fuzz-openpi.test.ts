// vla-serve --protocol openpi under fuzz over real WebSockets (bench/fuzz-openpi.ts). VLA_FUZZ_SEED repeats a run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzOpenpi } from '../bench/fuzz-openpi.js';

const SEED = Number(process.env.VLA_FUZZ_SEED ?? 1);

test('the openpi server refuses 300 fuzz cases one by one, counts them, and still serves', async () => {
  const r = await fuzzOpenpi({ cases: 300, seed: SEED });
  const why = `seed ${SEED}: ${JSON.stringify(r)}`;
  assert.equal(r.crashes, 0, why);
  assert.ok(r.after.values > 0 && r.after.finite, why);
  // no bad observation (a NaN state, a 0x0 image...) was served actions
  assert.deepEqual(r.served_bad, [], why);
  assert.ok(r.sent.error > 80, why);
  // every message that arrived (oversized ones are cut off unread) was answered: actions or an error
  assert.equal(r.server.requests, r.cases - r.sent.oversized + 1, why);
  assert.equal(r.server.replies + r.server.errors, r.server.requests, why);
  assert.ok(r.server.errors >= r.sent.error && r.server.errors <= r.sent.error + r.sent.other, why);
});
