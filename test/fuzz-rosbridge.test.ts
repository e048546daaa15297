// The rosbridge endpoint of `vla-sim serve` under fuzz (bench/fuzz-rosbridge.ts): a bounded number of cases here,
// many more in `VLA_BENCH_ONLY=fuzz node dist/bench/run.js`. VLA_FUZZ_SEED repeats a failing run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzRosbridge, rosbridgeCase } from '../bench/fuzz-rosbridge.js';

const SEED = Number(process.env.VLA_FUZZ_SEED ?? 1);

test('cases are reproducible from (seed, index) and cover every kind', () => {
  assert.deepEqual(rosbridgeCase(7, 42), rosbridgeCase(7, 42));
  const kinds = new Set(Array.from({ length: 2000 }, (_, i) => rosbridgeCase(SEED, i).kind));
  assert.deepEqual([...kinds].sort(), ['bad_motion', 'binary', 'not_json', 'other', 'oversized']);
});

test('vla-sim serve survives 400 fuzz cases, nothing moves, and every drop is counted', async () => {
  const r = await fuzzRosbridge({ cases: 400, seed: SEED });
  const why = `seed ${SEED}: ${JSON.stringify(r)}`;
  assert.equal(r.crashes, 0, why);
  assert.ok(r.exit_code === 0 || r.exit_code === 130, why);
  // the cell accepted no command, and the arm stayed where it was
  assert.equal(r.commands_received, 0, why);
  assert.ok(r.max_joint_change_rad < 1e-3, why);
  // the server's counters agree with what the fuzzer knows it sent
  assert.ok(r.sent.bad_motion > 50 && r.sent.not_json > 50 && r.sent.binary > 5, why);
  assert.equal(r.dropped_in.not_json, r.sent.not_json, why);
  assert.equal(r.dropped_in.binary, r.sent.binary, why);
  assert.equal(r.dropped_in.oversized, r.sent.oversized, why);
  assert.ok(r.dropped_in.refused >= r.sent.bad_motion, why);
  assert.ok(r.dropped_in.bad_request > 0, why);
});
