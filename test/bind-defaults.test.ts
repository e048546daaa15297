// Every server the project runs binds loopback unless told otherwise, says where it listens, and warns, naming
// the risk, when it is told to listen beyond this machine without authentication. Real processes and sockets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startChild } from '../bench/fuzz-child.js';
import { parseOpenpiBind } from '../src/policy/remote/openpi-server.js';
import { residualManifestFor } from '../src/policy/residual/residual-draft.js';
import { type PoolEvent, ZmqPool } from '../src/rl/zmq-pool.js';
import { loadRobot } from '../src/robot/index.js';

const MODEL = new URL('../../models/ur5e-pick-place.onnx', import.meta.url).pathname;
const warnings = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.includes('"level":40'))
    .join('\n');

/** The warning is logged just after the ready line: wait for it (a signal before it would kill the process first). */
async function warned(stderr: () => string, timeout_ms = 5000): Promise<void> {
  const end = performance.now() + timeout_ms;
  while (!warnings(stderr()) && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
}

test('vla-sim serve: loopback by default and says so; 0.0.0.0 warns that anyone can move the robot', async () => {
  const base = ['serve', '--robot', 'ur5e', '--rosbridge', '0', '--camera-hz', '0', '--json'];
  const local = await startChild('vla-sim.js', base);
  const wide = await startChild('vla-sim.js', [...base, '--host', '0.0.0.0']);
  try {
    await warned(wide.stderr);
    assert.match(String(local.ready.url), /^ws:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(local.ready.loopback_only, true);
    assert.equal(local.ready.max_message_bytes, 1 << 20);
    assert.equal(wide.ready.loopback_only, false);
    assert.match(String(wide.ready.url), /^ws:\/\/0\.0\.0\.0:\d+$/);
  } finally {
    const [l, w] = [await local.stop(), await wide.stop()];
    assert.equal(warnings(l.stderr), '');
    assert.match(warnings(w.stderr), /beyond this machine, without authentication: anyone who reaches the port/);
  }
});

test("vla-serve (zmq and openpi): another interface without a key warns; openpi's default is loopback", async () => {
  assert.deepEqual(parseOpenpiBind(undefined), { host: '127.0.0.1', port: 8000 });
  assert.deepEqual(parseOpenpiBind('9000'), { host: '127.0.0.1', port: 9000 });
  const zmq = await startChild('vla-serve.js', ['--policy', MODEL, '--bind', 'tcp://0.0.0.0:0', '--json']);
  await warned(zmq.stderr);
  const z = await zmq.stop();
  const openpiArgs = ['--protocol', 'openpi', '--policy', MODEL, '--bind', '0.0.0.0:0', '--json'];
  const openpi = await startChild('vla-serve.js', openpiArgs);
  await warned(openpi.stderr);
  const o = await openpi.stop();
  assert.match(String(openpi.ready.url), /^ws:\/\/0\.0\.0\.0:\d+$/);
  assert.match(String(zmq.ready.endpoint), /^tcp:\/\/0\.0\.0\.0:\d+$/);
  assert.match(warnings(z.stderr), /reachable from other machines and CURVE is off: anyone who reaches it/);
  assert.match(warnings(o.stderr), /reachable from other machines without a key: anyone who reaches it/);
});

test('the RL learner: tcp://0.0.0.0 without CURVE warns; loopback does not', async () => {
  const description = await loadRobot('ur5e');
  const manifest = await residualManifestFor(description, {
    name: 'bind',
    base_path: MODEL,
    base_horizon: 25,
    hidden: [16],
    every_ticks: 5,
  });
  const setup = {
    description,
    task: 'pick-place' as const,
    base_path: MODEL,
    manifest,
    latency_model: { kind: 'fixed' as const, ms: 40 },
    seed: 0,
    actor_sizes: [15, 16, 14],
  };
  for (const [bind, warned] of [
    ['tcp://127.0.0.1:0', false],
    ['tcp://0.0.0.0:0', true],
  ] as const) {
    const events: PoolEvent[] = [];
    const pool = await ZmqPool.start({ bind, setup, on_event: (e) => events.push(e) });
    await pool.close();
    const warning = events.find((e) => e.type === 'warning');
    assert.equal(warning !== undefined, warned, `${bind}: ${JSON.stringify(events)}`);
    if (warned) assert.match(JSON.stringify(warning), /anyone who reaches it can take jobs/);
  }
});
