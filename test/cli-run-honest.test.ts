// vla-run never misleads: mismatches are refused before anything moves (exit 2), the summary's counters
// agree with each other, every exit prints its summary (JSON under --json, also for usage errors), and
// the exit codes are the README's table.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { writeTestPolicy } from '../src/policy/onnx/model-writer.js';

const BIN = resolve(import.meta.dirname, '../../bin/vla-run.js');
const dir = await mkdtemp(join(tmpdir(), 'vla-honest-'));
test.after(() => rm(dir, { recursive: true, force: true }));

function vlaRun(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 2, one JSON error object on stdout naming `why`, and the robot never started (no summary). */
function assertRefused(r: ReturnType<typeof vlaRun>, why: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  const out = JSON.parse(lines[0]);
  assert.equal(out.exit_code, 2);
  assert.match(out.error, why);
  assert.ok(!('control' in out), 'refused before any tick');
}

const UR5E_BLIND = { cameras: [], state_dim: 7, horizon: 10, action_dim: 7, seed: 3 };

test('a model for another robot is refused (exit 2) unless --allow-robot-mismatch says so', async () => {
  const model = join(dir, 'ur5e.onnx');
  await writeTestPolicy(model, { ...UR5E_BLIND, name: 'ur5e-blind', robot: 'ur5e' });
  const args = ['--robot', 'ur5', '--sim', '--policy', model, '--clock', 'fast', '--duration', '1', '--json'];
  assertRefused(vlaRun(...args), /robot: expected ur5, found ur5e.*--allow-robot-mismatch/);
  const r = vlaRun(...args, '--allow-robot-mismatch');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /run anyway \(--allow-robot-mismatch\)/);
});

test('a model trained at another rate is refused, and runs at its own rate with --hz', async () => {
  const model = join(dir, 'ten-hz.onnx');
  await writeTestPolicy(model, { ...UR5E_BLIND, name: 'ten-hz', robot: 'ur5e', control_hz: 10 });
  const args = ['--robot', 'ur5e', '--sim', '--policy', model, '--clock', 'fast', '--duration', '2', '--json'];
  assertRefused(vlaRun(...args), /control rate: expected 50 Hz .* found 10 Hz.*--hz 10/);
  const r = vlaRun(...args, '--hz', '10');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.control.hz, 10);
  assert.equal(s.control.ticks, 20, '2 s of robot time at 10 Hz');
});

test('statistics with every std 0, --delay past the chunk, --duration with --episodes: refused', async () => {
  const model = join(dir, 'zero-std.onnx');
  // the writer refuses such a manifest itself: the model goes without, and a sidecar carries the broken one
  const { manifest } = await writeTestPolicy(model, {
    ...UR5E_BLIND,
    name: 'zero-std',
    robot: 'ur5e',
    manifest_in: 'none',
  });
  const zero = { kind: 'mean_std', mean: Array(7).fill(0), std: Array(7).fill(0) };
  const broken = { ...manifest, action: { ...manifest.action, normalization: zero } };
  await writeFile(model.replace(/\.onnx$/, '.manifest.json'), JSON.stringify(broken));
  const base = ['--robot', 'ur5e', '--sim', '--clock', 'fast', '--json'];
  assertRefused(vlaRun(...base, '--policy', model), /std: is 0 in every dimension/);
  assertRefused(vlaRun(...base, '--delay', '30'), /--delay 30 drops every action.*--delay 24 or less/);
  assertRefused(vlaRun(...base, '--duration', '5', '--episodes', '3'), /give one of them/);
  assertRefused(vlaRun(...base, '--bogus'), /unknown option '--bogus'/);
});

test('--duration: the episode cut short is truncated, not failed, and not scored; fast clock: no jitter', () => {
  const r = vlaRun('--robot', 'ur5e', '--sim', '--policy', 'expert', '--clock', 'fast', '--duration', '2', '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.episodes, 1);
  assert.deepEqual(s.episode_ends, { success: 0, failure: 0, truncated: 1, interrupted: 0, fault: 0 });
  assert.equal(s.episodes_detail[0].end, 'truncated');
  assert.equal(s.scored_episodes, 0);
  assert.equal(s.success_rate, null);
  assert.equal(s.control.jitter_ms, null, 'a virtual clock has no jitter to report');
  assert.equal(s.control.ticks, 100);
});

test('a task limit is in seconds: at --hz 100 the expert gets the same 8 s as at 50 Hz', () => {
  const r = vlaRun('--robot', 'ur5e', '--sim', '--policy', 'expert', '--clock', 'fast', '--hz', '100', '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.episode_ends.success, 1, JSON.stringify(s.episodes_detail));
  assert.ok(s.episodes_detail[0].ticks > 400, 'more than the 400 ticks that are 8 s at 50 Hz');
});

test('more than 1% underruns: a warning with what to do, in the JSON and on the screen', () => {
  const args = ['--robot', 'ur5e', '--sim', '--clock', 'fast', '--inject-latency-ms', '300', '--duration', '4'];
  const r = vlaRun(...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.ok(s.control.underruns / s.control.ticks > 0.01, JSON.stringify(s.control));
  assert.equal(s.holds.underrun_ticks, s.control.underruns);
  assert.match(s.warnings.join('\n'), /underruns in \d+ ticks.*does not keep up/);
  const text = vlaRun(...args);
  assert.match(text.stdout, /WARNING +\d+ underruns/);
  assert.match(text.stdout, /\(embedded sim\)/);
});

/** Start a real-time run, send `signal` once it is set up (or after `after_ms` more), collect the exit. */
function interruptRun(signal: NodeJS.Signals, after_ms: number): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [BIN, '--robot', 'ur5e', '--sim', '--duration', '30', '--json']);
  let stdout = '',
    stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  return new Promise((resolve) => {
    child.stderr.on('data', (d) => {
      const first = !stderr.includes('setting up the robot');
      stderr += d;
      if (first && stderr.includes('setting up the robot')) setTimeout(() => child.kill(signal), after_ms);
    });
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

test('Ctrl-C before the first tick: exit 130 with the summary; SIGTERM mid-run: 143 with the summary', async () => {
  const early = await interruptRun('SIGINT', 0);
  assert.equal(early.code, 130, early.stdout);
  const a = JSON.parse(early.stdout);
  assert.ok(a.episodes <= 1 && a.scored_episodes === 0, early.stdout);
  const mid = await interruptRun('SIGTERM', 3000);
  assert.equal(mid.code, 143, mid.stdout);
  const b = JSON.parse(mid.stdout);
  assert.equal(b.episode_ends.interrupted, 1, mid.stdout);
  assert.equal(b.success_rate, null, 'an interrupted episode is not scored');
  assert.ok(b.control.ticks > 0);
});
