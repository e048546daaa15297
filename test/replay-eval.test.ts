// vla-replay eval: the metrics, the runtime schedule and the horizon on hand-computable cases, then the command on
// recordings written here (synthetic ones with known actions and a constant ONNX model, so every L1 is known; two
// episodes from the sim with the shipped model; a wrong-robot, a camera-less and a truncated recording).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { toleratedDelayTicks } from '../src/latency/budget.js';
import { writeTestPolicy } from '../src/policy/onnx/model-writer.js';
import { type EpisodeMeta, EpisodeWriter } from '../src/recording/index.js';
import { compatibleSchedule, recommendedHorizon, scheduleFit } from '../src/replay/eval/horizon.js';
import { L1Stat } from '../src/replay/eval/l1-stats.js';
import { ChunkMetrics } from '../src/replay/eval/metrics.js';
import { runSchedule } from '../src/replay/eval/schedule.js';

const BIN = resolve(import.meta.dirname, '../../bin/vla-replay.js');
const VLA_RUN = resolve(import.meta.dirname, '../../bin/vla-run.js');
const dir = await mkdtemp(join(tmpdir(), 'vla-replay-eval-'));
test.after(() => rm(dir, { recursive: true, force: true }));

function vla(bin: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const evalCli = (...args: string[]) => vla(BIN, 'eval', ...args);

// ---- recordings and a model for the command, written before any test runs ----

const UR_JOINTS = ['shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint', 'wrist_1_joint', 'wrist_2_joint'];
const JOINTS = [...UR_JOINTS, 'wrist_3_joint'];
const ACTIONS = [...JOINTS, 'gripper'];
const TICKS = 40;
/** The action recorded at row r (executed at tick r + 1): a ramp, steeper for later dimensions. */
const ramp = (r: number, d: number): number => 0.001 * (d + 1) * r;

async function writeSynthetic(path: string, o: { robot?: string; cameras?: string[]; seed?: number } = {}) {
  const cameras = (o.cameras ?? ['top', 'wrist']).map((name) => ({ name, width: 16, height: 16 }));
  const meta: EpisodeMeta = {
    robot: o.robot ?? 'ur5e',
    task: 'pick-place',
    seed: o.seed ?? 0,
    control_hz: 50,
    joint_names: JOINTS,
    gripper_names: ['gripper'],
    action_names: ACTIONS,
    cameras,
  };
  const w = await EpisodeWriter.open(path, meta);
  for (let t = 0; t < TICKS; t++) {
    // the wrist camera only every other tick: a tick without one sees the latest before it
    const frames = cameras
      .filter((c) => c.name !== 'wrist' || t % 2 === 0)
      .map((c) => ({ camera: c.name, width: 16, height: 16, rgb: new Uint8Array(16 * 16 * 3).fill((t * 5) & 255) }));
    await w.writeTick({
      tick: t,
      stamp_ns: 1_700_000_000_000_000_000n + BigInt(t) * 20_000_000n,
      t_mono_ms: t * 20,
      position_rad: JOINTS.map((_, j) => 0.1 * j),
      velocity_rad_s: JOINTS.map(() => 0),
      gripper: [1],
      action: ACTIONS.map((_, d) => ramp(t, d)),
      frames,
    });
  }
  await w.close({ success: true });
}

/** A real ONNX model whose chunk is all zeros whatever it sees: its L1 is the recorded action itself. */
const H = 5;
const zeroModel = join(dir, 'zero.onnx');
await writeTestPolicy(zeroModel, {
  name: 'zero',
  robot: 'ur5e',
  cameras: [
    { name: 'top', width: 8, height: 8 },
    { name: 'wrist', width: 8, height: 8 },
  ],
  state_dim: 7,
  horizon: H,
  action_dim: 7,
  mode: 'constant',
  constant: new Array(H * 7).fill(0),
});

const good = join(dir, 'good');
await mkdir(good);
for (const seed of [0, 1]) await writeSynthetic(join(good, `ur5e-seed${seed}.mcap`), { seed });

function oneJson(stdout: string) {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `exactly one JSON line, got:\n${stdout}`);
  return JSON.parse(lines[0]);
}

