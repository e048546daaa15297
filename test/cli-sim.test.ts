import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import { readEpisode } from '../src/recording/index.js';

const BIN = resolve(import.meta.dirname, '../../bin/vla-sim.js');
const RUN_BIN = resolve(import.meta.dirname, '../../bin/vla-run.js');

function vlaSim(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function vlaRun(...args: string[]) {
  const r = spawnSync(process.execPath, [RUN_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
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
    assert.equal(summary.failure_outcome, undefined, 'no failures, no failure figures');
    const i = vlaSim('inspect', summary.recordings[0].path, '--json');
    assert.equal(i.code, 0, i.stderr);
    const inspected = JSON.parse(i.stdout);
    assert.equal(inspected.success, true);
    // put down inside the 6 cm disc, and lifted on the way
    assert.ok(inspected.task_outcome.cube_to_target_m <= 0.06, JSON.stringify(inspected.task_outcome));
    assert.ok(inspected.task_outcome.cube_highest_lift_m > 0.03, JSON.stringify(inspected.task_outcome));
    assert.match(vlaSim('inspect', summary.recordings[0].path).stdout, /ended: cube_to_target \d+\.\d cm/);
    // a clumsy expert fails some: where those ended, in the JSON and on the line for people
    const clumsy = ['run', '--robot', 'ur5e', '--clock', 'fast', '--episodes', '6', '--noise', '2'];
    const c = JSON.parse(vlaSim(...clumsy, '--json').stdout);
    assert.ok(c.successes < 6, `noise 2 fails some of seeds 0-5: ${c.successes}/6`);
    assert.equal(c.failure_outcome.failures, 6 - c.successes);
    assert.match(vlaSim(...clumsy).stdout, /failures: \d failed episodes?, median cube_to_target \d+\.\d cm/);
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
  const r = vlaSim('bench', '--robot', 'ur5', '--episodes', '2', '--passes', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  const b = JSON.parse(r.stdout);
  for (const k of ['realtime_factor', 'realtime_factor_camera', 'camera_ms', 'expert_success_rate'])
    assert.ok(k in b, k);
  for (const size of ['64', '128', '224']) assert.ok(b.camera_ms[size] > 0);
  assert.equal(b.realtime_factor_passes.length, 1, '--passes 1');
  assert.equal(b.expert_success_rate, 1);
});

test('bad usage and unwritable paths: exit 2 with one clear line, no raw ENOENT', () => {
  for (const args of [
    ['inspect'],
    ['run', '--bogus'],
    ['snapshot', '--robot', 'ur5', '--out', '/nodir/x.png'],
    ['snapshot', '--robot', 'ur5', '--out', '/proc/x.png'],
    ['run', '--robot', 'ur5', '--clock', 'fast', '--record', '/proc/x.mcap'],
    ['run', '--robot', 'ur5', '--clock', 'fast', '--record', '/proc/x'],
    ['run', '--robot', 'ur5', '--clock', 'fast', '--record-size', '3'],
  ]) {
    const r = vlaSim(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: one line, got ${r.stderr}`);
    assert.match(lines[0], /^vla-sim: /);
    assert.doesNotMatch(r.stderr, /ENOENT|EEXIST|\n\s+at /);
    assert.equal(r.stdout, '');
  }
});

test('one --record path rule in vla-sim and vla-run: a .mcap file, -seed<N> files, or a folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cli-'));
  try {
    const fast = ['--robot', 'ur5', '--clock', 'fast', '--record-cameras', 'none', '--json'];
    const sim = (...a: string[]) => vlaSim('run', ...fast, ...a);
    const run = (...a: string[]) => vlaRun('--sim', '--policy', 'expert', ...fast, ...a);
    for (const [tool, tag] of [
      [sim, 'sim'],
      [run, 'run'],
    ] as const) {
      // one episode and a .mcap path: that very file (the old name --cameras still works in vla-sim)
      const one = join(dir, `${tag}-one.mcap`);
      const r1 =
        tag === 'sim'
          ? vlaSim('run', '--robot', 'ur5', '--clock', 'fast', '--cameras', 'none', '--record', one)
          : tool('--record', one);
      assert.equal(r1.code, 0, r1.stderr);
      assert.ok((await stat(one)).isFile(), `${tag}: ${one} is a file`);
      // several episodes and a .mcap path: <name>-seed<N>.mcap beside it
      const r2 = tool('--episodes', '2', '--record', join(dir, `${tag}-many.mcap`));
      assert.equal(r2.code, 0, r2.stderr);
      for (const seed of [0, 1]) assert.ok((await stat(join(dir, `${tag}-many-seed${seed}.mcap`))).isFile());
      // any other path: a folder with <robot>-<task>-seed<N>.mcap
      const r3 = tool('--record', join(dir, `${tag}-folder`));
      assert.equal(r3.code, 0, r3.stderr);
      assert.deepEqual(await readdir(join(dir, `${tag}-folder`)), ['ur5-pick-place-seed0.mcap']);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a real-time recording holds camera frames at the recording size and the ticks as they ran', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cli-'));
  try {
    const file = join(dir, 'rt.mcap');
    const r = vlaSim('run', '--robot', 'ur5', '--record', file, '--record-size', '24', '--json');
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.clock, 'realtime');
    // the summary says where the file went, what it holds and its size
    assert.equal(s.recordings.length, 1);
    const rec = s.recordings[0];
    assert.equal(rec.path, file);
    assert.equal(rec.outcome, 'success');
    assert.equal(rec.bytes, (await stat(file)).size);
    const ep = await readEpisode(file);
    assert.equal(ep.ticks, rec.ticks);
    assert.equal(ep.meta.tick_clock, 'monotonic');
    assert.deepEqual(ep.meta.cameras, [
      { name: 'top', width: 24, height: 24 },
      { name: 'wrist', width: 24, height: 24 },
    ]);
    for (const cam of ['top', 'wrist']) {
      const f = ep.frames[cam];
      assert.ok(f.rgb.length > 0, `${cam}: frames recorded in real time`);
      assert.equal(f.rgb[0].length, 24 * 24 * 3);
      assert.ok(
        f.rgb.at(-1)!.some((v) => v !== f.rgb.at(-1)![0]),
        `${cam}: a rendered frame, not a blank`,
      );
    }
    assert.equal(rec.camera_frames, ep.frames.top.rgb.length + ep.frames.wrist.rgb.length);
    // actual tick times: monotonic, increasing, and not the nominal tick * 20 ms of a fixed schedule
    const t = [...ep.t_mono_ms];
    assert.ok(t.every(Number.isFinite));
    assert.ok(t.every((x, i) => i === 0 || x > t[i - 1]));
    assert.ok(
      t.some((x) => (x - t[0]) % 20 !== 0),
      'some tick ran off the nominal grid',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
