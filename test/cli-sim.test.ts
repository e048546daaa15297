import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { PNG } from 'pngjs';

const BIN = resolve(import.meta.dirname, '../../bin/vla-sim.js');

function vlaSim(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('unknown robot, task or camera: exit 2 with the valid values, no stack trace', () => {
  for (const [args, valid] of [
    [['run', '--robot', 'ur10'], 'valid: ur5, ur5e, aloha'],
    [['run', '--robot', 'aloha', '--task', 'push'], 'valid: transfer-cube'],
    [['snapshot', '--robot', 'ur5', '--camera', 'left_wrist', '--out', '/tmp/x.png'], 'valid: top, wrist'],
    [['run', '--robot', 'ur5', '--clock', 'slow'], 'valid: realtime, fast'],
    [['run', '--robot', 'ur5', '--episodes', '-1'], 'integer'],
    [['run', '--robot', 'ur5', '--physics-hz', '333'], 'multiple of the 50 Hz control rate'],
  ] as const) {
    const r = vlaSim(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(valid));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('snapshot writes a PNG of the requested size', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cli-'));
  try {
    const out = join(dir, 'scene.png');
    const r = vlaSim(
      'snapshot',
      '--robot',
      'ur5e',
      '--task',
      'pick-place',
      '--camera',
      'top',
      '--size',
      '64',
      '--out',
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    const png = PNG.sync.read(await readFile(out));
    assert.equal(png.width, 64);
    assert.equal(png.height, 64);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('run --json prints exactly one JSON object; inspect reads what run recorded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cli-'));
  try {
    const r = vlaSim(
      'run',
      '--robot',
      'ur5',
      '--clock',
      'fast',
      '--episodes',
      '2',
      '--record',
      dir,
      '--cameras',
      'none',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.episodes, 2);
    assert.equal(summary.successes, 2);
    assert.equal(summary.recordings.length, 2);
    const i = vlaSim('inspect', summary.recordings[0], '--json');
    assert.equal(i.code, 0, i.stderr);
    assert.equal(JSON.parse(i.stdout).success, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a corrupt or truncated recording: exit 2 naming the file and the problem', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cli-'));
  try {
    const bad = join(dir, 'broken.mcap');
    await writeFile(bad, Buffer.from('\x89MCAP0\r\nthis is not really an mcap file'));
    const r = vlaSim('inspect', bad);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /broken\.mcap: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bench --json reports the measured fields', () => {
  const r = vlaSim('bench', '--robot', 'ur5', '--episodes', '2', '--json');
  assert.equal(r.code, 0, r.stderr);
  const b = JSON.parse(r.stdout);
  for (const k of ['realtime_factor', 'realtime_factor_camera', 'camera_ms', 'expert_success_rate'])
    assert.ok(k in b, k);
  for (const size of ['64', '128', '224']) assert.ok(b.camera_ms[size] > 0);
  assert.equal(b.expert_success_rate, 1);
});