describe('metrics', () => {
  test('L1Stat: mean and max exact, p95 the nearest rank to 1.2%, merging equals adding', () => {
    const all = new L1Stat(),
      a = new L1Stat(),
      b = new L1Stat();
    for (let i = 1; i <= 100; i++) {
      all.add(i / 100);
      (i % 2 ? a : b).add(i / 100);
    }
    a.merge(b);
    for (const s of [all, a]) {
      assert.equal(s.n, 100);
      assert.ok(Math.abs(s.mean - 0.505) < 1e-12, `mean ${s.mean}`);
      assert.equal(s.max, 1);
      assert.ok(Math.abs(s.quantile(0.95) - 0.95) <= 0.95 * 0.012, `p95 ${s.quantile(0.95)}`);
      assert.ok(Math.abs(s.quantile(0.5) - 0.5) <= 0.5 * 0.012, `p50 ${s.quantile(0.5)}`);
    }
    const zeros = new L1Stat();
    for (let i = 0; i < 10; i++) zeros.add(0);
    assert.deepEqual(zeros.summary(), { n: 10, mean: 0, p95: 0, max: 0 });
    assert.deepEqual(new L1Stat().summary(), { n: 0, mean: 0, p95: 0, max: 0 });
  });

  test('ChunkMetrics: index i is compared with the action of tick first_tick + i - 1; none past the end', () => {
    // recorded: 4 rows, dim 2; row r holds the action executed at tick r + 1
    const action = [0, 0, 1, 10, 2, 20, 3, 30];
    const targets = { dim: 2, action, rowOfActionFor: (t: number) => (t - 1 >= 0 && t - 1 < 4 ? t - 1 : -1) };
    const m = new ChunkMetrics(3, 2);
    // a chunk for ticks 3, 4, 5: rows 2, 3 and none
    assert.equal(m.add([1, 1, 1, 1, 1, 1], 3, targets), 2);
    // a chunk for ticks 1, 2, 3: rows 0, 1, 2
    assert.equal(m.add([0, 0, 0, 0, 0, 0], 1, targets), 3);
    assert.equal(m.chunks, 2);
    const mean = m.meanMatrix();
    assert.deepEqual(mean[0], [(1 + 0) / 2, (19 + 0) / 2]); // |1-2|, |1-20|; |0-0|, |0-0|
    assert.deepEqual(mean[1], [(2 + 1) / 2, (29 + 10) / 2]); // |1-3|, |1-30|; |0-1|, |0-10|
    assert.deepEqual(mean[2], [2, 20]); // only the second chunk reached a recorded row
    assert.deepEqual(
      m.perIndex().map((s) => s.n),
      [4, 4, 2],
    );
    const dims = m.perDimension();
    assert.ok(Math.abs(dims.stats[0].mean - (1 + 0 + 2 + 1 + 2) / 5) < 1e-12);
    assert.equal(dims.stats[1].max, 29);
  });

  test('horizon: the largest index every dimension stays under its threshold at, and what stops it', () => {
    const mean_l1 = [
      [0.01, 0.02],
      [0.02, 0.04],
      [0.03, 0.06],
    ];
    const names = ['j', 'g'];
    assert.deepEqual(recommendedHorizon({ mean_l1, dim_names: names, max_l1: [0.05, 0.05] }), {
      horizon: 2,
      limited_by: 'g',
    });
    assert.deepEqual(recommendedHorizon({ mean_l1, dim_names: names, max_l1: [0.05, 1] }), {
      horizon: 3,
      limited_by: null,
    });
    assert.deepEqual(recommendedHorizon({ mean_l1, dim_names: names, max_l1: [0.005, 1] }), {
      horizon: 0,
      limited_by: 'j',
    });
    const gap = [
      [0.01, 0.01],
      [NaN, 0.01],
      [0.01, 0.01],
    ];
    assert.equal(recommendedHorizon({ mean_l1: gap, dim_names: names, max_l1: [1, 1] }).horizon, 1);
  });
});

