import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { holdCpuWakeLatency, parseCpuWakeLatency } from '../src/runtime/cpu-wake-latency.js';

test(
  'cpu wake-up latency: the cap is written as a binary 32-bit value and held until release; a device that cannot ' +
    'be opened says why',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vla-pmqos-'));
    try {
      // a regular file stands in for /dev/cpu_dma_latency: what the kernel would read is what lands in it
      const dev = join(dir, 'cpu_dma_latency');
      await writeFile(dev, '');
      const hold = holdCpuWakeLatency(20, dev);
      if (process.platform !== 'linux') {
        assert.equal(hold.held_us, null);
        return;
      }
      assert.equal(hold.held_us, 20);
      assert.equal(hold.why_not, undefined);
      assert.deepEqual([...(await readFile(dev))], [20, 0, 0, 0]);
      hold.release();
      hold.release(); // twice is harmless

      const missing = holdCpuWakeLatency(0, join(dir, 'no-such-device'));
      assert.equal(missing.held_us, null);
      assert.match(missing.why_not!, /cannot open .*no-such-device: ENOENT/);
      missing.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.throws(() => holdCpuWakeLatency(-1), RangeError);
    assert.throws(() => holdCpuWakeLatency(1.5), RangeError);
  },
);

test('cpu wake-up latency flag: whole µs or off', () => {
  assert.equal(parseCpuWakeLatency('0'), 0);
  assert.equal(parseCpuWakeLatency('50'), 50);
  assert.equal(parseCpuWakeLatency('off'), null);
  for (const bad of ['', '-1', '1.5', 'auto', '1e3'])
    assert.throws(() => parseCpuWakeLatency(bad), /whole number of µs or 'off'/);
});
