// vla-replay sim and what it rests on: the replay fields of a recording (written, read back, optional), the
// recorded-actions policy (float32 chunks that come out of the safety filter as the recorded float64 commands),
// and the command end to end on real recordings made by vla-run in the embedded sim (real MuJoCo, the episode
// engine, buffer and safety filter): exact replay, a planted change found at its tick, closed loop, workers,
// and every kind of bad input.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { newJointState } from '../drivers/driver.js';
import { Float32Picker, nextFloat32 } from '../src/policy/recorded-actions.js';
import { type Episode, type EpisodeMeta, EpisodeWriter, readEpisode } from '../src/recording/index.js';
import { easeTicks, robotTrack } from '../src/replay/robot/ease-in.js';
import { RobotReplayTracker } from '../src/replay/robot/robot-replay.js';
import { RecordedCommands } from '../src/replay/sim/recorded-track.js';
import { loadRobot } from '../src/robot/index.js';
import { SafetyFilter, safetyLimits } from '../src/runtime/safety.js';
import { assertRefusedStdout } from './fixtures/cli.js';

const BIN = resolve(import.meta.dirname, '../../bin');

function run(tool: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(BIN, `${tool}.js`), ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const replay = (...args: string[]) => run('vla-replay', 'sim', ...args);
const json = (r: { stdout: string }) => JSON.parse(r.stdout);

let dir: string;
/** Two expert episodes of the UR5e (seeds 0, 1) and one of ALOHA, each in its own folder. */
let ur5e: string;
let aloha: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-replay-sim-'));
  ur5e = join(dir, 'ur5e');
  aloha = join(dir, 'aloha');
  for (const [robot, out, n] of [
    ['ur5e', ur5e, '2'],
    ['aloha', aloha, '1'],
  ] as const) {
    const rec = run(
      'vla-run',
      ...['--robot', robot, '--sim', '--policy', 'expert', '--episodes', n, '--clock', 'fast', '--record', out],
      ...['--record-cameras', 'none', '--json'],
    );
    assert.equal(rec.code, 0, rec.stderr);
  }
});
after(() => rm(dir, { recursive: true, force: true }));

/** Writes `ep` again, changed by `edit` (the meta is the recording's, replay fields included). */
async function rewrite(
  ep: Episode,
  path: string,
  meta: EpisodeMeta,
  edit: (row: number, action: Float64Array) => void,
) {
  const w = await EpisodeWriter.open(path, meta);
  const J = meta.joint_names.length;
  const G = meta.gripper_names.length;
  const D = meta.action_names.length;
  for (let r = 0; r < ep.ticks; r++) {
    const action = ep.action.slice(r * D, (r + 1) * D);
    edit(r, action);
    await w.writeTick({
      tick: ep.tick[r],
      stamp_ns: ep.stamp_ns[r],
      t_mono_ms: ep.t_mono_ms[r],
      position_rad: ep.position_rad.subarray(r * J, (r + 1) * J),
      velocity_rad_s: ep.velocity_rad_s.subarray(r * J, (r + 1) * J),
      gripper: ep.gripper.subarray(r * G, (r + 1) * G),
      action,
    });
  }
  await w.close({ success: ep.success, outcome: ep.outcome });
}