describe("the runtime's schedule", () => {
  const base = { blend: 'replace' as const, horizon: 5, offset: 1, dim: 1 };

  test('delay 1, margin 2, H 5: chunks of ticks 0, 2, 4, ... executing indices 2 and 3, seams of 2 ticks', async () => {
    const asked: number[] = [];
    const executed: [number, number, number][] = [];
    const seams: [number, number, number, boolean][] = [];
    const counts = await runSchedule({ ...base, delay_ticks: 1, margin_ticks: 2 }, 0, 10, {
      // every action of the chunk of tick k says k
      chunkAt: async (tick) => {
        asked.push(tick);
        return new Float32Array(5).fill(tick);
      },
      executed: (tick, action, index) => executed.push([tick, action[0], index]),
      seam: (tick, old, next, at, first) => seams.push([tick, old[0], next[at], first]),
    });
    // asked at 0 (empty), lands after tick 1; tick 2 runs index 2, leaves 3 <= 1 + 2: asked at 2, lands after 3; ...
    assert.deepEqual(asked, [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(executed, [
      [2, 0, 2],
      [3, 0, 3],
      [4, 2, 2],
      [5, 2, 3],
      [6, 4, 2],
      [7, 4, 3],
      [8, 6, 2],
      [9, 6, 3],
      [10, 8, 2],
    ]);
    assert.equal(counts.startup_ticks, 1);
    assert.equal(counts.underruns, 0);
    assert.deepEqual(counts.index_counts, [0, 5, 4, 0, 0]);
    // the chunk of tick 2 lands after tick 3 and replaces ticks 4 and 5 of the chunk of tick 0
    assert.deepEqual(seams.slice(0, 2), [
      [4, 0, 2, true],
      [5, 0, 2, false],
    ]);
    assert.equal(seams.length, 8);
  });

  test('a delay past what one request in flight absorbs runs the buffer dry', async () => {
    const fit = await scheduleFit(base, 3, 0);
    assert.ok(fit.underruns > 0, `delay 3 with H 5: ${JSON.stringify(fit)}`);
    assert.deepEqual(await scheduleFit(base, 2, 0), {
      delay_ticks: 2,
      margin_ticks: 0,
      first_index: 3,
      last_index: 5,
      underruns: 0,
    });
  });

  test('indices d+1 .. H-margin execute; the whole chunk is kept up to the latency budget.ts tolerates', async () => {
    const ur5e = { blend: 'replace' as const, horizon: 25, offset: 1, dim: 7 };
    const fit = await scheduleFit(ur5e, 1, 2);
    assert.equal(fit.first_index, 2);
    assert.equal(fit.last_index, 23);
    assert.equal(fit.underruns, 0);
    const whole = await compatibleSchedule(ur5e, 25);
    assert.equal(whole.max_delay_ticks, toleratedDelayTicks(25, 1, 0, 1));
    // executing at most 2 of H 5 needs a chunk to land at once: delay 0, re-asked with 3 actions left
    assert.deepEqual(await compatibleSchedule(base, 2), { max_delay_ticks: 0, margin_ticks: 3 });
    assert.deepEqual(await compatibleSchedule(base, 0), { max_delay_ticks: null, margin_ticks: null });
  });
});

/** Straight from the definition: every chunk of tick k, index i vs the action recorded at row k + i - 1. */
function expectedOpenLoop(): { mean: number[][]; max: number[] } {
  const sum = Array.from({ length: H }, () => new Array(7).fill(0));
  const n = new Array(H).fill(0);
  const max = new Array(7).fill(0);
  for (let k = 0; k < TICKS; k++)
    for (let i = 1; i <= H && k + i - 1 < TICKS; i++) {
      n[i - 1]++;
      for (let d = 0; d < 7; d++) {
        sum[i - 1][d] += ramp(k + i - 1, d);
        max[d] = Math.max(max[d], ramp(k + i - 1, d));
      }
    }
  return { mean: sum.map((row, i) => row.map((s) => s / n[i])), max };
}

describe('vla-replay eval', () => {
  test('known recordings, zero model: every L1, the executed schedule and the horizon come out as computed', () => {
    const r = evalCli(good, '--policy', zeroModel, '--delay', '0', '--margin', '0', '--max-l1', '0.141', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = oneJson(r.stdout);
    const exp = expectedOpenLoop();
    assert.equal(out.episodes.evaluated, 2);
    assert.equal(out.overall.chunks, 2 * TICKS);
    for (const x of out.overall.per_index) {
      assert.equal(x.n, 2 * 7 * (TICKS - x.index + 1), `index ${x.index}`);
      x.l1_mean_per_dimension.forEach((v: number, d: number) => {
        assert.ok(Math.abs(v - exp.mean[x.index - 1][d]) < 2e-6, `index ${x.index} dim ${d}: ${v}`);
      });
    }
    out.overall.per_dimension.forEach((x: { l1_max: number; unit: string }, d: number) => {
      assert.ok(Math.abs(x.l1_max - exp.max[d]) < 2e-6);
      assert.equal(x.unit, d === 6 ? '0 closed..1 open' : 'rad');
    });
    // delay 0, margin 0: every chunk runs whole, each tick's action is zero against the ramp of its row
    const ex = out.overall.executed;
    assert.deepEqual([ex.index_first, ex.index_last, ex.underruns, ex.ticks], [1, 5, 0, 2 * TICKS]);
    ex.per_dimension.forEach((x: { l1_mean: number }, d: number) => {
      assert.ok(Math.abs(x.l1_mean - ramp(TICKS - 1, d) / 2) < 2e-6, `executed dim ${d}: ${x.l1_mean}`);
    });
    assert.equal(out.overall.seams.seams, 0, 'margin 0: a chunk lands when the last one is used up');
    // the gripper (0.007 per row) at index i: 0.0035 (38 + i); <= 0.141 up to index 2
    assert.equal(out.recommendation.horizon, 2);
    assert.equal(out.recommendation.limited_by, 'gripper');
    assert.equal(out.recommendation.max_delay_ticks, 0);
    assert.equal(out.recommendation.margin_ticks, 3);
    assert.equal(out.recommendation.evaluated_schedule.within_horizon, false);
    assert.equal(out.settings.stride, 1);
  });

  test('per-dimension thresholds, stride, and the readable summary', () => {
    const r = evalCli(good, '--policy', zeroModel, '--max-l1', '0.141,gripper=1', '--stride', '4', '--delay', '1');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /every 4th tick \(stride 4\)/);
    assert.match(r.stdout, /evaluated {2}20 chunks from 80 ticks/);
    assert.match(r.stdout, /Execute at most 5 actions of each chunk/);
    assert.match(r.stdout, /shoulder_pan_joint +rad +0\.0\d{3}/);
  });

  test('a recording of another robot, or without a camera the policy reads: exit 2 naming what differs', async () => {
    const mixed = join(dir, 'mixed');
    await mkdir(mixed);
    await copyFile(join(good, 'ur5e-seed0.mcap'), join(mixed, 'a-ur5e.mcap'));
    await writeSynthetic(join(mixed, 'b-ur5.mcap'), { robot: 'ur5' });
    let r = evalCli(mixed, '--policy', zeroModel, '--json');
    assert.equal(r.code, 2, r.stderr);
    const err = oneJson(r.stdout);
    assert.equal(err.exit_code, 2);
    assert.match(err.error, /b-ur5\.mcap: does not fit: robot: expected ur5e .*found ur5/);

    const blind = join(dir, 'no-wrist.mcap');
    await writeSynthetic(blind, { cameras: ['top'] });
    r = evalCli(blind, '--policy', zeroModel);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no-wrist\.mcap: does not fit: camera 'wrist': expected frames .*found not recorded/);
  });

  test('a file cut short is evaluated up to its last complete tick, with a warning; none: refused', async () => {
    const damaged = join(dir, 'damaged');
    await mkdir(damaged);
    for (const n of ['ep0', 'ep2']) await copyFile(join(good, 'ur5e-seed0.mcap'), join(damaged, `${n}.mcap`));
    const cut = join(damaged, 'ep1.mcap');
    await copyFile(join(good, 'ur5e-seed1.mcap'), cut);
    // its footer gone (the writer died inside its summary): the one chunk of its 40 ticks is whole
    await truncate(cut, (await stat(cut)).size - 40);
    let r = evalCli(damaged, '--policy', zeroModel, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /ep1\.mcap: recovered: the file ends without its summary .* complete ticks of episode seed 1/,
    );
    assert.deepEqual([oneJson(r.stdout).episodes.listed, oneJson(r.stdout).episodes.evaluated], [3, 3]);
    // the header and schemas only: no complete tick, unusable
    await truncate(cut, 1500);
    r = evalCli(damaged, '--policy', zeroModel);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ep1\.mcap: truncated MCAP file/);
    assert.match(r.stderr, /--keep-going/);
    r = evalCli(damaged, '--policy', zeroModel, '--keep-going', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = oneJson(r.stdout);
    assert.deepEqual([out.episodes.listed, out.episodes.evaluated], [3, 2]);
    assert.equal(out.skipped.length, 1);
    assert.equal(out.skipped[0].episode, 'ep1.mcap');
    assert.match(out.skipped[0].reason, /truncated/);
  });

  test('sim recordings and the shipped model: L1 grows with the index; the report opens', async () => {
    const demos = join(dir, 'demos');
    const sim = ['--robot', 'ur5e', '--sim', '--policy', 'expert', '--episodes', '2', '--clock', 'fast'];
    const rec = vla(VLA_RUN, ...sim, '--record', demos, '--record-size', '64');
    assert.equal(rec.code, 0, rec.stderr);
    const report = join(dir, 'report');
    const r = evalCli(demos, '--out', report, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = oneJson(r.stdout);
    assert.equal(out.policy.name, 'ur5e-pick-place');
    const idx = out.overall.per_index;
    assert.equal(idx.length, 25);
    assert.ok(idx[24].l1_mean > 2 * idx[0].l1_mean, `index 1 ${idx[0].l1_mean}, index 25 ${idx[24].l1_mean}`);
    const ex = out.overall.executed;
    assert.equal(ex.index_first, out.settings.delay_ticks + 1);
    assert.equal(ex.index_last, 23, 'H 25 - margin 2');
    for (const png of out.files.png) {
      const head = (await readFile(png)).subarray(0, 8);
      assert.deepEqual([...head], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], png);
    }
    assert.equal(out.files.png.length, 4);
    const html = await readFile(out.files.html, 'utf8');
    assert.ok((html.match(/<svg/g) ?? []).length >= 4, 'plots embedded in the HTML');
    assert.deepEqual(JSON.parse(await readFile(out.files.json, 'utf8')).overall, out.overall);
  });
});
