// The serial link under a Dynamixel bus, on a real pseudo-terminal pair: after the far end hangs up (an
// adapter unplugged), the link reports it once and close() still releases the device.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SerialLink } from '../drivers/dynamixel/serial-link.js';
import { createPtyPair } from '../sim/dynamixel/pty-pair.js';

test('a hang-up: reported once as a failure, and close() still calls back', { timeout: 20_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-link-'));
  try {
    const pair = await createPtyPair(dir, 'arm');
    const link = await SerialLink.open('left arm', pair.user_path, 1_000_000);
    const got: number[] = [];
    const failures: (Error | undefined)[] = [];
    link.listen({ bytes: (b, n) => got.push(...b.subarray(0, n)), closed: (err) => failures.push(err) });
    pair.write(Uint8Array.of(1, 2, 3));
    while (got.length < 3) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, [1, 2, 3]);
    await pair.close();
    while (failures.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.ok(failures[0] instanceof Error, 'the hang-up is a failure, with its reason');
    await new Promise<void>((resolve) => link.close(resolve));
    assert.equal(failures.length, 1, 'reported once');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
