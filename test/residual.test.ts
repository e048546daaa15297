// The residual in the loop: its ONNX file and the JavaScript evaluator the control tick uses agree with ONNX Runtime;
// a zero residual leaves a run bit for bit as it was, a constant one moves exactly the commands it should; a
// residual for another base model, robot or a damaged file is refused before anything moves.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { newJointState } from '../drivers/driver.js';
import type { DenseLayer } from '../src/policy/residual/dense-stack.js';
import { deterministicUnit, ResidualCorrector } from '../src/policy/residual/residual-corrector.js';
import { residualManifestFor } from '../src/policy/residual/residual-draft.js';
import { ResidualLoadError, type ResidualManifest } from '../src/policy/residual/residual-manifest.js';
import { buildResidualOnnx, parseResidualOnnx, writeResidualOnnx } from '../src/policy/residual/residual-onnx.js';
import { readEpisode } from '../src/recording/index.js';
import { DhChain, loadRobot } from '../src/robot/index.js';
import { Rng } from '../src/util/rng.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BASE = join(ROOT, 'models/ur5e-pick-place.onnx');
const BIN = join(ROOT, 'bin/vla-run.js');
const tmp = await mkdtemp(join(tmpdir(), 'vla-residual-'));
after(() => rm(tmp, { recursive: true, force: true }));
const ur5e = await loadRobot('ur5e');

function randomLayers(sizes: number[], rng: Rng, lastScale = 1): DenseLayer[] {
  return sizes.slice(1).map((n_out, i) => {
    const n_in = sizes[i];
    const s = i + 2 === sizes.length ? lastScale : 1;
    return {
      n_in,
      n_out,
      w: Float32Array.from({ length: n_in * n_out }, () => rng.normal() * s * Math.sqrt(2 / n_in)),
      b: Float32Array.from({ length: n_out }, () => rng.normal() * 0.1 * s),
    };
  });
}

/** A residual whose correction is a constant u = tanh(bias) (zero weights in the last layer). */
function constantLayers(m: ResidualManifest, unit: number[]): DenseLayer[] {
  const layers = randomLayers([15, ...m.hidden, 7], new Rng(1));
  const last = layers[layers.length - 1];
  last.w.fill(0);
  last.b.set(unit.map((u) => Math.atanh(u)));
  return layers;
}

