import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimDriver } from '../drivers/sim/sim-driver.js';
import { ExpertPolicy } from '../src/policy/expert-policy.js';
import { OnnxPolicy } from '../src/policy/onnx/onnx-policy.js';
import { writeTestPolicy } from '../src/policy/onnx/model-writer.js';
import { VirtualClockRuntime } from '../src/runtime/virtual-clock.js';
import { RealtimeRuntime } from '../src/runtime/realtime.js';
import type { RuntimeOptions } from '../src/runtime/runtime-types.js';

const opts = (latency_ms: number): RuntimeOptions => ({ blend: 'replace', margin_ticks: 2, injected: { base_ms: latency_ms, jitter_ms: 0 } });

async function expertRun(latency_ms: number, episodes: number) {
  const driver = await SimDriver.create({ robot: 'ur5e', task: 'pick-place', clock: 'fast' });
  const rt = new VirtualClockRuntime(driver, new ExpertPolicy(driver.env.robot, 'pick-place', { control_hz: 50 }), opts(latency_ms));
  let successes = 0;
  for (let s = 0; s < episodes; s++) if ((await rt.runEpisode(s)).success) successes++;
  const report = rt.report();
  await driver.disconnect();
  return { rate: successes / episodes, report };
}

test('300 ms of injected latency: 0 underruns, 0 stale actions, success within 5 points of no latency', async () => {
  const base = await expertRun(0, 6);
  const slow = await expertRun(300, 6);
  assert.equal(slow.report.control.underruns, 0);
  assert.equal(slow.report.control.stale_actions_executed, 0);
  assert.ok(Math.abs(slow.rate - base.rate) <= 0.05, `success ${slow.rate} vs ${base.rate} without latency`);
  assert.ok(slow.report.latency.summary().p50 >= 300, 'the latency was not applied');
  assert.ok(slow.report.buffer.chunks > 6 * 5);
});

test('450 ms of injected latency: still 0 stale actions', async () => {
  const r = await expertRun(450, 3);
  assert.equal(r.report.control.stale_actions_executed, 0);
  assert.equal(r.report.control.underruns, 0);
});

test('a model with a fixed offset drops the stale prefix of every chunk by its arrival tick', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-rt-'));
  const driver = await SimDriver.create({ robot: 'ur5e', task: 'pick-place', clock: 'fast' });
  try {
    const model = join(dir, 'm.onnx');
    await writeTestPolicy(model, { name: 'fixed', cameras: [{ name: 'top', width: 32, height: 32 }], state_dim: 7, horizon: 25, action_dim: 7, mode: 'net', seed: 1 });
    const policy = await OnnxPolicy.load(model);
    const rt = new VirtualClockRuntime(driver, policy, opts(100));
    await rt.runEpisode(0, undefined, 120);
    const r = rt.report();
    await policy.close();
    // 100 ms = 5 ticks: each chunk loses at least its first 5 actions, none of which may execute
    assert.ok(r.buffer.dropped_prefix_actions >= 5 * r.buffer.chunks, `${r.buffer.dropped_prefix_actions} dropped over ${r.buffer.chunks} chunks`);
    assert.equal(r.control.stale_actions_executed, 0);
    assert.equal(r.control.ticks, 120);
  } finally {
    await driver.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a NaN chunk is rejected whole and the robot holds where it is', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-rt-'));
  const driver = await SimDriver.create({ robot: 'ur5e', task: 'pick-place', clock: 'fast' });
  try {
    const model = join(dir, 'nan.onnx');
    await writeTestPolicy(model, { name: 'nan', cameras: [], state_dim: 7, horizon: 25, action_dim: 7, mode: 'nan', seed: 1 });
    const policy = await OnnxPolicy.load(model);
    const before = Float64Array.from(driver.env.readState(driver.env.newState()).position_rad);
    const rt = new VirtualClockRuntime(driver, policy, opts(0));
    const out = await rt.runEpisode(0);
    await policy.close();
    assert.match(out.fault ?? '', /rejected a chunk from the policy: .*NaN/);
    const r = rt.report();
    assert.equal(r.safety.rejected_chunks, 1);
    assert.equal(r.safety.holds, 1);
    assert.equal(r.buffer.chunks, 0);
    const after = driver.env.readState(driver.env.newState()).position_rad;
    for (let j = 0; j < 6; j++) assert.ok(Math.abs(after[j] - before[j]) < 1e-3, `joint ${j} moved`);
  } finally {
    await driver.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a killed inference worker ends the episode in a hold with a clear error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-rt-'));
  const driver = await SimDriver.create({ robot: 'ur5e', task: 'pick-place', clock: 'fast' });
  try {
    const model = join(dir, 'm.onnx');
    await writeTestPolicy(model, { name: 'net', cameras: [], state_dim: 7, horizon: 25, action_dim: 7, mode: 'constant', constant: new Array(25 * 7).fill(0), seed: 1 });
    const policy = await OnnxPolicy.load(model);
    const rt = new VirtualClockRuntime(driver, policy, opts(0));
    let killed = false;
    const out = await rt.runEpisode(0, { tick: (_s, _c, k) => { if (k === 30 && !killed) { killed = true; policy.crashWorkerForTest('exit'); } } });
    await policy.close();
    assert.ok(killed);
    assert.match(out.fault ?? '', /inference failed/);
    assert.equal(rt.report().safety.holds, 1);
    assert.ok(out.ticks >= 30 && out.ticks < 60, `ran ${out.ticks} ticks after the crash`);
  } finally {
    await driver.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
});

test('real clock: the control thread runs the episode, every action at its own tick', async () => {
  const policy = new ExpertPolicy((await SimDriver.create({ robot: 'ur5', clock: 'fast' })).env.robot, 'pick-place', { control_hz: 50 });
  const rt = await RealtimeRuntime.start({ kind: 'sim', robot: 'ur5', task: 'pick-place' }, policy, { ...opts(0), control_hz: 50 });
  const states: number[] = [];
  const out = await rt.runEpisode(0, { tick: (s) => { states.push(s.tick); } }, 60);
  const r = await rt.stop();
  assert.ok(out.ticks >= 60 && out.ticks < 70);
  assert.equal(r.control.stale_actions_executed, 0);
  assert.ok(r.buffer.chunks >= 2);
  assert.ok(r.jitter_ms.length >= 60);
  // states arrive once per tick, in order
  for (let i = 1; i < states.length; i++) assert.equal(states[i], states[i - 1] + 1);
});
