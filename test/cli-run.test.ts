import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { writeTestPolicy } from '../src/policy/onnx/model-writer.js';
import { readEpisode } from '../src/recording/index.js';

const BIN = resolve(import.meta.dirname, '../../bin/vla-run.js');

function vlaRun(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('bad usage exits 2 with the valid values and never starts the robot', () => {
  for (const [args, message] of [
    [['--robot', 'ur5'], /add --sim/],
    [['--robot', 'ur7', '--sim'], /valid: ur5, ur5e, aloha/],
    [['--robot', 'ur5', '--sim', '--blend', 'mix'], /valid: replace, ensemble, average/],
    [['--robot', 'ur5', '--sim', '--clock', 'slow'], /valid: realtime, fast/],
    [['--robot', 'ur5', '--sim', '--delay', 'soon'], /--delay must be an integer/],
    [['--robot', 'ur5', '--sim', '--inject-latency-ms', '300ms'], /N or N:JITTER/],
    [['--robot', 'ur5', '--sim', '--policy', '/nonexistent/model.onnx'], /model\.onnx/],
    [['--robot', 'ur5', '--sim', '--cpu-wake-latency-us', '1.5'], /whole number of µs or 'off'/],
    [['--robot', 'ur5', '--sim', '--clock', 'fast', '--cpu-wake-latency-us', '0'], /for real-time runs/],
  ] as const) {
    const r = vlaRun(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '', 'nothing may run on bad input');
  }
});

test('a model that does not fit the robot: exit 2 with expected vs found, before any motion', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cli-'));
  try {
    const model = join(dir, 'aloha.onnx');
    await writeTestPolicy(model, {
      name: 'act-aloha',
      cameras: [{ name: 'left_wrist', width: 32, height: 32 }],
      state_dim: 14,
      horizon: 25,
      action_dim: 14,
      mode: 'net',
      seed: 1,
    });
    const r = vlaRun('--robot', 'ur5e', '--sim', '--policy', model);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /action dimension: expected 7 \(robot ur5e\), found 14/);
    assert.match(r.stderr, /camera: expected one of top, wrist .* found 'left_wrist'/);
    assert.equal(r.stdout, '');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--json prints exactly one object with the summary fields; --record writes the episode', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cli-'));
  try {
    const file = join(dir, 'run.mcap');
    const r = vlaRun(
      '--robot',
      'ur5',
      '--sim',
      '--policy',
      'expert',
      '--clock',
      'fast',
      '--episodes',
      '2',
      '--inject-latency-ms',
      '200:20',
      '--record',
      file,
      '--record-size',
      '24',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const s = JSON.parse(lines[0]);
    for (const k of ['robot', 'sim', 'policy', 'episodes', 'successes', 'success_rate']) assert.ok(k in s, k);
    for (const k of ['hz', 'ticks', 'underruns', 'overruns', 'jitter_ms']) assert.ok(k in s.control, `control.${k}`);
    assert.equal(s.control.cpu_wake_latency_us, null, 'a sim run caps no CPU wake-up latency unless asked');
    for (const k of ['calls', 'latency_ms']) assert.ok(k in s.inference, `inference.${k}`);
    for (const k of ['chunks', 'late_chunks', 'dropped_prefix_actions', 'stale_actions_executed', 'seam_jump_ratio'])
      assert.ok(k in s.buffer, `buffer.${k}`);
    for (const k of ['clamped_actions', 'rejected_chunks']) assert.ok(k in s.safety, `safety.${k}`);
    for (const k of ['stops', 'driver_faults', 'underrun_ticks']) assert.ok(k in s.holds, `holds.${k}`);
    assert.equal(s.episodes, 2);
    assert.equal(s.buffer.stale_actions_executed, null, 'measured with --policy tick-stamp only');
    assert.ok(s.inference.latency_ms.p50 >= 180);
    const ep = await readEpisode(join(dir, 'run-seed0.mcap'));
    assert.equal(ep.meta.robot, 'ur5');
    assert.equal(ep.ticks, s.episodes_detail[0].ticks);
    // fast clock: every camera of the robot, one frame per recorded tick, at --record-size
    assert.deepEqual(ep.meta.cameras, [
      { name: 'top', width: 24, height: 24 },
      { name: 'wrist', width: 24, height: 24 },
    ]);
    assert.equal(ep.frames.top.rgb.length, ep.ticks);
    assert.ok(
      ep.frames.wrist.rgb[0].some((v) => v !== ep.frames.wrist.rgb[0][0]),
      'a rendered frame, not a blank',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a NaN chunk: hold, a clear error, exit 1, and the summary is still printed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cli-'));
  try {
    const model = join(dir, 'nan.onnx');
    await writeTestPolicy(model, {
      name: 'nan',
      cameras: [],
      state_dim: 7,
      horizon: 25,
      action_dim: 7,
      mode: 'nan',
      seed: 1,
    });
    const r = vlaRun('--robot', 'ur5e', '--sim', '--policy', model, '--clock', 'fast', '--json');
    assert.equal(r.code, 1, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.match(s.fault, /NaN/);
    assert.equal(s.holds.stops, 1);
    assert.equal(s.safety.rejected_chunks, 1);
    assert.equal(s.inference.calls, 1, 'the call whose chunk was rejected is a call');
    assert.equal(s.episode_ends.fault, 1);
    assert.equal(s.success_rate, null, 'an episode stopped by a fault is not scored');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--policy tick-stamp: every executed action is read back; none ran at another tick (fast and real time)', () => {
  for (const clock of ['fast', 'realtime']) {
    const r = vlaRun(
      '--robot',
      'ur5e',
      '--sim',
      '--policy',
      'tick-stamp',
      '--clock',
      clock,
      '--duration',
      '2',
      '--inject-latency-ms',
      '120',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.buffer.stale_actions_executed, 0, clock);
    assert.ok(s.buffer.chunks >= 4, `${clock}: ${s.buffer.chunks} chunks`);
  }
});

test('--clock fast repeats exactly: the latency model the summary prints gives the same run again', () => {
  const first = vlaRun('--robot', 'ur5e', '--sim', '--clock', 'fast', '--episodes', '2', '--json');
  assert.equal(first.code, 0, first.stderr);
  const a = JSON.parse(first.stdout);
  assert.match(a.inference.latency_model, /^samples:[\d.,]+$/, 'measured at start-up, printed as a flag value');
  const second = vlaRun(
    '--robot',
    'ur5e',
    '--sim',
    '--clock',
    'fast',
    '--episodes',
    '2',
    '--latency-model',
    a.inference.latency_model,
    '--json',
  );
  assert.equal(second.code, 0, second.stderr);
  const b = JSON.parse(second.stdout);
  assert.deepEqual(b.episodes_detail, a.episodes_detail);
  assert.deepEqual(b.buffer, a.buffer);
  assert.equal(b.control.ticks, a.control.ticks);
  assert.equal(b.inference.latency_model, a.inference.latency_model);
});

test('push in the sim: each episode says where the cube ended; a success is a cube that reached the disc', async () => {
  const args = ['--robot', 'ur5e', '--task', 'push', '--sim', '--clock', 'fast', '--seed', '10000', '--episodes', '8'];
  const dir = await mkdtemp(join(tmpdir(), 'vla-figures-'));
  const r = vlaRun(...args, '--latency-model', 'fixed:5', '--json', '--record', dir, '--record-cameras', 'none');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  // the recordings keep the same figures (vla-sim inspect prints them)
  for (const e of s.episodes_detail)
    assert.deepEqual((await readEpisode(join(dir, `ur5e-push-seed${e.seed}.mcap`))).task_outcome, e.task_outcome);
  await rm(dir, { recursive: true, force: true });
  const radius_m = 0.05;
  const rounding_m = 5e-5; // the figures are given to 0.1 mm
  for (const e of s.episodes_detail) {
    const o = e.task_outcome;
    const why = `seed ${e.seed}: ${JSON.stringify(o)}`;
    if (e.success) assert.ok(!o.cube_lifted && o.closest_cube_to_target_m <= radius_m + rounding_m, why);
    else assert.ok(o.cube_lifted || o.closest_cube_to_target_m >= radius_m - rounding_m, why);
    assert.ok(o.closest_cube_to_target_m <= o.cube_to_target_m, `seed ${e.seed}: closest after the end`);
  }
  const failures = s.episodes_detail.filter((e: { success: boolean }) => !e.success).length;
  assert.ok(failures > 0 && failures < 8, `the base model fails some of seeds 10000-10007, not all: ${failures}`);
  assert.equal(s.failure_outcome.failures, failures);
  const human = vlaRun(...args, '--latency-model', 'fixed:5');
  assert.match(
    human.stdout,
    new RegExp(`failures   ${failures} failed episodes?, median cube_to_target \\d+\\.\\d cm`),
  );
});