function vlaRun(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('residual file and evaluator', () => {
  test('the control tick’s JavaScript evaluator gives what ONNX Runtime gives for the exported file', async () => {
    const m = await residualManifestFor(ur5e, { name: 'r', base_path: BASE, base_horizon: 25, hidden: [32, 16] });
    const layers = randomLayers([15, 32, 16, 7], new Rng(3));
    const bytes = buildResidualOnnx(m, layers);
    const loaded = parseResidualOnnx('r.onnx', bytes);
    assert.deepEqual(loaded.manifest, m);
    const session = await ort.InferenceSession.create(bytes);
    const unit = deterministicUnit(loaded.net);
    const rng = new Rng(9);
    let worst = 0;
    for (let t = 0; t < 20; t++) {
      const x = Float32Array.from({ length: 15 }, () => rng.normal());
      const onnx = (await session.run({ inputs: new ort.Tensor('float32', x, [1, 15]) })).correction.data;
      const u = new Float64Array(7);
      unit(x, u);
      for (let i = 0; i < 7; i++) worst = Math.max(worst, Math.abs(u[i] * m.scale[i] - (onnx[i] as number)));
    }
    await session.release();
    assert.ok(worst < 1e-6, `largest difference ${worst}`);
  });

  test('the corrector adds scale x u to the base action, holds it between evaluations, and counts bounds', async () => {
    const m = await residualManifestFor(ur5e, {
      name: 'r',
      base_path: BASE,
      base_horizon: 25,
      hidden: [8],
      every_ticks: 2,
    });
    const seen: number[] = [];
    let call = 0;
    const c = new ResidualCorrector(ur5e, m, (_x, u) => {
      u.fill(0);
      u[0] = ++call === 1 ? 1 : -0.5;
    });
    c.onEvaluate = (k, x) => seen.push(k, x[x.length - 1]);
    const state = newJointState(ur5e);
    const act = (k: number, index: number) => {
      const a = new Float64Array(7).fill(0.1);
      c.correct(k, state, a, index);
      return a[0];
    };
    assert.deepEqual(
      [act(1, 0), act(2, 6), act(3, 12), act(4, 24)].map((v) => +v.toFixed(6)),
      [
        +(0.1 + m.scale[0]).toFixed(6),
        +(0.1 + m.scale[0]).toFixed(6),
        +(0.1 - 0.5 * m.scale[0]).toFixed(6),
        +(0.1 - 0.5 * m.scale[0]).toFixed(6),
      ],
    );
    assert.deepEqual(seen, [1, 0, 3, 0.5], 'evaluated at ticks 1 and 3, chunk index normalised by H - 1');
    assert.equal(c.stats.evaluations, 2);
    assert.equal(c.stats.at_bound[0], 1);
  });

  test('a gripper correction stays in 0..1: an open gripper pushed to open further stays at 1', async () => {
    const m = await residualManifestFor(ur5e, { name: 'r', base_path: BASE, base_horizon: 25, hidden: [8] });
    const gripper = ur5e.action_names.length - 1;
    let push = 1;
    const c = new ResidualCorrector(ur5e, m, (_x, u) => u.fill(push));
    const command = (k: number, base_gripper: number) => {
      const a = new Float64Array(7).fill(0.1);
      a[gripper] = base_gripper;
      c.correct(k, newJointState(ur5e), a, 0);
      return [+a[0].toFixed(6), +a[gripper].toFixed(6)];
    };
    assert.deepEqual(command(1, 1), [+(0.1 + m.scale[0]).toFixed(6), 1], 'the joint moves, the open gripper stays');
    assert.deepEqual(command(2, 0.5), [+(0.1 + m.scale[0]).toFixed(6), 0.5 + m.scale[gripper]]);
    push = -1;
    assert.deepEqual(command(3, 0.1)[1], 0, 'closing past closed stays closed');
  });
  test('per-joint bounds land on their joints, grippers keep theirs; a wrong-length list is refused', async () => {
    const aloha = await loadRobot('aloha');
    const deg = (x: number) => (x * Math.PI) / 180;
    const per_joint = aloha.joint_names.map((_, j) => deg(j + 1));
    const m = await residualManifestFor(aloha, {
      name: 'r',
      base_path: BASE,
      base_horizon: 25,
      hidden: [8],
      joint_scale_rad: per_joint,
      gripper_scale: 0.3,
    });
    aloha.action_names.forEach((name, i) => {
      const j = aloha.action_source[i];
      assert.equal(m.scale[i], j < 0 ? 0.3 : deg(j + 1), `${name}: joint ${j}`);
    });
    const draft = { name: 'r', base_path: BASE, base_horizon: 25, hidden: [8], joint_scale_rad: [deg(3), deg(3)] };
    await assert.rejects(residualManifestFor(aloha, draft), /2 joint bounds for aloha's 12 joints/);
  });

  test('start_features: the first chunk’s features all episode, through a resume; a new episode renews', async () => {
    const m = await residualManifestFor(ur5e, {
      name: 'r',
      base_path: BASE,
      base_horizon: 25,
      hidden: [8],
      every_ticks: 1,
      base_features: 2,
      start_features: true,
    });
    assert.deepEqual(
      m.inputs.slice(-2).map((b) => `${b.block}:${b.size}`),
      ['base_features:2', 'start_features:2'],
    );
    const inputs: number[][] = [];
    const c = new ResidualCorrector(ur5e, m, (_x, u) => u.fill(0));
    // the last four inputs: base_features, start_features
    c.onEvaluate = (_k, x) => inputs.push(Array.from(x.subarray(x.length - 4)));
    const state = newJointState(ur5e);
    const step = (k: number, features?: number[]) =>
      c.correct(k, state, new Float64Array(7), 0, features && Float64Array.from(features));
    step(1); // no chunk's features yet: zeros
    step(2, [1, 2]);
    step(3, [3, 4]);
    c.resume();
    step(4, [5, 6]);
    c.reset();
    step(5, [7, 8]);
    assert.deepEqual(inputs, [
      [0, 0, 0, 0],
      [1, 2, 1, 2],
      [3, 4, 1, 2],
      [5, 6, 1, 2],
      [7, 8, 7, 8],
    ]);
    // the two feature blocks come from one features output: sizes that differ are refused
    const odd = { ...m, inputs: [...m.inputs.slice(0, -1), { block: 'start_features' as const, size: 3 }] };
    assert.throws(() => new ResidualCorrector(ur5e, odd, () => undefined), /'start_features'.*gives 2 values, found 3/);
  });

  test('episode_time: the episode tick over the control rate in tens of seconds, after chunk_index', async () => {
    const d = { name: 'r', base_path: BASE, base_horizon: 25, hidden: [8], every_ticks: 2 };
    const m = await residualManifestFor(ur5e, { ...d, episode_time: true });
    const blocks = m.inputs.map((b) => b.block);
    assert.deepEqual(blocks.slice(3, 5), ['chunk_index', 'episode_time']);
    assert.equal((await residualManifestFor(ur5e, d)).inputs.length, blocks.length - 1, 'off unless asked for');
    const at = 6 + 1 + 7 + 1; // after position_rad (6), gripper (1), base_action (7), chunk_index (1)
    const seen: number[] = [];
    const c = new ResidualCorrector(ur5e, m, (_x, u) => u.fill(0));
    c.onEvaluate = (k, x) => seen.push(k, x[at]);
    const state = newJointState(ur5e);
    for (const k of [1, 2, 3, 250]) c.correct(k, state, new Float64Array(7), 0);
    // evaluated at ticks 1, 3 (every 2 ticks) and 250: at 50 Hz, 250 ticks are 5 s, 0.5 in tens of seconds
    assert.equal(ur5e.control_hz, 50);
    assert.deepEqual(seen, [1, 0.002, 3, 0.006, 250, 0.5].map(Math.fround));
  });
  test('tool_pose and measured_tool_pose: where the base action puts the flange, and where it is', async () => {
    const draft = { name: 'r', base_path: BASE, base_horizon: 25, hidden: [8] };
    const m = await residualManifestFor(ur5e, { ...draft, tool_pose: true, measured_tool_pose: true });
    assert.deepEqual(m.inputs.slice(4, 6), [
      { block: 'tool_pose', size: 9 },
      { block: 'measured_tool_pose', size: 9 },
    ]);
    const at = 6 + 1 + 7 + 1;
    let seen: Float32Array | undefined;
    const c = new ResidualCorrector(ur5e, m, (_x, u) => u.fill(0));
    c.onEvaluate = (_k, x) => {
      seen = x.slice(at, at + 18);
    };
    const state = newJointState(ur5e);
    state.position_rad.set([0.1, -1.2, 1.5, -1.9, -1.6, 0.3]);
    c.correct(1, state, Float64Array.from([...ur5e.home_rad, 1]), 0);
    const chain = new DhChain(ur5e.dh!);
    const pose = (q: ArrayLike<number>) => {
      const pos = new Float64Array(3);
      const rot = new Float64Array(9);
      chain.pose(q, pos, rot);
      return [...pos, rot[0], rot[3], rot[6], rot[2], rot[5], rot[8]];
    };
    const want = [...pose(ur5e.home_rad), ...pose(state.position_rad)];
    assert.deepEqual(Array.from(seen ?? []), want.map(Math.fround));
    const aloha = await loadRobot('aloha');
    const am = await residualManifestFor(aloha, draft);
    const odd = { ...am, inputs: [...am.inputs, { block: 'tool_pose' as const, size: 9 }] };
    assert.throws(
      () => new ResidualCorrector(aloha, odd, () => undefined),
      /'tool_pose': aloha's profile has no kinematics/,
    );
  });

  test('a file that is not our residual graph, or not a residual at all, is refused', async () => {
    const m = await residualManifestFor(ur5e, { name: 'r', base_path: BASE, base_horizon: 25, hidden: [8] });
    assert.throws(() => parseResidualOnnx('x.onnx', new Uint8Array([1, 2, 3, 4])), ResidualLoadError);
    const base = await readFile(BASE);
    // the manifest in the metadata promising bounds the graph does not apply
    const model = onnxProto.onnx.ModelProto.decode(buildResidualOnnx(m, randomLayers([15, 8, 7], new Rng(1))));
    const meta = model.metadataProps[0];
    meta.value = JSON.stringify({ ...m, scale: m.scale.map((x) => x * 2) });
    const lying = onnxProto.onnx.ModelProto.encode(model).finish();
    assert.throws(() => parseResidualOnnx('y.onnx', lying), /the graph's scale differs from the manifest's/);
    assert.throws(() => parseResidualOnnx('z.onnx', base), /not a residual \(no 'vla_residual' metadata\)/);
    // a diverged run's NaN weights are refused at load, not discovered by the robot
    const layers = randomLayers([15, 8, 7], new Rng(1));
    layers[1].w[3] = Number.NaN;
    assert.throws(() => parseResidualOnnx('n.onnx', buildResidualOnnx(m, layers)), /holds NaN at index 3/);
  });
});

describe('vla-run --residual', () => {
  test('a zero residual changes nothing; a constant one moves the first joint by its scale', async () => {
    const m = await residualManifestFor(ur5e, { name: 'r', base_path: BASE, base_horizon: 25, hidden: [8] });
    const zero = join(tmp, 'zero.onnx');
    const shift = join(tmp, 'shift.onnx');
    await writeResidualOnnx(zero, m, constantLayers(m, [0, 0, 0, 0, 0, 0, 0]));
    await writeResidualOnnx(shift, m, constantLayers(m, [0.5, 0, 0, 0, 0, 0, 0]));
    const run = (name: string, extra: string[]) => {
      const out = join(tmp, `${name}.mcap`);
      const args = ['--robot', 'ur5e', '--sim', '--clock', 'fast', '--policy', BASE, '--latency-model', 'fixed:40'];
      const r = vlaRun(...args, '--record', out, '--record-cameras', 'none', '--json', ...extra);
      assert.equal(r.code, 0, r.stderr);
      return readEpisode(out, { frames: false });
    };
    const [plain, withZero, withShift] = [
      await run('plain', []),
      await run('zero', ['--residual', zero]),
      await run('shift', ['--residual', shift]),
    ];
    assert.deepEqual(withZero.action, plain.action, 'a zero correction is no correction');
    assert.notDeepEqual(withShift.action, plain.action);
    // until the corrected run's observations differ, its commands are the plain run's plus the correction
    const first = plain.action.findIndex((v, i) => v !== withShift.action[i]);
    const tick = Math.floor(first / 7);
    assert.ok(Math.abs(withShift.action[tick * 7] - plain.action[tick * 7] - 0.5 * m.scale[0]) < 1e-9);
  });

  test('a tool-frame residual moves the flange in the base frame: a constant one lifts it, nothing else', async () => {
    const tool = { translation_m: [0.02, 0.02, 0.01], rotation_rad: [0.02, 0.02, 0.1] } as const;
    const m = await residualManifestFor(ur5e, { name: 't', base_path: BASE, base_horizon: 25, hidden: [8], tool });
    assert.equal(m.frame, 'tool');
    assert.deepEqual(m.scale, [0.02, 0.02, 0.01, 0.02, 0.02, 0.1, 0.2]);
    const lift = join(tmp, 'lift.onnx');
    await writeResidualOnnx(lift, m, constantLayers(m, [0, 0, 0.5, 0, 0, 0, 0]));
    const run = async (name: string, extra: string[]) => {
      const out = join(tmp, `${name}.mcap`);
      const args = ['--robot', 'ur5e', '--sim', '--clock', 'fast', '--policy', BASE, '--latency-model', 'fixed:40'];
      const r = vlaRun(...args, '--record', out, '--record-cameras', 'none', '--json', '--duration', '2', ...extra);
      assert.equal(r.code, 0, r.stderr);
      // a run of one episode with --duration writes its recording per seed
      return { episode: await readEpisode(out.replace('.mcap', '-seed0.mcap'), { frames: false }), stdout: r.stdout };
    };
    const plain = await run('plain-t', []);
    const lifted = await run('lift', ['--residual', lift]);
    assert.equal(JSON.parse(lifted.stdout).residual.frame, 'tool');
    // the first command that differs: the plain run's plus a 5 mm lift of the flange, x and y unmoved
    const a = plain.episode.action;
    const b = lifted.episode.action;
    const tick = Math.floor(a.findIndex((v, i) => v !== b[i]) / 7);
    const chain = new DhChain(ur5e.dh!);
    const at = (xs: ArrayLike<number>) =>
      chain.flange(Array.from(xs).slice(tick * 7, tick * 7 + 6), new Float64Array(3));
    const [p, q] = [at(a), at(b)];
    assert.ok(Math.abs(q[2] - p[2] - 0.005) < 2e-4, `lifted ${(q[2] - p[2]) * 1000} mm`);
    assert.ok(Math.hypot(q[0] - p[0], q[1] - p[1]) < 2e-4, `moved ${(q[0] - p[0]) * 1000}, ${(q[1] - p[1]) * 1000} mm`);
    // an arm without kinematics in its profile cannot take one
    const aloha = await loadRobot('aloha');
    await assert.rejects(
      residualManifestFor(aloha, { name: 't', base_path: BASE, base_horizon: 25, hidden: [8], tool }),
      /no kinematics/,
    );
  });

  test('a residual for another base model, or without its base, exits 2 before anything moves', async () => {
    const m = await residualManifestFor(ur5e, { name: 'r', base_path: BASE, base_horizon: 25, hidden: [8] });
    const other = { ...m, base: { ...m.base, sha256: 'ab'.repeat(32) } };
    const file = join(tmp, 'other.onnx');
    await writeResidualOnnx(file, other, constantLayers(m, [0, 0, 0, 0, 0, 0, 0]));
    let r = vlaRun('--robot', 'ur5e', '--sim', '--clock', 'fast', '--policy', BASE, '--residual', file);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /trained on another base model: expected ur5e-pick-place\.onnx \(sha256 abababababab/);
    r = vlaRun('--robot', 'ur5e', '--sim', '--clock', 'fast', '--policy', 'expert', '--residual', file);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give that model as --policy <file\.onnx> \(found 'expert'\)/);
    await writeFile(join(tmp, 'junk.onnx'), 'not onnx');
    r = vlaRun('--robot', 'ur5e', '--sim', '--policy', BASE, '--residual', join(tmp, 'junk.onnx'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /junk\.onnx: not an ONNX model|not a residual/);
    assert.equal(r.stdout, '');
  });
  test('the shipped residuals run on their own base model and are refused on another', () => {
    for (const [robot, task] of [
      ['ur5e', 'pick-place'],
      ['ur5e', 'push'],
      ['aloha', 'transfer-cube'],
    ]) {
      const base = join(ROOT, `models/${robot}-${task}.onnx`);
      const residual = join(ROOT, `models/${robot}-${task}.residual.onnx`);
      const args = ['--robot', robot, '--task', task, '--sim', '--clock', 'fast', '--seed', '10000', '--json'];
      const r = vlaRun(...args, '--policy', base, '--residual', residual);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      assert.equal(s.fault, null);
      assert.ok(s.residual.evaluations > 10, `${robot}: the residual ran in the tick`);
      assert.ok(
        s.residual.mean_abs_fraction.some((f: number) => f > 0),
        `${robot}: and corrected something`,
      );
    }
    const onAnother = vlaRun(
      ...['--robot', 'ur5e', '--sim', '--clock', 'fast', '--policy', join(ROOT, 'models/ur5e-push.onnx')],
      ...['--task', 'push', '--residual', join(ROOT, 'models/ur5e-pick-place.residual.onnx')],
    );
    assert.equal(onAnother.code, 2);
    assert.match(onAnother.stderr, /trained on another base model/);
  });
});
