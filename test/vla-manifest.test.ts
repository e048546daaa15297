// vla-manifest end to end: a model that mimics a LeRobot ACT export for ALOHA becomes runnable through
// import-lerobot alone (check passes, vla-run runs an episode with it); init lists what it cannot infer with the
// flag that gives it; a sidecar is never overwritten without --force; check refuses a model that does not fit.
// The CLI runs as a child process (exit codes and JSON are what is asserted).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { manifestJsonSchemaText, shippedSchemaPath } from '../src/policy/onnx/manifest-json-schema.js';
import { parseSafetensorsStats, parseStatsJson } from '../src/policy/onnx/norm-stats.js';
import { writeActFolder } from './fixtures/lerobot-act.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/vla-manifest.js');

function run(bin: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const manifestCli = (...args: string[]) => run(BIN, ...args);

const tmp = await mkdtemp(join(tmpdir(), 'vla-manifest-'));
test.after(() => rm(tmp, { recursive: true, force: true }));
let n = 0;
const folder = (): string => join(tmp, `act-${n++}`);

test('the shipped JSON Schema is the one the zod schema generates (vla-manifest schema --out)', async () => {
  const shipped = await readFile(shippedSchemaPath(), 'utf8');
  assert.equal(shipped, manifestJsonSchemaText(), 'schema/vla-manifest.schema.json is out of date');
  const r = manifestCli('schema');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, shipped);
  const schema = JSON.parse(shipped);
  assert.deepEqual(schema.required, ['format_version', 'name', 'control_hz', 'action', 'inputs', 'output']);
  assert.match(schema.properties.action.properties.semantics.description, /absolute_joint_positions/);
});

test('import-lerobot makes an ACT export for ALOHA runnable: written, check passes, vla-run runs it', async () => {
  const act = await writeActFolder({ dir: folder(), n_action_steps: 50, fps: 50 });
  const imp = manifestCli('import-lerobot', act.dir, '--robot', 'aloha', '--json');
  assert.equal(imp.code, 0, imp.stderr);
  const out = JSON.parse(imp.stdout);
  const sidecar = join(act.dir, 'model.manifest.json');
  assert.equal(out.written, sidecar);
  const m = JSON.parse(await readFile(sidecar, 'utf8'));
  assert.equal(m.robot, 'aloha');
  assert.equal(m.control_hz, 50);
  assert.deepEqual(m.output, { name: 'action', shape: [1, 100, 14] });
  assert.deepEqual(m.inputs.images, [
    {
      input: 'observation.images.top',
      camera: 'top',
      height: 48,
      width: 48,
      layout: 'NCHW',
      dtype: 'float32',
      // train_config.json says use_imagenet_stats: LeRobot trained with ImageNet's mean/std, not the dataset's
      normalize: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    },
  ]);
  assert.equal(m.inputs.state.input, 'observation.state');
  assert.equal(m.inputs.state.normalization.kind, 'mean_std');
  assert.equal(m.inputs.state.normalization.mean.length, 14);
  assert.equal(m.action.normalization.kind, 'mean_std');
  assert.ok(
    out.notes.some((s: string) => /n_action_steps 50 of 100/.test(s)),
    out.notes.join('\n'),
  );

  const check = manifestCli('check', act.model, '--robot', 'aloha', '--json');
  assert.equal(check.code, 0, check.stdout + check.stderr);
  const r = JSON.parse(check.stdout);
  assert.equal(r.ok, true);
  assert.deepEqual(
    r.cameras.map((c: { camera: string; input: string }) => [c.camera, c.input]),
    [['top', 'observation.images.top']],
  );
  assert.deepEqual(r.unused_cameras, ['left_wrist', 'right_wrist']);
  assert.equal(r.state.joints[0], 'left_waist');
  assert.equal(r.timing.horizon, 100);
  const text = manifestCli('check', act.model, '--robot', 'aloha');
  assert.equal(text.code, 0);
  assert.match(text.stdout, /top -> 'observation\.images\.top' float32 \[1, 3, 48, 48\] NCHW/);
  assert.match(text.stdout, /fits aloha/);

  const vlaRun = run(
    join(ROOT, 'dist/src/cli/vla-run.js'),
    ...['--robot', 'aloha', '--sim', '--policy', act.model, '--episodes', '1', '--clock', 'fast', '--json'],
  );
  assert.equal(vlaRun.code, 0, vlaRun.stderr.slice(-2000));
  const summary = JSON.parse(vlaRun.stdout);
  assert.equal(summary.policy, m.name);
  assert.equal(summary.episodes, 1);
  assert.equal(summary.fault, null, 'it ran without a fault (success does not matter: the model is untrained)');
  assert.ok(summary.control.ticks > 0 && summary.inference.calls > 0, JSON.stringify(summary.inference));
});

test('import-lerobot: a camera the robot does not have is refused; --camera-map names the robot camera', async () => {
  const act = await writeActFolder({ dir: folder(), camera: 'cam_high', fps: 50 });
  const bad = manifestCli('import-lerobot', act.dir, '--robot', 'aloha');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /expected a camera of aloha \(top, left_wrist, right_wrist\), found 'cam_high'/);
  assert.match(bad.stderr, /--camera-map cam_high=CAMERA/);
  const ok = manifestCli('import-lerobot', act.dir, '--robot', 'aloha', '--camera-map', 'cam_high=top', '--json');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).manifest.inputs.images[0].camera, 'top');
});

test('import-lerobot without a rate anywhere asks for --hz', async () => {
  const act = await writeActFolder({ dir: folder() });
  const r = manifestCli('import-lerobot', act.dir, '--robot', 'aloha');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /give --hz/);
  assert.equal(manifestCli('import-lerobot', act.dir, '--robot', 'aloha', '--hz', '50').code, 0);
});

