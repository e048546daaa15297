// The sim link of `vla-sim dynamixel` under fuzz through a real ZeroMQ REQ (bench/fuzz-simlink.ts).
// VLA_FUZZ_SEED repeats a failing run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzSimLink, simLinkCase } from '../bench/fuzz-simlink.js';

const SEED = Number(process.env.VLA_FUZZ_SEED ?? 1);

test('cases are reproducible and cover every kind', () => {
  assert.deepEqual(simLinkCase(2, 11), simLinkCase(2, 11));
  const kinds = new Set(Array.from({ length: 1000 }, (_, i) => simLinkCase(SEED, i).kind));
  assert.deepEqual([...kinds].sort(), ['bad', 'failed', 'other', 'oversized']);
});

test('the sim link survives 400 cases, refuses and counts each bad one, and nothing changes', async () => {
  const r = await fuzzSimLink({ cases: 400, seed: SEED });
  const why = `seed ${SEED}: ${JSON.stringify(r)}`;
  assert.equal(r.crashes, 0, why);
  assert.deepEqual(r.changed, [], why);
  assert.ok(r.faults_unchanged, why);
  // every request that arrived was counted: the fuzz cases (oversized ones never arrive) + 3 of the check's own
  assert.equal(r.server.requests, r.cases - r.sent.oversized + 3, why);
  assert.ok(r.server.bad_requests >= r.sent.bad && r.server.bad_requests <= r.sent.bad + r.sent.other, why);
  assert.ok(r.server.failed >= r.sent.failed, why);
  assert.ok(r.sent.bad > 100 && r.sent.failed > 10, why);
});
