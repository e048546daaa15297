// vla-latency: the latency-budget arithmetic against what the sim measured, and the command on small test models
// (behaviour only: no assertion depends on how fast this machine is).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { latencyBudget, quantilesOf, toleratedDelayTicks } from '../src/latency/budget.js';
import { writeTestPolicy } from '../src/policy/onnx/model-writer.js';

const BIN = resolve(import.meta.dirname, '../../bin/vla-latency.js');
const dir = await mkdtemp(join(tmpdir(), 'vla-latency-'));
test.after(() => rm(dir, { recursive: true, force: true }));

function vlaLatency(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const UR5E_BLIND = { cameras: [], state_dim: 7, horizon: 10, action_dim: 7, seed: 3, robot: 'ur5e' };

test('tolerated latency for H 25, offset 1, margin 2 lands in the ranges measured on the virtual clock', () => {
  const ms = (n: number) => toleratedDelayTicks(25, 1, 2, n) * 20;
  // README: 0 underruns up to 200-240 ms with 1 in flight, 280-300 with 2, about 340 with 4
  assert.ok(ms(1) >= 200 && ms(1) <= 240, `1 in flight: ${ms(1)} ms`);
  assert.ok(ms(2) >= 280 && ms(2) <= 300, `2 in flight: ${ms(2)} ms`);
  assert.ok(ms(4) >= 330 && ms(4) <= 370, `4 in flight: ${ms(4)} ms`);
  assert.ok(ms(1) < ms(2) && ms(2) < ms(4), 'more in flight tolerates more');
  assert.equal(toleratedDelayTicks(25, 1, 0, 1), toleratedDelayTicks(25, 1, 6, 1), 'one in flight: margin is free');
  assert.equal(toleratedDelayTicks(1, 1, 2, 1), 0, 'a one-action chunk absorbs no latency');
});

test('delay, trigger, dropped prefix and verdict from given samples', () => {
  // 100 samples 101..200 ms: p90 is 190.1 ms -> 10 ticks at 50 Hz; the 900 ms warm-up does not count
  const samples = Array.from({ length: 100 }, (_, i) => 101 + i);
  const input = { latencies_ms: samples, warmup_ms: 900, hz: 50, horizon: 25, action_offset: 1, margin: 2 };
  const b = latencyBudget({ ...input, max_in_flight: 1 });
  assert.equal(b.delay_ticks, 10);
  assert.equal(b.trigger_ticks, 12);
  assert.equal(b.dropped_prefix, 10);
  assert.equal(b.chunk_ms, 500);
  assert.equal(b.tolerated_ms, 240);
  assert.deepEqual(quantilesOf(samples), { n: 100, p50: 150.5, p90: 190.1, p99: 199.01, max: 200 });
  assert.equal(b.verdict, 'warn', b.reason); // p99 199 ms is 83% of 240
  assert.equal(b.safety_factor, 2.51);
  assert.equal(latencyBudget({ ...input, max_in_flight: 2 }).verdict, 'pass');
  const slow = latencyBudget({ ...input, latencies_ms: samples.map((x) => x + 150), max_in_flight: 1 });
  assert.equal(slow.verdict, 'fail');
  assert.match(slow.reason, /exceeds the 240 ms tolerated with 1 in flight/);
});

test('a small model: exit 0, one JSON object with the stages, the budget and the simulation', async () => {
  const model = join(dir, 'blind.onnx');
  await writeTestPolicy(model, { ...UR5E_BLIND, name: 'blind' });
  const r = vlaLatency('--robot', 'ur5e', '--policy', model, '--calls', '20', '--simulate', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  const out = JSON.parse(lines[0]);
  assert.equal(out.exit_code, 0);
  assert.equal(out.calls, 20);
  assert.equal(out.policy.horizon, 10);
  assert.equal(out.stages.total.n, 20);
  assert.ok('policy (infer_ms)' in out.stages);
  for (const k of ['p50', 'p90', 'p99', 'max']) assert.equal(typeof out.stages.total[k], 'number');
  assert.equal(typeof out.warmup_ms, 'number');
  for (const k of ['chunk_ms', 'delay_ticks', 'trigger_ticks', 'dropped_prefix', 'tolerated_ms', 'safety_factor'])
    assert.equal(typeof out.budget[k], 'number', k);
  assert.equal(out.budget.chunk_ms, 200);
  assert.equal(out.budget.tolerated_ms, 80, 'H 10, 1 in flight: d < 5, so 4 ticks');
  assert.notEqual(out.budget.verdict, 'fail');
  assert.equal(out.simulation.episodes, 1);
  assert.equal(out.simulation.error, undefined);
  assert.ok(out.simulation.ticks > 0);
  assert.equal(typeof out.simulation.underruns, 'number');
  assert.match(out.simulation.command, /--latency-model samples:/);
});

test('a chunk too short for any latency fails (exit 1) with the reason', async () => {
  // H 1, offset 1: the only action is for the tick after the observation, and a chunk that takes any time at all
  // lands at that tick or later (the runtime plans with ceil(latency / dt) >= 1 tick), so the tolerated
  // latency is 0 on every machine; --hz 1000 (the model's rate) makes it 1 ms of chunk against any real latency
  const model = join(dir, 'one-step.onnx');
  await writeTestPolicy(model, { ...UR5E_BLIND, name: 'one-step', horizon: 1, control_hz: 1000 });
  const r = vlaLatency('--robot', 'ur5e', '--policy', model, '--hz', '1000', '--calls', '10');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^FAIL: .*tolerated 0 ms/m);
  assert.match(r.stdout, /chunk +H x dt = 1 x 1 = 1 ms/);
});

test('a model for another robot is refused (exit 2), as vla-run refuses it', async () => {
  const model = join(dir, 'ur5.onnx');
  await writeTestPolicy(model, { ...UR5E_BLIND, name: 'ur5-blind', robot: 'ur5' });
  const r = vlaLatency('--robot', 'ur5e', '--policy', model, '--json');
  assert.equal(r.code, 2, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  assert.equal(out.exit_code, 2);
  assert.match(out.error, /robot: expected ur5e, found ur5/);
});

test('--out writes the histogram as PNG and HTML, and the report says where', async () => {
  const model = join(dir, 'cam.onnx');
  await writeTestPolicy(model, { ...UR5E_BLIND, name: 'cam', cameras: [{ name: 'top', width: 32, height: 32 }] });
  const out = join(dir, 'report');
  const r = vlaLatency('--robot', 'ur5e', '--policy', model, '--calls', '10', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const png = join(out, 'cam-latency.png');
  const html = join(out, 'cam-latency.html');
  assert.ok(existsSync(png) && statSync(png).size > 1000);
  assert.deepEqual([...(await readFile(png)).subarray(1, 4)], [...Buffer.from('PNG')]);
  assert.match(await readFile(html, 'utf8'), /<svg[\s\S]*tolerated/);
  assert.ok(r.stdout.includes(png) && r.stdout.includes(html), r.stdout);
  assert.match(r.stdout, /^(PASS|WARN): /m);
});