test('init lists what the graph does not say with the flag that gives it, then writes one that checks', async () => {
  const act = await writeActFolder({ dir: folder() });
  const missing = manifestCli('init', act.model, '--robot', 'aloha');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /the control rate the model was trained at .*: --hz HZ/);
  assert.match(missing.stderr, /normalisation of state and actions .*: --stats stats\.json/);
  await assert.rejects(stat(join(act.dir, 'model.manifest.json')), 'nothing written');

  const noRobot = manifestCli('init', act.model, '--hz', '50', '--norm', 'identity');
  assert.equal(noRobot.code, 2);
  assert.match(noRobot.stderr, /--camera observation\.images\.top=CAMERA/);

  const ok = manifestCli('init', act.model, '--robot', 'aloha', '--hz', '50', '--stats', act.stats, '--json');
  assert.equal(ok.code, 0, ok.stderr);
  const m = JSON.parse(ok.stdout).manifest;
  assert.equal(m.inputs.images[0].camera, 'top', 'matched by name');
  assert.equal(m.inputs.images[0].normalize.mean[0], 0.41, "the statistics' image mean");
  assert.equal(m.inputs.state.normalization.kind, 'mean_std');
  assert.deepEqual(m.output.shape, [1, 100, 14]);
  assert.equal(m.action.names[13], 'right_gripper');
  assert.equal(manifestCli('check', act.model, '--robot', 'aloha').code, 0);
});

test('an existing sidecar is not overwritten without --force', async () => {
  const act = await writeActFolder({ dir: folder(), fps: 50 });
  const sidecar = join(act.dir, 'model.manifest.json');
  await writeFile(sidecar, '{"hand": "written"}\n');
  const args = ['init', act.model, '--robot', 'aloha', '--hz', '50', '--norm', 'identity'];
  const r = manifestCli(...args);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /model\.manifest\.json exists; not overwritten \(--force to replace it\)/);
  assert.equal(await readFile(sidecar, 'utf8'), '{"hand": "written"}\n');
  assert.equal(manifestCli('import-lerobot', act.dir, '--robot', 'aloha').code, 2);
  assert.equal(await readFile(sidecar, 'utf8'), '{"hand": "written"}\n');
  const forced = manifestCli(...args, '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(JSON.parse(await readFile(sidecar, 'utf8')).control_hz, 50);
});

test('check exits 2 for a model whose action size does not fit the robot, with expected vs found', async () => {
  const act = await writeActFolder({ dir: folder(), action_dim: 7, fps: 50 });
  const refused = manifestCli('import-lerobot', act.dir, '--robot', 'aloha');
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /action: expected 14 values \(robot aloha\), found 7/);
  assert.equal(manifestCli('import-lerobot', act.dir).code, 0, 'no --robot: the manifest describes the model');
  const r = manifestCli('check', act.model, '--robot', 'aloha', '--json');
  assert.equal(r.code, 2);
  const report = JSON.parse(r.stdout);
  assert.equal(report.ok, false);
  assert.ok(
    report.problems.some(
      (p: { severity: string; message: string }) =>
        p.severity === 'error' && /action dimension: expected 14 \(robot aloha\), found 7/.test(p.message),
    ),
    JSON.stringify(report.problems),
  );
  const text = manifestCli('check', act.model, '--robot', 'aloha');
  assert.equal(text.code, 2);
  assert.match(text.stdout, /does not fit aloha/);
});

test('check of a model without a manifest says how to write one; bad usage exits 2', async () => {
  const act = await writeActFolder({ dir: folder() });
  const r = manifestCli('check', act.model, '--robot', 'aloha', '--json');
  assert.equal(r.code, 2);
  assert.match(JSON.parse(r.stdout).error, /no manifest.*vla-manifest init or vla-manifest import-lerobot/);
  assert.equal(manifestCli('check', act.model).code, 2, '--robot is required');
  assert.equal(manifestCli('check', act.model, '--robot', 'ur7').code, 2);
  assert.equal(manifestCli('init', act.model, '--camera', 'nonsense').code, 2);
  assert.equal(manifestCli('--bogus').code, 2);
  assert.equal(manifestCli('init', '--help').code, 0);
});

test('statistics: nested, flat and openpi JSON forms and safetensors read alike', () => {
  const nested = parseStatsJson({ 'observation.state': { mean: [1, 2], std: [[0.5], [0.25]] } }, 'a');
  const slash = parseStatsJson({ 'observation.state/mean': [1, 2], 'observation.state/std': [0.5, 0.25] }, 'b');
  const dot = parseStatsJson({ 'observation.state.mean': [1, 2], 'observation.state.std': [0.5, 0.25] }, 'c');
  assert.deepEqual(slash, nested);
  assert.deepEqual(dot, nested);
  const openpi = parseStatsJson({ norm_stats: { state: { mean: [1], std: [2], q01: [0], q99: [3] } } }, 'd');
  assert.deepEqual(openpi.state.q99, [3]);
  // safetensors: u64 header length, JSON header, little-endian data
  const data = new Float32Array([1, 2, 0.5, 0.25]);
  const header = JSON.stringify({
    __metadata__: {},
    'observation.state.mean': { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    'observation.state.std': { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
  });
  const h = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + h.length + data.byteLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(h.length), true);
  bytes.set(h, 8);
  bytes.set(new Uint8Array(data.buffer), 8 + h.length);
  assert.deepEqual(parseSafetensorsStats(bytes, 'e'), nested);
});
