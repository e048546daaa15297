// `vla-sim dynamixel` under fuzz through its real pseudo-terminals (bench/fuzz-dynamixel.ts): garbage and
// CRC-broken goal writes, torque-offs, REBOOTs, FACTORY_RESETs. VLA_FUZZ_SEED repeats a failing run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dynamixelCase, fuzzDynamixelSerial } from '../bench/fuzz-dynamixel.js';
import { validPacketsIn } from '../bench/fuzz-framer.js';

const SEED = Number(process.env.VLA_FUZZ_SEED ?? 1);

test('every case is reproducible and holds no packet with a valid CRC', () => {
  assert.deepEqual(dynamixelCase(5, 17), dynamixelCase(5, 17));
  for (let i = 0; i < 2000; i++) assert.deepEqual(validPacketsIn(dynamixelCase(SEED, i)), [], `case ${i}`);
});

test('the emulator survives 400 cases: every servo answers at once, nothing moved, no garbage taken', async () => {
  const r = await fuzzDynamixelSerial({ cases: 400, seed: SEED });
  const why = `seed ${SEED}: ${JSON.stringify(r)}`;
  assert.equal(r.crashes, 0, why);
  assert.deepEqual(r.changed, [], why);
  // every attempt the bus made (retries after a slow reply on a loaded machine included) reached the emulator as
  // a request, and nothing else did: no garbage was taken for a request, none swallowed a real one
  assert.deepEqual(r.emulator_requests, r.valid_requests, why);
  assert.ok(r.bytes_sent > 20_000, why);
});
