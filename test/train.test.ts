import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { PNG } from 'pngjs';
import { shippedModelPath } from '../src/policy/default-policy.js';
import { loadModelManifest } from '../src/policy/onnx/onnx-file.js';
import { OnnxPolicy } from '../src/policy/onnx/onnx-policy.js';
import { EpisodeWriter } from '../src/recording/index.js';
import type { TrainingStats } from '../src/train/batches.js';
import { loadDemoSet } from '../src/train/demo-set.js';
import { buildOnnx, exportManifest, verifyExport } from '../src/train/export-onnx.js';
import { initWeights, type NetConfig } from '../src/train/policy-net.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions, trainPolicy } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';

const BIN = resolve(import.meta.dirname, '../../bin');
const node = (tool: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, [join(BIN, `${tool}.js`), ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

let dir = '';
let demos = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-train-'));
  demos = join(dir, 'demos');
  // three short clean expert episodes with both cameras at 24 px: enough to see learning, seconds to record
  const r = node(
    'vla-run',
    '--robot',
    'ur5e',
    '--sim',
    '--policy',
    'expert',
    '--episodes',
    '3',
    '--clock',
    'fast',
    '--record',
    demos,
    '--record-size',
    '24',
    '--json',
  );
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tiny = (over: Partial<TrainOptions> = {}): TrainOptions => ({
  ...DEFAULT_TRAIN_OPTIONS,
  c1: 4,
  c2: 4,
  hidden: [32],
  batch_size: 16,
  frame_stride: 3,
  learning_rate: 3e-3,
  val_fraction: 0.34,
  max_steps: 40,
  ...over,
});

test('a few training steps lower the loss, and a seed repeats a run exactly', async () => {
  const set = await loadDemoSet(demos);
  assert.equal(set.episodes.length, 3);
  assert.deepEqual(
    set.cameras.map((c) => c.name),
    ['top', 'wrist'],
  );
  const a = await trainPolicy(set, tiny());
  // per-step losses swing with the batch; the held-out loss before (epoch 0) and after is the signal
  assert.equal(a.val_episodes.length, 1);
  assert.equal(a.history[0].epoch, 0);
  const before = a.history[0].val_loss!,
    after = a.history.at(-1)!.val_loss!;
  assert.ok(
    after < 0.85 * before,
    `validation loss should fall: untrained ${before.toFixed(3)}, after ${a.steps} steps ${after.toFixed(3)}`,
  );
  const b = await trainPolicy(set, tiny({ max_steps: 8 }));
  const b2 = await trainPolicy(set, tiny({ max_steps: 8 }));
  assert.deepEqual(b2.step_losses, b.step_losses, 'same seed, same losses');
  assert.deepEqual(b2.weights.mlp[0].w, b.weights.mlp[0].w, 'same seed, same weights');
  const c = await trainPolicy(set, tiny({ max_steps: 8, seed: 1 }));
  assert.notDeepEqual(c.step_losses, b.step_losses, 'another seed, another run');
});

function randomStats(dim: number, rng: Rng): TrainingStats {
  const ms = () => ({
    mean: Float32Array.from({ length: dim }, () => rng.normal()),
    std: Float32Array.from({ length: dim }, () => 0.1 + rng.next()),
  });
  return { state: ms(), action: ms(), delta: ms() };
}

test('export: ONNX Runtime and the tfjs network agree within 1e-4 on random inputs', async () => {
  const rng = new Rng(3);
  for (const config of [
    { image_px: 24, cameras: 2, c1: 4, c2: 6, hidden: [16, 8], state_dim: 7, horizon: 25, action_dim: 7 },
    { image_px: 64, cameras: 1, c1: 16, c2: 32, hidden: [256, 256], state_dim: 14, horizon: 10, action_dim: 14 },
  ] satisfies NetConfig[]) {
    const w = initWeights(config, 5);
    // biases and a last layer far from their initial zeros, so every term of the graph matters
    for (const c of w.cams) {
      c.b1.forEach((_, i) => {
        c.b1[i] = rng.normal();
      });
      c.b2.forEach((_, i) => {
        c.b2[i] = rng.normal();
      });
    }
    for (const l of w.mlp) {
      l.b.forEach((_, i) => {
        l.b[i] = rng.normal() * 0.1;
      });
    }
    w.mlp[w.mlp.length - 1].w.forEach((_, i, a) => {
      a[i] = rng.normal() * 0.1;
    });
    const stats = randomStats(config.action_dim, rng);
    const cameras = ['top', 'wrist'].slice(0, config.cameras);
    const info = {
      name: 't',
      robot: 'ur5e',
      control_hz: 50,
      cameras,
      action_names: Array.from({ length: config.action_dim }, (_, i) =>
        i === config.action_dim - 1 ? 'gripper' : `a${i}`,
      ),
    };
    const { bytes } = buildOnnx(w, stats, info);
    const check = await verifyExport(bytes, w, stats, info, 3);
    assert.ok(check.max_abs_diff <= 1e-4, `max |diff| ${check.max_abs_diff}`);
    // and the check is not blind: a perturbed weight shows up
    const { bytes: other } = buildOnnx(
      { ...w, mlp: w.mlp.map((l, i) => (i === 0 ? { ...l, b: l.b.map((v) => v + 0.5) } : l)) },
      stats,
      info,
    );
    assert.ok((await verifyExport(other, w, stats, info, 1)).max_abs_diff > 1e-3);
  }
});

test('manifest round trip: the exported model loads with the manifest it was written with', async () => {
  const rng = new Rng(4);
  const config: NetConfig = {
    image_px: 24,
    cameras: 2,
    c1: 4,
    c2: 4,
    hidden: [8],
    state_dim: 7,
    horizon: 25,
    action_dim: 7,
  };
  const stats = randomStats(7, rng);
  const info = {
    name: 'round-trip',
    robot: 'ur5e',
    control_hz: 50,
    cameras: ['top', 'wrist'],
    action_names: ['a', 'b', 'c', 'd', 'e', 'f', 'gripper'],
    training: { seed: 1 },
  };
  const w = initWeights(config, 1);
  const { bytes, manifest } = buildOnnx(w, stats, info);
  const path = join(dir, 'round-trip.onnx');
  await writeFile(path, bytes);
  const loaded = await loadModelManifest(path);
  assert.deepEqual(loaded.manifest, manifest);
  assert.deepEqual(manifest, exportManifest(w, stats, info));
  assert.deepEqual(manifest.action.normalization, {
    kind: 'mean_std',
    mean: [...stats.action.mean],
    std: [...stats.action.std],
    eps: 0,
  });
  assert.deepEqual(
    manifest.inputs.images.map((i) => [i.camera, i.width, i.height, i.layout]),
    [
      ['top', 24, 24, 'NCHW'],
      ['wrist', 24, 24, 'NCHW'],
    ],
  );
  const policy = await OnnxPolicy.load(path);
  try {
    const d = policy.describe();
    assert.equal(d.horizon, 25);
    assert.equal(d.action_dim, 7);
    assert.equal(d.control_hz, 50);
    assert.deepEqual(
      d.cameras.map((c) => c.name),
      ['top', 'wrist'],
    );
  } finally {
    await policy.close();
  }
});

test('vla-train end to end on the tiny demos: model, loss curve and report written, export checked', async () => {
  const out = join(dir, 'models', 'tiny.onnx');
  const r = node(
    'vla-train',
    '--robot',
    'ur5e',
    '--demos',
    demos,
    '--out',
    out,
    '--channels',
    '4,4',
    '--hidden',
    '16',
    '--max-steps',
    '6',
    '--batch',
    '8',
    '--json',
  );
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.steps, 6);
  assert.equal(s.export_check.ok, true);
  assert.match(r.stderr, /epoch done/);
  const { readFile } = await import('node:fs/promises');
  const html = await readFile(join(dir, 'models', 'tiny.loss.html'), 'utf8');
  assert.match(html, /<svg[\s\S]*optimiser step \(6\)[\s\S]*<\/svg>/, 'the page embeds the plot as SVG');
  assert.equal(s.loss_curve, join(dir, 'models', 'tiny.loss.png'));
  const png = PNG.sync.read(await readFile(s.loss_curve));
  assert.ok(png.width > 600 && png.height > 300, `a loss curve PNG of ${png.width}x${png.height}`);
  const report = JSON.parse(await readFile(join(dir, 'models', 'tiny.train.json'), 'utf8'));
  assert.equal(report.options.seed, 0);
});

test('bad demonstrations: exit 2 saying what differs, before any training', async () => {
  const empty = join(dir, 'empty');
  await mkdir(empty, { recursive: true });
  const cases: [string[], RegExp][] = [
    [['--robot', 'ur5e', '--demos', empty], /no \.mcap episodes/],
    [['--robot', 'ur5e', '--demos', join(dir, 'missing')], /cannot read the demonstration folder/],
    [['--robot', 'ur5', '--demos', demos], /robot: expected ur5, found ur5e/],
    [['--robot', 'ur5e', '--task', 'push', '--demos', demos], /task: expected push, found pick-place/],
    [['--robot', 'ur5e', '--demos', demos, '--cameras', 'front'], /unknown camera for ur5e 'front'/],
  ];
  // an episode of a different action size, and one with other camera sizes, among good ones
  const actionSize = join(dir, 'action-size');
  await mkdir(actionSize);
  await writeEpisode(join(actionSize, 'a.mcap'), {
    action_names: ['j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7', 'gripper'],
    joint_names: ['j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7'],
    size: 24,
  });
  cases.push([['--robot', 'ur5e', '--demos', actionSize], /action layout: expected 7 values .* found 8/]);
  const sizes = join(dir, 'sizes');
  await mkdir(sizes);
  await copyFile(join(demos, 'ur5e-pick-place-seed0.mcap'), join(sizes, 'ep0.mcap'));
  await writeEpisode(join(sizes, 'ep1.mcap'), { size: 32 });
  cases.push([['--robot', 'ur5e', '--demos', sizes], /camera 'top' size: expected 24x24 .* found 32x32/]);
  const small = join(dir, 'small');
  await mkdir(small);
  await writeEpisode(join(small, 'a.mcap'), { size: 16 });
  cases.push([['--robot', 'ur5e', '--demos', small], /images of 16 px are too small/]);
  const noCams = join(dir, 'no-cams');
  await mkdir(noCams);
  await writeEpisode(join(noCams, 'a.mcap'), { size: 0 });
  cases.push([['--robot', 'ur5e', '--demos', noCams], /no camera frames recorded/]);
  for (const [args, message] of cases) {
    const r = node('vla-train', ...args, '--out', join(dir, 'never.onnx'));
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }
});

/** A short successful ur5e-like episode written directly (to make folders no recorder would produce). */
async function writeEpisode(
  path: string,
  o: { action_names?: string[]; joint_names?: string[]; size: number },
): Promise<void> {
  const joint_names = o.joint_names ?? [
    'shoulder_pan_joint',
    'shoulder_lift_joint',
    'elbow_joint',
    'wrist_1_joint',
    'wrist_2_joint',
    'wrist_3_joint',
  ];
  const action_names = o.action_names ?? [...joint_names, 'gripper'];
  const cameras = o.size
    ? [
        { name: 'top', width: o.size, height: o.size },
        { name: 'wrist', width: o.size, height: o.size },
      ]
    : [];
  const w = await EpisodeWriter.open(path, {
    robot: 'ur5e',
    task: 'pick-place',
    seed: 1,
    control_hz: 50,
    joint_names,
    gripper_names: ['gripper'],
    action_names,
    cameras,
  });
  for (let k = 0; k < 4; k++) {
    await w.writeTick({
      tick: k,
      stamp_ns: BigInt(k) * 20_000_000n,
      position_rad: new Float64Array(joint_names.length),
      velocity_rad_s: new Float64Array(joint_names.length),
      gripper: [1],
      action: new Float64Array(action_names.length),
      frames: cameras.map((c) => ({
        camera: c.name,
        width: c.width,
        height: c.height,
        rgb: new Uint8Array(c.width * c.height * 3),
      })),
    });
  }
  await w.close({ success: true });
}

test('the shipped demo models run an episode through vla-run (default policy)', async () => {
  for (const [robot, task] of [
    ['ur5', 'pick-place'],
    ['ur5e', 'pick-place'],
    ['ur5', 'push'],
    ['ur5e', 'push'],
    ['aloha', 'transfer-cube'],
  ]) {
    const r = node(
      'vla-run',
      '--robot',
      robot,
      '--sim',
      '--task',
      task,
      '--clock',
      'fast',
      '--episodes',
      '1',
      '--seed',
      '7',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.policy, `${robot}-${task}`, `the default policy is ${shippedModelPath(robot, task)}`);
    assert.equal(s.fault, null);
    assert.ok(s.episodes_detail[0].ticks > 50);
    assert.ok(s.inference.calls > 2);
    assert.equal(s.buffer.stale_actions_executed, null, 'measured with --policy tick-stamp only');
  }
});