test('a sim recording keeps what exact replay needs, and it reads back', async () => {
  const ep = await readEpisode(join(ur5e, 'ur5e-pick-place-seed0.mcap'), { frames: false });
  const m = ep.meta;
  assert.equal(m.driver, 'sim');
  assert.equal(m.physics_hz, 500);
  assert.match(m.sim_model_sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.match(m.profile_sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.equal(m.expert_noise, 0);
  assert.ok(m.mujoco_version);
  const s = m.sim_start!;
  // the UR5e cell: 6 arm joints, 2 fingers, the cube's free joint; the arm at home, the cube on the table
  assert.equal(s.qpos.length, 15);
  assert.deepEqual(s.qpos.slice(0, 6), [0, -1.570796, 1.570796, -1.570796, -1.570796, 0]);
  assert.equal(s.qvel.length, 14);
  assert.equal(s.mocap_pos.length, 3);
  // seed 1 places the cube elsewhere: the start is the episode's own
  const other = await readEpisode(join(ur5e, 'ur5e-pick-place-seed1.mcap'), { frames: false });
  assert.notDeepEqual(other.meta.sim_start!.qpos.slice(8, 11), s.qpos.slice(8, 11));
});

test('replay fields: -0 survives, a malformed one is named, amendMeta validates', async () => {
  const ep = await readEpisode(join(ur5e, 'ur5e-pick-place-seed0.mcap'), { frames: false });
  const path = join(dir, 'neg-zero.mcap');
  const meta = { ...ep.meta, sim_start: { ...ep.meta.sim_start!, qvel: [-0, ...ep.meta.sim_start!.qvel.slice(1)] } };
  await rewrite(ep, path, meta, () => {});
  const back = await readEpisode(path, { frames: false });
  assert.ok(Object.is(back.meta.sim_start!.qvel[0], -0));
  assert.deepEqual(back.meta.sim_start!.qpos, ep.meta.sim_start!.qpos);
  await assert.rejects(
    EpisodeWriter.open(join(dir, 'bad.mcap'), { ...ep.meta, physics_hz: -5 }),
    /invalid episode meta: physics_hz must be a positive number/,
  );
  const w = await EpisodeWriter.open(join(dir, 'amend.mcap'), { ...ep.meta, sim_start: undefined });
  assert.throws(() => w.amendMeta({ sim_model_sha256: 'xyz' }), /sim_model_sha256 must be 64 lowercase hex/);
  await w.close({ success: false });
});

test('--actions recorded on sim recordings: every command bit for bit, divergence below 1e-6 rad', () => {
  const r = replay(ur5e, aloha, '--actions', 'recorded', '--fail-above', '1e-6', '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = json(r);
  assert.equal(s.episodes, 3);
  assert.ok(s.max_divergence_rad < 1e-6, String(s.max_divergence_rad));
  assert.equal(s.commands_differing, 0);
  assert.equal(s.episodes_over_threshold, 0);
  for (const e of s.episodes_detail) {
    assert.equal(e.start.from, 'recorded sim state');
    assert.equal(e.start.reset_max_abs, 0, 'the sim still places everything as recorded');
    assert.equal(e.commands.compared, e.recorded.ticks, 'every recorded tick was played');
    assert.equal(e.replay.end, 'success');
    assert.equal(e.replay.success_time_s, e.recorded.success_time_s);
    // the scene ends where the recording's did: an exact replay gives the very same task figures
    assert.ok(e.recorded.task_outcome, 'a sim recording keeps its task figures');
    assert.deepEqual(e.replay.task_outcome, e.recorded.task_outcome);
    assert.deepEqual(e.warnings, []);
  }
});

test('a command changed at one tick is found: the joint and the first tick after it', async () => {
  const src = join(ur5e, 'ur5e-pick-place-seed0.mcap');
  const ep = await readEpisode(src, { frames: false });
  const path = join(dir, 'planted', 'ur5e-pick-place-seed0.mcap');
  const elbow = ep.meta.action_names.indexOf('elbow_joint');
  await rewrite(ep, path, ep.meta, (row, a) => {
    // a float32 value, as a policy's chunk holds: the replay can send it exactly
    if (row === 100) a[elbow] = Math.fround(a[elbow] + 0.02);
  });
  const r = replay(path, '--actions', 'recorded', '--fail-above', '1e-6', '--json');
  assert.equal(r.code, 1, 'the check fails');
  const e = json(r).episodes_detail[0];
  assert.equal(e.commands.differing, 0, 'the replay plays what the file says');
  // the state of tick 101 is the first to feel the command of tick 100 (the arm's coupling moves others with it)
  assert.equal(e.divergence.first_tick_over, 101);
  const joint = (name: string) => e.divergence.joints.find((j: { name: string }) => j.name === name);
  assert.equal(joint('elbow_joint').first_tick_over, 101);
  assert.equal(joint('wrist_3_joint').first_tick_over, null, 'a joint it does not move stays with the recording');
  assert.ok(e.divergence.max_abs_rad > 1e-3);
});

test('commands the safety filter clamped come out exact; with another profile they differ and it says so', async () => {
  const profile = JSON.parse(await readFile(resolve(BIN, '../calibration/profiles/ur5e.json'), 'utf8'));
  profile.max_step_rad = 0.01;
  const slow = join(dir, 'ur5e-slow.json');
  await writeFile(slow, JSON.stringify(profile));
  const out = join(dir, 'clamped');
  const rec = run(
    'vla-run',
    ...['--robot', 'ur5e', '--sim', '--profile', slow, '--policy', 'expert', '--clock', 'fast'],
    ...['--record', out, '--record-cameras', 'none', '--json'],
  );
  assert.equal(rec.code, 0, rec.stderr);
  assert.ok(json(rec).safety.clamped_actions > 50, 'the recording has clamped commands');
  const same = replay(out, '--actions', 'recorded', '--profile', slow, '--json');
  assert.equal(same.code, 0, same.stderr);
  assert.equal(json(same).commands_differing, 0);
  assert.equal(json(same).max_divergence_rad, 0);
  const other = json(replay(out, '--actions', 'recorded', '--json'));
  assert.ok(other.commands_differing > 0);
  assert.match(other.episodes_detail[0].warnings.join(), /differs from the recording's/);
});

test('--policy expert closed loop from the recorded start: the same run, plots written', async () => {
  const out = join(dir, 'fixed0');
  const rec = run(
    'vla-run',
    ...['--robot', 'ur5e', '--sim', '--policy', 'expert', '--noise', '0.5', '--clock', 'fast', '--seed', '4'],
    ...['--latency-model', 'fixed:0', '--record', out, '--record-cameras', 'none'],
  );
  assert.equal(rec.code, 0, rec.stderr);
  const report = join(dir, 'report');
  const r = replay(out, '--policy', 'expert', '--latency-model', 'fixed:0', '--out', report, '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = json(r);
  const e = s.episodes_detail[0];
  assert.equal(s.policy, 'expert(noise=0.5)');
  assert.equal(e.mode, 'policy');
  assert.equal(e.replay.end, e.recorded.outcome === 'success' ? 'success' : 'failure');
  assert.equal(e.replay.success_time_s, e.recorded.success_time_s);
  // the recording's noise is the expert's default: the same clumsy run again
  assert.equal(e.divergence.max_abs_rad, 0);
  assert.equal(s.report.png.length, 1);
  const png = await readFile(s.report.png[0]);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  const html = await readFile(s.report.html, 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /ur5e-pick-place-seed4/);
  // without the noise it is another run, and the report says where it leaves the recording
  const clean = json(replay(out, '--policy', 'expert', '--noise', '0', '--latency-model', 'fixed:0', '--json'));
  assert.ok(clean.episodes_detail[0].divergence.first_tick_over !== null);
});

test('two workers give the same result as one', () => {
  const one = json(replay(ur5e, '--actions', 'recorded', '--workers', '1', '--json'));
  const two = json(replay(ur5e, '--actions', 'recorded', '--workers', '2', '--json'));
  assert.equal(two.workers, 2);
  assert.deepEqual(
    two.episodes_detail.map((e: { divergence: unknown }) => e.divergence),
    one.episodes_detail.map((e: { divergence: unknown }) => e.divergence),
  );
});

test('bad input exits 2 naming the file and what differs; --keep-going replays the others', async () => {
  const good = join(ur5e, 'ur5e-pick-place-seed0.mcap');
  const other = replay(good, '--actions', 'recorded', '--robot', 'ur5', '--json');
  assert.equal(other.code, 2);
  assertRefusedStdout(other.stdout);
  assert.match(json(other).error, /ur5e-pick-place-seed0\.mcap: recorded on ur5e, not on ur5/);
  const profile = replay(good, '--actions', 'recorded', '--profile', resolve(BIN, '../calibration/profiles/ur5.json'));
  assert.equal(profile.code, 2);
  assert.match(profile.stderr, /profile is for 'ur5', not 'ur5e'/);
  const model = replay(good, '--policy', resolve(BIN, '../models/ur5-pick-place.onnx'));
  assert.equal(model.code, 2);
  assert.match(model.stderr, /does not fit ur5e/);
  // an older file: no driver, no sim state
  const ep = await readEpisode(good, { frames: false });
  const { driver: _d, physics_hz: _p, sim_model_sha256: _h, sim_start: _s, ...old } = ep.meta;
  const mixed = join(dir, 'mixed');
  await rewrite(ep, join(mixed, 'a-old.mcap'), old, () => {});
  const missing = replay(join(mixed, 'a-old.mcap'), '--actions', 'recorded');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /a-old\.mcap: recorded without what replay needs \(driver, physics_hz/);
  // a file cut before its first chunk (nothing to recover), named
  await copyFile(good, join(mixed, 'b-truncated.mcap'));
  await truncate(join(mixed, 'b-truncated.mcap'), 1500);
  await copyFile(good, join(mixed, 'c-good.mcap'));
  const stop = replay(mixed, '--actions', 'recorded', '--json');
  assert.equal(stop.code, 2);
  assertRefusedStdout(stop.stdout);
  const goOn = replay(mixed, '--actions', 'recorded', '--keep-going', '--json');
  assert.equal(goOn.code, 0, goOn.stderr);
  const s = json(goOn);
  assert.equal(s.episodes, 1);
  assert.deepEqual(
    s.skipped.map((k: { error: string }) => k.error.replace(/^.*\//, '')),
    [
      'a-old.mcap: recorded without what replay needs (driver, physics_hz, sim_model_sha256, sim_start are missing: ' +
        'written by an older vla-runtime); record it again to replay it',
      'b-truncated.mcap: truncated MCAP file (no footer; was the recording interrupted?), and it has no ' +
        '"vla.episode.start" record to recover it from',
    ],
  );
  const neither = replay(good);
  assert.equal(neither.code, 2);
  assert.match(neither.stderr, /--actions recorded .* or --policy X/);
});

test('Ctrl-C stops the replays: the summary of those done, exit 130', async () => {
  const many = join(dir, 'many');
  const rec = run(
    'vla-run',
    ...['--robot', 'ur5e', '--sim', '--policy', 'expert', '--episodes', '8', '--clock', 'fast'],
    ...['--record', many, '--record-cameras', 'none'],
  );
  assert.equal(rec.code, 0, rec.stderr);
  const child = spawn(process.execPath, [join(BIN, 'vla-replay.js'), 'sim', many, '--actions', 'recorded', '--json']);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
  });
  const signalled = new Promise<void>((res) =>
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      if (stderr.includes('"msg":"replayed"')) res();
    }),
  );
  const closed = new Promise<number | null>((res) => child.on('close', res));
  await signalled;
  child.kill('SIGINT');
  assert.equal(await closed, 130, stderr);
  const s = JSON.parse(stdout);
  assert.equal(s.interrupted, 'SIGINT');
  assert.ok(s.episodes >= 1 && s.episodes < 8, `${s.episodes} replayed`);
  assert.deepEqual(s.failures, [], 'the replays dropped are not failures');
});

test('--help of both commands says what they do, with examples', () => {
  for (const cmd of ['sim', 'robot']) {
    const r = run('vla-replay', cmd, '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Examples:\n {2}vla-replay /);
    assert.match(r.stdout, /Exit codes: 0/);
  }
});

test('RecordedActionsPolicy: a clamped command is served as the float32 the filter turns back into it', async () => {
  const d = await loadRobot('ur5e');
  const filter = new SafetyFilter(safetyLimits(d, { max_step_rad: 0.01 }));
  const limit = (t: Float64Array, l: Float64Array, o: Float64Array) => {
    filter.limit(t, l, o);
  };
  const picker = new Float32Picker(7, limit);
  const prev = Float64Array.of(0.1, -1.5, 1.5, -1.5, -1.5, 0, 1);
  const wanted = new Float64Array(7);
  filter.limit(Float64Array.of(0.5, -1.4, 1.0, -1.5, -1.5, 0.5, 0.25), prev, wanted);
  assert.ok(
    wanted.some((v) => Math.fround(v) !== v),
    'the clamp made float64 values',
  );
  const served = new Float32Array(7);
  picker.serve(wanted, prev, served, 0);
  const out = new Float64Array(7);
  filter.limit(Float64Array.from(served), prev, out);
  assert.deepEqual([...out], [...wanted]);
  // without the filter to aim at, the nearest float32 is all there is
  new Float32Picker(7, undefined).serve(wanted, prev, served, 0);
  filter.limit(Float64Array.from(served), prev, out);
  assert.notDeepEqual([...out], [...wanted]);
  assert.equal(nextFloat32(1, 1), 1 + 2 ** -23);
  assert.equal(nextFloat32(-1, 1), -1 + 2 ** -24);
});

test('the ease-in: no joint faster than the speed, at the first pose when the recording starts', async () => {
  const ep = await readEpisode(join(ur5e, 'ur5e-pick-place-seed0.mcap'), { frames: false });
  const rec = new RecordedCommands(ep);
  const from = Float64Array.of(0.8, -1.0, 1.0, -2.0, -1.2, 0.5, 0.2);
  const hz = 50;
  const t = robotTrack(rec, from, 7, {
    control_hz: hz,
    speed_rad_s: 0.25,
    settle_s: 0.5,
    is_gripper: [0, 0, 0, 0, 0, 0, 1],
  });
  assert.equal(t.ease_ticks, easeTicks(0.8, 0.25, hz), 'the farthest joint sets the time');
  assert.equal(t.settle_ticks, 25);
  const a = new Float64Array(7);
  const b = new Float64Array(7);
  assert.equal(t.command(6, a), false, 'nothing before the start: the runtime holds');
  let prev = from;
  let fastest = 0;
  for (let k = t.start_tick; k < t.recorded_from_tick; k++) {
    t.command(k, a);
    for (let i = 0; i < 6; i++) fastest = Math.max(fastest, Math.abs(a[i] - prev[i]) * hz);
    prev = a.slice();
  }
  assert.ok(fastest <= 0.25 + 1e-12, `peak ${fastest} rad/s`);
  assert.ok(fastest > 0.24, 'and not needlessly slow');
  rec.at(rec.first_tick, b);
  t.command(t.recorded_from_tick - 1, a);
  assert.deepEqual([...a], [...b], 'held at the first recorded command');
  t.command(t.recorded_from_tick + 10, a);
  rec.at(rec.first_tick + 10, b);
  assert.deepEqual([...a], [...b], 'then the recording at its own rate');
  t.command(t.end_tick + 100, a);
  rec.at(rec.last_tick, b);
  assert.deepEqual([...a], [...b], 'and its last command held');
});

test('the ease-in speed report: a held tick mid-move is not a fast step, a real jump is', async () => {
  const ep = await readEpisode(join(ur5e, 'ur5e-pick-place-seed0.mcap'), { frames: false });
  const d = await loadRobot('ur5e');
  const from = Float64Array.of(0.8, -1.0, 1.0, -2.0, -1.2, 0.5, 0.2);
  const o = { speed_rad_s: 0.25, settle_s: 0.5 };
  const t = robotTrack(new RecordedCommands(ep), from, 7, { control_hz: 50, ...o, is_gripper: [0, 0, 0, 0, 0, 0, 1] });
  const state = newJointState(d);
  /** The move through a tracker: at tick `hold` the loop keeps the last command, at tick `jump` the plan skips one. */
  const play = (hold: number, jump: number) => {
    const tracker = new RobotReplayTracker(ep, d, () => t, o);
    const cmd = from.slice();
    tracker.tick(state, cmd, 5, 'startup');
    for (let T = t.start_tick; T < t.start_tick + t.ease_ticks; T++) {
      if (T !== hold) t.command(T === jump ? T + 1 : T, cmd);
      tracker.tick(state, cmd, T - 1, T === hold ? 'fault' : 'buffer');
    }
    return tracker.report().ease!.max_speed_rad_s;
  };
  const mid = t.start_tick + Math.floor(t.ease_ticks / 2);
  const plain = play(-1, -1);
  assert.ok(plain <= 0.25 + 1e-12 && plain > 0.24, `${plain}`);
  assert.ok(Math.abs(play(mid, -1) - plain) < 1e-9, 'a held tick: the goal waits, the next step covers two ticks');
  // two ticks of the plan in one tick, with no hold between (the recorder sees consecutive commands)
  assert.ok(play(-1, mid) > 0.45, 'is reported twice as fast');
});
