// Feature heads (vla-finetune head): a yaw is encoded so that turns a quarter apart look alike; a small head learns
// how far a square in the image is turned (held-out error well below guessing); spliced into the shipped
// pick-place model it keeps the actions and the base features bit for bit and appends its own estimates; a model
// with a head already, or without features, is refused; the CLI writes a model vla-run loads and refuses bad usage;
// a residual trained on the true values moves to a sharper copy of the same base (export --base), and only there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import type { SimDriver } from '../sim/sim-driver.js';
import { yawQuat } from '../sim/tasks/task.js';
import { rebindBase } from '../src/cli/finetune/base-model-args.js';
import { robotDescription } from '../src/cli/run/robot-args.js';
import { MANIFEST_METADATA_KEY } from '../src/policy/onnx/manifest.js';
import { loadModelManifest } from '../src/policy/onnx/onnx-file.js';
import type { Policy } from '../src/policy/policy.js';
import { fileSha256 } from '../src/policy/residual/residual-onnx.js';
import { collectProbeSamples } from '../src/rl/feature-probe.js';
import type { FinetuneConfig } from '../src/rl/finetune-config.js';
import { headOf, NoHeadError, withTrueHeadFeatures } from '../src/rl/privileged-head.js';
import { applyUnitYaw, type HeadConfig, initHead, unitYawPairs } from '../src/train/head-net.js';
import { HEAD_METADATA_KEY, HeadSpliceError, spliceHead, verifyHead } from '../src/train/head-splice.js';
import { type HeadSample, headTargets, trainHead } from '../src/train/head-trainer.js';
import { Rng } from '../src/util/rng.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/vla-finetune.js');
const BASE = join(ROOT, 'models/ur5e-pick-place.onnx');
const DEG = Math.PI / 180;
const YAW = [{ name: 'cube_yaw', unit: 'deg' as const }];

/** A 64 px image of a red square turned by `yaw` about a random centre, on the table's brown. */
function turnedSquare(yaw: number, rng: Rng): Uint8Array {
  const px = 64;
  const img = new Uint8Array(px * px * 3);
  const [cx, cy] = [rng.uniform(24, 40), rng.uniform(24, 40)];
  const [c, s] = [Math.cos(yaw), Math.sin(yaw)];
  for (let y = 0; y < px; y++)
    for (let x = 0; x < px; x++) {
      const [u, v] = [c * (x - cx) + s * (y - cy), -s * (x - cx) + c * (y - cy)];
      const inside = Math.abs(u) < 10 && Math.abs(v) < 10;
      img.set(inside ? [200, 20, 20] : [150, 125, 100], (y * px + x) * 3);
    }
  return img;
}

const tinyHead = (outputs: HeadConfig['outputs']): HeadConfig => ({
  image_px: 64,
  camera: 'wrist',
  c1: 8,
  c2: 8,
  hidden: [32],
  state_dim: 7,
  outputs,
});

