// The feature probe (vla-finetune probe): the ridge fit recovers a coordinate the features hold and gives ~0 for
// one they do not; vla-finetune probe runs on the shipped push model and refuses a file that is no model (exit 2).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { yawQuat } from '../sim/tasks/task.js';
import { type ProbeSample, probeScores, solveLinear, truthOf } from '../src/rl/feature-probe.js';
import { Rng } from '../src/util/rng.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/vla-finetune.js');

describe('feature probe', () => {
  test('solveLinear solves a pivoting system exactly', () => {
    const a = [Float64Array.of(0, 2, 1), Float64Array.of(1, 1, 0), Float64Array.of(3, 0, 1)];
    const x = solveLinear(a, Float64Array.of(5, 3, 4));
    assert.deepEqual(
      Array.from(x, (v) => +v.toFixed(9)),
      [1, 2, 1],
    );
    assert.equal(a[0][0], 0, 'the matrix is left as it was');
  });

  test('a coordinate the features hold scores R² near 1; one they do not, near 0 or below; a fixed one, none', () => {
    const rng = new Rng(4);
    const samples: ProbeSample[] = [];
    for (let episode = 0; episode < 40; episode++)
      for (let chunk = 0; chunk < 10; chunk++) {
        const held = rng.uniform(-0.2, 0.2);
        const hidden = rng.uniform(-0.2, 0.2);
        // 6 features: a mix of `held` and noise; `hidden` appears in none
        const f = Float32Array.from({ length: 6 }, (_, i) => (i < 2 ? (i + 1) * held : 0) + 0.001 * rng.normal());
        for (let i = 2; i < 6; i++) f[i] = rng.normal();
        samples.push({ episode, chunk, features: f, truth: [held, hidden, 0.3] });
      }
    const [held, hidden, fixed] = probeScores(
      [
        { name: 'held_x', unit: 'cm' },
        { name: 'hidden_x', unit: 'cm' },
        { name: 'fixed_x', unit: 'cm' },
      ],
      samples,
    );
    assert.equal(held.name, 'held_x');
    assert.ok(held.r2 !== null && held.r2 > 0.99, `held: R² ${held.r2}`);
    assert.ok(held.rmse < 0.5, `held: ${held.rmse} cm`);
    assert.ok(hidden.r2 !== null && hidden.r2 < 0.1, `hidden: R² ${hidden.r2}`);
    assert.deepEqual([fixed.r2, fixed.std], [null, 0], 'a coordinate that never varies has no R²');
    assert.ok(Math.abs(hidden.rmse - hidden.std) < 2, 'a probe that knows nothing misses by the spread');
  });

  test("truthOf: each object's x, y and yaw modulo a quarter turn, then the target's x and y, with units", () => {
    const yaw = (deg: number) => yawQuat((deg * Math.PI) / 180);
    const t = truthOf({
      task: 'push',
      objects: { cube: { pos: [0.4, -0.1, 0.02], quat: yaw(50) } },
      target: { pos: [0.5, 0.2, 0], radius_m: 0.05 },
    });
    assert.deepEqual(t.names, ['cube_x', 'cube_y', 'cube_yaw', 'target_x', 'target_y']);
    assert.deepEqual(t.units, ['cm', 'cm', 'deg', 'cm', 'cm']);
    assert.deepEqual(
      t.values.map((v) => +v.toFixed(6)),
      [0.4, -0.1, +((-40 * Math.PI) / 180).toFixed(6), 0.5, 0.2],
    );
    const [, , turned] = truthOf({ task: 'push', objects: { cube: { pos: [0, 0, 0], quat: yaw(-100) } } }).values;
    assert.ok(Math.abs(turned - (-10 * Math.PI) / 180) < 1e-9, 'a cube turned -100 degrees is turned -10');
  });

  test('vla-finetune probe on the shipped push model: JSON with every coordinate, whole episode and start', () => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'probe', '--robot', 'ur5e', '--task', 'push', '--episodes', '20', '--start-chunks', '2', '--json'],
      { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.base, 'models/ur5e-push.onnx');
    const names = ['cube_x', 'cube_y', 'cube_yaw', 'target_x', 'target_y'];
    assert.deepEqual(
      out.whole_episode.map((s: { name: string }) => s.name),
      names,
    );
    assert.deepEqual(
      out.start.map((s: { name: string }) => s.name),
      names,
    );
    assert.ok(out.chunks > 20 * 2, `${out.chunks} chunks`);
    for (const s of [...out.whole_episode, ...out.start])
      assert.ok(Number.isFinite(s.r2) && s.std > 1, JSON.stringify(s));
    const bad = spawnSync(process.execPath, [BIN, 'probe', '--robot', 'ur5e', '--base', 'nothing.onnx'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--base nothing.onnx: model file not found/);
  });
});
