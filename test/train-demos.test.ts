// Demonstration folders as users have them: a truncated file among good ones (--skip-bad), interrupted
// episodes (always left out), and real-time recordings whose frames do not cover every tick.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { EpisodeWriter } from '../src/recording/index.js';
import { loadDemoSet } from '../src/train/demo-set.js';

const BIN = resolve(import.meta.dirname, '../../bin');
const node = (tool: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, [join(BIN, `${tool}.js`), ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

const JOINTS = ['shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint', 'wrist_1_joint', 'wrist_2_joint'];
const META = {
  robot: 'ur5e',
  task: 'pick-place',
  seed: 9,
  control_hz: 50,
  joint_names: [...JOINTS, 'wrist_3_joint'],
  gripper_names: ['gripper'],
  action_names: [...JOINTS, 'wrist_3_joint', 'gripper'],
  cameras: [
    { name: 'top', width: 24, height: 24 },
    { name: 'wrist', width: 24, height: 24 },
  ],
};

/** An episode whose camera frames exist only at `framed` ticks (a real-time recording), ending as `outcome`. */
async function writeEpisode(
  path: string,
  ticks: number,
  framed: (k: number) => boolean,
  outcome: 'success' | 'interrupted' = 'success',
): Promise<void> {
  const w = await EpisodeWriter.open(path, { ...META, tick_clock: 'monotonic' });
  for (let k = 0; k < ticks; k++) {
    await w.writeTick({
      tick: k,
      stamp_ns: BigInt(k) * 20_000_000n + 1n,
      t_mono_ms: k * 20.3,
      position_rad: new Float64Array(6).fill(k / 100),
      velocity_rad_s: new Float64Array(6),
      gripper: [1],
      action: new Float64Array(7).fill(k),
      frames: framed(k)
        ? META.cameras.map((c) => ({ camera: c.name, width: 24, height: 24, rgb: new Uint8Array(24 * 24 * 3).fill(k) }))
        : [],
    });
  }
  await w.close(outcome === 'success' ? { success: true } : { success: false, outcome, fault: 'interrupted (SIGINT)' });
}

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-train-demos-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('real-time frames: each tick takes the latest frame at or before it, none before the first', async () => {
  const folder = join(dir, 'realtime');
  await mkdir(folder);
  // frames from tick 2 on, then every other tick (a recorder that renders at half the control rate)
  await writeEpisode(join(folder, 'a.mcap'), 10, (k) => k >= 2 && k % 2 === 0);
  const set = await loadDemoSet(folder);
  const ep = set.episodes[0];
  assert.equal(ep.ticks, 8);
  assert.deepEqual(
    ep.frames[0].map((f) => f[0]),
    [2, 2, 4, 4, 6, 6, 8, 8],
  );
  assert.deepEqual(Array.from(ep.action.filter((_, i) => i % 7 === 0)), [2, 3, 4, 5, 6, 7, 8, 9]);
});

test('vla-train: a truncated file stops it naming the file and --skip-bad; with --skip-bad it is counted', async () => {
  const demos = join(dir, 'demos');
  const recorded = join(dir, 'recorded');
  const r = node(
    'vla-sim',
    'run',
    '--robot',
    'ur5e',
    '--clock',
    'fast',
    '--episodes',
    '2',
    '--record',
    recorded,
    '--record-size',
    '24',
  );
  assert.equal(r.code, 0, r.stderr);
  await mkdir(demos);
  for (const seed of [0, 1]) {
    const name = `ur5e-pick-place-seed${seed}.mcap`;
    await copyFile(join(recorded, name), join(demos, name));
  }
  const whole = await readFile(join(recorded, 'ur5e-pick-place-seed1.mcap'));
  // cut before its first chunk: nothing to recover (a file cut later gives its complete ticks, as interrupted)
  await writeFile(join(demos, 'cut.mcap'), whole.subarray(0, 1500));
  await writeEpisode(join(demos, 'stopped.mcap'), 6, () => true, 'interrupted');
  const args = ['--robot', 'ur5e', '--demos', demos, '--channels', '4,4', '--hidden', '16', '--max-steps', '2'];

  const strict = node('vla-train', ...args, '--out', join(dir, 'never.onnx'));
  assert.equal(strict.code, 2, strict.stderr);
  assert.match(strict.stderr, /cut\.mcap: truncated MCAP file .*--skip-bad/);
  assert.equal(strict.stderr.trim().split('\n').length, 1);

  const lenient = node('vla-train', ...args, '--skip-bad', '--out', join(dir, 'm.onnx'), '--json');
  assert.equal(lenient.code, 0, lenient.stderr);
  const s = JSON.parse(lenient.stdout);
  assert.equal(s.episodes, 2);
  assert.equal(s.skipped.unreadable, 1);
  assert.equal(s.skipped.unreadable_files[0].path, join(demos, 'cut.mcap'));
  assert.match(s.skipped.unreadable_files[0].reason, /truncated/);
  assert.equal(s.skipped.interrupted, 1);
  assert.match(lenient.stderr, /left out 1 interrupted episode/);
});