describe('feature head', () => {
  test('a yaw becomes sin and cos of 4 x yaw: 44 and -44 deg are 2 deg apart; positions stay in m', () => {
    const t = headTargets(
      [
        { name: 'cube_x', unit: 'cm' },
        { name: 'cube_yaw', unit: 'deg' },
      ],
      ['cube_yaw', 'cube_x'],
    );
    assert.deepEqual(
      t.outputs.map((o) => o.name),
      ['cube_yaw_sin4', 'cube_yaw_cos4', 'cube_x_m'],
    );
    const enc = t.encode([0.31, 44 * DEG]);
    assert.ok(Math.abs(enc[0] - Math.sin(176 * DEG)) < 1e-12 && enc[2] === 0.31);
    const [yawErr, xErr] = t.errors(t.encode([0.3, -44 * DEG]), [0.31, 44 * DEG]);
    assert.ok(Math.abs(yawErr - 2) < 1e-9, `44 vs -44 deg: ${yawErr}`);
    assert.ok(Math.abs(xErr - 1) < 1e-9, `0.30 vs 0.31 m: ${xErr} cm`);
    assert.throws(() => headTargets(YAW, ['cube_roll']), /no coordinate 'cube_roll'.*cube_yaw/);
    // the head's yaw pair is put on the unit circle, like the true values; a position passes as it is
    const row = Float32Array.of(3, 4, 0.25);
    applyUnitYaw(row, unitYawPairs(t.outputs));
    assert.deepEqual(
      Array.from(row, (v) => +v.toFixed(6)),
      [0.6, 0.8, 0.25],
    );
  });

  test("collected samples keep each chunk's own image and state (copies of reused buffers)", async () => {
    const { samples } = await collectProbeSamples({
      description: await robotDescription('ur5e', undefined, 50),
      task: 'pick-place',
      base_path: BASE,
      episodes: 2,
      seed0: 5000,
      keep_camera: 'wrist',
    });
    const first = samples.filter((s) => s.episode === 0);
    assert.ok(first.length > 3);
    const [a, b] = [first[0], first[first.length - 1]];
    assert.equal(a.image?.length, 64 * 64 * 3);
    assert.ok(
      a.image?.some((v, i) => v !== b.image?.[i]),
      'the first and last images of an episode differ',
    );
    assert.ok(
      a.state?.some((v, i) => v !== b.state?.[i]),
      'and so do the states',
    );
  });

  test('a small head learns how far a square is turned: held-out error well below guessing', async () => {
    const rng = new Rng(5);
    const samples: HeadSample[] = [];
    for (let episode = 0; episode < 60; episode++) {
      const yaw = rng.uniform(-45, 45) * DEG;
      for (let k = 0; k < 8; k++)
        samples.push({ episode, image: turnedSquare(yaw, rng), state: new Float32Array(7), truth: [yaw] });
    }
    const targets = headTargets(YAW, ['cube_yaw']);
    const opts = { seed: 1, steps: 250, batch_size: 32, learning_rate: 3e-3, shift_px: 1, val_fraction: 0.2 };
    const r = await trainHead(samples, tinyHead(targets.outputs), targets, opts);
    const [e] = r.held_out;
    assert.equal(r.val_samples, 12 * 8);
    assert.ok(e.guess_error > 15, `guessing misses by about 22.5 deg: ${e.guess_error}`);
    assert.ok(e.mean_error < 0.6 * e.guess_error, `head ${e.mean_error} deg vs guessing ${e.guess_error} deg`);
  });

  test('spliced into the shipped model: same actions and base features, 2 more features, not twice', async () => {
    const before = new Uint8Array(readFileSync(BASE));
    const w = initHead(tinyHead(headTargets(YAW, ['cube_yaw']).outputs), 3);
    const after = spliceHead(before, w, { camera: 'wrist', base_sha256: 'x', training: { test: true } }, BASE);
    const check = await verifyHead(before, after, w); // throws on any difference in actions or base features
    assert.equal(check.features_dim, 130);
    assert.ok(check.max_abs_diff < 1e-4, `ONNX Runtime vs tfjs: ${check.max_abs_diff}`);
    const dir = mkdtempSync(join(tmpdir(), 'head-'));
    const path = join(dir, 'spliced.onnx');
    (await import('node:fs')).writeFileSync(path, after);
    const { manifest } = await loadModelManifest(path);
    assert.equal(manifest.features?.dim, 130);
    assert.match(manifest.name, /\+head$/);
    const meta = (await import('onnx-proto')).default.onnx.ModelProto.decode(after).metadataProps;
    assert.ok(meta.some((p) => p.key === MANIFEST_METADATA_KEY));
    const head = JSON.parse(meta.find((p) => p.key === HEAD_METADATA_KEY)?.value ?? '{}');
    assert.deepEqual(head.outputs, ['cube_yaw_sin4', 'cube_yaw_cos4']);
    assert.equal(head.base_features_dim, 128);
    assert.throws(
      () => spliceHead(after, w, { camera: 'wrist', base_sha256: 'x', training: {} }, path),
      HeadSpliceError,
    );
    const other = { ...w, config: { ...w.config, camera: 'side' } };
    assert.throws(
      () => spliceHead(before, other, { camera: 'side', base_sha256: 'x', training: {} }, BASE),
      /camera 'side'/,
    );
  });

  test("privileged head: the head's features become the true turn, the base's stay as they were", async () => {
    const base: Policy = {
      describe: () => ({}) as ReturnType<Policy['describe']>,
      close: async () => {},
      infer: async () => ({ actions: new Float32Array(7), features: Float32Array.of(0.5, -0.5, 9, 9) }),
    } as unknown as Policy;
    const yaw = 40 * DEG;
    const state = { task: 'pick-place', objects: { cube: { pos: [0.4, 0.1, 0.03], quat: yawQuat(yaw) } } };
    const driver = { taskState: () => state } as unknown as SimDriver;
    const head = { camera: 'wrist', outputs: ['cube_yaw_sin4', 'cube_yaw_cos4'], base_features_dim: 2 };
    const wrapped = withTrueHeadFeatures(base, driver, { ...head, base_sha256: 'x', training: {} });
    const out = await wrapped.infer({} as Parameters<Policy['infer']>[0]);
    const f = Array.from(out.features ?? []);
    assert.deepEqual(f.slice(0, 2), [0.5, -0.5]);
    assert.ok(Math.abs(f[2] - Math.sin(4 * yaw)) < 1e-6 && Math.abs(f[3] - Math.cos(4 * yaw)) < 1e-6, `${f}`);
    assert.throws(() => headOf(BASE), NoHeadError);
  });

  test('vla-finetune head: writes a model vla-run loads; bad coordinate, camera or base are usage errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'head-cli-'));
    const out = join(dir, 'pp.onnx');
    const args = ['head', '--robot', 'ur5e', '--task', 'pick-place', '--episodes', '10', '--steps', '20'];
    const ok = spawnSync(process.execPath, [BIN, ...args, '--out', out, '--json'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    const report = JSON.parse(ok.stdout);
    assert.equal(report.features_dim, 130);
    assert.equal(report.held_out[0].name, 'cube_yaw');
    assert.equal(JSON.parse(readFileSync(join(dir, 'pp.head.json'), 'utf8')).model, out);
    // made again, the copy is the same file: a residual bound to its SHA-256 accepts it
    const again = join(dir, 'again.onnx');
    const ok2 = spawnSync(process.execPath, [BIN, ...args, '--out', again, '--json'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(ok2.status, 0, ok2.stderr);
    assert.deepEqual(readFileSync(again), readFileSync(out));
    const run = spawnSync(
      process.execPath,
      [join(ROOT, 'bin/vla-run.js'), '--robot', 'ur5e', '--task', 'pick-place', '--sim', '--clock', 'fast'].concat([
        '--episodes',
        '1',
        '--policy',
        out,
        '--json',
      ]),
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.equal(run.status === 0 || run.status === 1, true, run.stderr);
    assert.equal(JSON.parse(run.stdout).episodes, 1);
    for (const [bad, why] of [
      [['--predict', 'cube_roll'], /no coordinate 'cube_roll'/],
      [['--camera', 'side'], /--camera side: the base model reads top, wrist/],
      [['--base', out], /a feature head already/],
      [['--seed0', '9995'], /reach seed 10000: keep to training seeds/],
    ] as const) {
      const r = spawnSync(process.execPath, [BIN, ...args, ...bad, '--out', join(dir, 'x.onnx')], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, why);
    }
    // a residual learnt on the true values of the copy's head: the actors say so; the plain model is refused
    const ft = ['--robot', 'ur5e', '--task', 'pick-place', '--sim', '--runs-dir', dir, '--rounds', '1'];
    ft.push('--episodes-per-round', '1', '--every-ticks', '10', '--batch-size', '32', '--offline-episodes', '1');
    ft.push('--eval-every', '5', '--warmup-updates', '5', '--privileged-head');
    const trained = spawnSync(process.execPath, [BIN, ...ft, '--base', out, '--run', 'p'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(trained.status, 0, trained.stderr);
    assert.match(trained.stderr, /ready: ur5e pick-place, base .*, true head features, learner/);
    const config = JSON.parse(readFileSync(join(dir, 'p', 'config.json'), 'utf8'));
    assert.equal(config.residual.privileged_head, true);
    const plain = spawnSync(process.execPath, [BIN, ...ft, '--base', BASE, '--run', 'q'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(plain.status, 2);
    assert.match(plain.stderr, /--privileged-head: .* has no feature head/);
    // a sharper head made later: the privileged residual is exported for it, and vla-run takes the pair
    const sharper = join(dir, 'sharper.onnx');
    const made = spawnSync(process.execPath, [BIN, ...args, '--seed', '1', '--out', sharper], { cwd: ROOT });
    assert.equal(made.status, 0, String(made.stderr));
    const residual = join(dir, 'r.onnx');
    const exported = spawnSync(
      process.execPath,
      [BIN, 'export', join(dir, 'p'), '--round', '1', '--base', sharper, '--out', residual],
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.equal(exported.status, 0, exported.stderr);
    const oneEpisode = ['--robot', 'ur5e', '--sim', '--clock', 'fast', '--episodes', '1', '--json'];
    const runWith = (policy: string) =>
      spawnSync(
        process.execPath,
        [join(ROOT, 'bin/vla-run.js'), ...oneEpisode, '--policy', policy, '--residual', residual],
        {
          cwd: ROOT,
          encoding: 'utf8',
        },
      );
    const both = runWith(sharper);
    assert.equal(both.status === 0 || both.status === 1, true, both.stderr);
    assert.equal(JSON.parse(both.stdout).episodes, 1);
    const old = runWith(out);
    assert.equal(old.status, 2);
    assert.match(old.stderr, /trained on another base model/);
  });

  test('export --base: only a privileged run, only a copy of the same base with the same head outputs', async () => {
    const before = new Uint8Array(readFileSync(BASE));
    const dir = mkdtempSync(join(tmpdir(), 'rebind-'));
    const copy = (name: string, outputs: string[], seed: number, base_sha256 = 'b') => {
      const w = initHead(tinyHead(outputs.map((o) => ({ name: o }))), seed);
      writeFileSync(join(dir, name), spliceHead(before, w, { camera: 'wrist', base_sha256, training: {} }, BASE));
      return join(dir, name);
    };
    const yaw = ['cube_yaw_sin4', 'cube_yaw_cos4'];
    const was = copy('was.onnx', yaw, 1);
    const config = {
      run: 'rp',
      base: { path: was, sha256: await fileSha256(was), horizon: 25 },
      residual: { privileged_head: true },
    } as unknown as FinetuneConfig;
    const sharper = copy('sharper.onnx', yaw, 2);
    const moved = await rebindBase(config, sharper);
    assert.deepEqual(moved.base, { path: sharper, sha256: await fileSha256(sharper), horizon: 25 });
    for (const [c, path, why] of [
      [{ ...config, residual: {} }, sharper, /only a --privileged-head run's residual/],
      [config, copy('target.onnx', ['target_x_m'], 3), /head gives target_x_m; the run's gives cube_yaw_sin4/],
      [config, copy('other.onnx', yaw, 4, 'c'), /a copy of another base model/],
      [config, BASE, /has no feature head/],
      [{ ...config, base: { ...config.base, sha256: '0'.repeat(64) } }, sharper, /changed since the run started/],
    ] as const)
      await assert.rejects(rebindBase(c as FinetuneConfig, path), why);
  });
});
