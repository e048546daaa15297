// The Dynamixel framer under fuzz (bench/fuzz-framer.ts): every valid packet out once, in order, nothing else,
// whatever garbage surrounds it and however the reads are cut. VLA_FUZZ_SEED repeats a failing run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { breakEveryCrc, framerCase, fuzzFramer, validPacketsIn } from '../bench/fuzz-framer.js';
import { InstructionWriter } from '../protocols/dynamixel/instructions.js';

const SEED = Number(process.env.VLA_FUZZ_SEED ?? 1);

test('the case generator: reproducible, and its garbage holds no valid packet', () => {
  assert.deepEqual(framerCase(3, 9), framerCase(3, 9));
  const ping = Buffer.from(new InstructionWriter().ping(1));
  assert.deepEqual(validPacketsIn(Buffer.concat([Buffer.from([1, 2]), ping])), [2]);
  assert.deepEqual(validPacketsIn(breakEveryCrc(Buffer.concat([ping, ping]))), []);
});

test('500 cases: every valid packet found exactly once, in order; no exception; partial packets go stale', () => {
  const r = fuzzFramer({ cases: 500, seed: SEED });
  assert.deepEqual(r.failures, [], `seed ${SEED}`);
  assert.equal(r.packets_found, r.packets_expected);
  assert.ok(r.packets_expected > 1000, JSON.stringify(r));
  assert.ok(r.crc_errors > 100 && r.garbage_bytes > 10_000 && r.stale_drops > 50, JSON.stringify(r));
});
