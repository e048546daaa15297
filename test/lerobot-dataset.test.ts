// LeRobot datasets: sim recordings exported as v3.0 (real ffmpeg, real parquet) read back identical; the export is
// laid out as LeRobot loads it; damaged files, another robot and a missing camera are refused naming what is
// wrong; v2.1 and v3.0 datasets written by others (another robot, other camera names) read with --robot and --map.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { exportLeRobot } from '../src/dataset/lerobot/index.js';
import { ParquetTable } from '../src/dataset/lerobot/parquet.js';
import { type Episode, EpisodeFileError, readEpisode } from '../src/recording/index.js';
import { EpisodeSourceError, listEpisodeSources } from '../src/replay/sources.js';
import {
  actionValue,
  FPS,
  framePixels,
  LENGTHS,
  SIZE,
  STATE_NAMES,
  stateValue,
  TASKS,
  writeForeignDataset,
  writeRealtimeEpisode,
} from './fixtures/lerobot.js';

const BIN = resolve(import.meta.dirname, '../../bin');
const cli = (tool: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, [join(BIN, `${tool}.js`), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const withoutPath = ({ path: _, ...rest }: Episode) => rest;

let dir = '';
let rec = '';
let ds = '';
let exported: Record<string, unknown> = {};
const recording = (seed: number) => join(rec, `ur5e-pick-place-seed${seed}.mcap`);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-lerobot-'));
  rec = join(dir, 'rec');
  ds = join(dir, 'ds');
  const sim = cli('vla-sim', 'run', '--robot', 'ur5e', '--episodes', '2', '--clock', 'fast', '--record', rec);
  assert.equal(sim.code, 0, sim.stderr);
  const r = cli('vla-replay', 'export', '--to', 'lerobot', rec, ds, '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1, 'one JSON object on stdout');
  exported = JSON.parse(r.stdout);
});
after(() => rm(dir, { recursive: true, force: true }));

test('sim recordings exported to LeRobot v3.0 read back identical: state, action, velocity, frames, meta', async () => {
  assert.equal(exported.episodes, 2);
  assert.equal(exported.codebase_version, 'v3.0');
  assert.equal(exported.video_codec, 'lossless');
  const sources = await listEpisodeSources([ds]);
  assert.deepEqual(
    sources.map((s) => s.label),
    ['ds#0', 'ds#1'],
  );
  let frames = 0;
  for (const [i, source] of sources.entries()) {
    const back = await source.read({ frames: true });
    const original = await readEpisode(recording(i));
    assert.deepStrictEqual(withoutPath(back), withoutPath(original));
    assert.equal(back.path, `${ds}#${i}`);
    assert.ok(original.frames.top.rgb.length === original.ticks && original.ticks > 100, 'a frame at every tick');
    frames += back.ticks;
    const light = await source.read({ frames: false });
    assert.deepStrictEqual(light.frames, {});
    assert.deepStrictEqual(light.action, original.action);
  }
  assert.equal(exported.frames, frames);
});

test('the export is laid out as LeRobot v3.0 loads it: info.json, data, episodes, tasks, stats', async () => {
  const info = JSON.parse(await readFile(join(ds, 'meta/info.json'), 'utf8'));
  const total = exported.frames as number;
  assert.equal(info.codebase_version, 'v3.0');
  assert.equal(info.fps, 50);
  assert.equal(info.robot_type, 'ur5e');
  assert.deepEqual([info.total_episodes, info.total_frames, info.total_tasks], [2, total, 1]);
  assert.equal(info.data_path, 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet');
  assert.equal(info.video_path, 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4');
  assert.deepEqual(info.splits, { train: '0:2' });
  const f = info.features;
  const names = ['shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint', 'wrist_1_joint', 'wrist_2_joint'];
  assert.deepEqual(f['observation.state'], {
    dtype: 'float32',
    shape: [7],
    names: [...names, 'wrist_3_joint', 'gripper'],
  });
  assert.equal(f.action.dtype, 'float32');
  assert.deepEqual(f['observation.images.top'].shape, [96, 96, 3]);
  assert.deepEqual(f['observation.images.top'].names, ['height', 'width', 'channels']);
  assert.equal(f['observation.images.top'].info['video.pix_fmt'], 'gbrp');
  for (const k of ['frame_index', 'episode_index', 'index', 'task_index']) assert.equal(f[k].dtype, 'int64');
  assert.equal(f.timestamp.dtype, 'float32');
  for (const key of Object.keys(f)) {
    assert.ok(!key.includes('/'), `LeRobot refuses "/" in feature names: ${key}`);
    // extra columns must not look like policy inputs (dataset_to_policy_features keys on these prefixes)
    if (key.startsWith('vla.')) assert.ok(!key.startsWith('observation') && !key.startsWith('action'));
  }

  const data = await ParquetTable.open(join(ds, 'data/chunk-000/file-000.parquet'));
  const columns = Object.keys(f).filter((k) => f[k].dtype !== 'video');
  assert.deepEqual(data.columns, columns, 'every non-video feature is a column, and nothing else');
  assert.equal(data.rows, total);
  const rows = await data.read(['timestamp', 'frame_index', 'episode_index', 'index', 'observation.state']);
  const first = await readEpisode(recording(0), { frames: false });
  for (let r = 0; r < total; r++) {
    const e = r < first.ticks ? 0 : 1;
    const frame = e === 0 ? r : r - first.ticks;
    assert.equal(rows.index[r], BigInt(r));
    assert.equal(rows.episode_index[r], BigInt(e));
    assert.equal(rows.frame_index[r], BigInt(frame));
    assert.equal(rows.timestamp[r], Math.fround(frame / 50));
  }
  const state0 = [...first.position_rad.subarray(0, 6), first.gripper[0]].map(Math.fround);
  assert.deepEqual(rows['observation.state'][0], state0);

  const episodes = await ParquetTable.open(join(ds, 'meta/episodes/chunk-000/file-000.parquet'));
  const key = 'videos/observation.images.top';
  const want = ['episode_index', 'tasks', 'length', 'data/chunk_index', 'data/file_index', 'dataset_from_index'];
  want.push(
    'dataset_to_index',
    `${key}/chunk_index`,
    `${key}/file_index`,
    `${key}/from_timestamp`,
    `${key}/to_timestamp`,
  );
  want.push('meta/episodes/chunk_index', 'meta/episodes/file_index', 'stats/observation.state/q99', 'vla/episode');
  for (const c of want) assert.ok(episodes.columns.includes(c), `episodes table has ${c}`);
  const ep = await episodes.read([...want, 'stats/observation.images.top/mean']);
  assert.deepEqual(ep.tasks, [['pick-place'], ['pick-place']]);
  assert.deepEqual(ep.dataset_to_index, [BigInt(first.ticks), BigInt(total)]);
  assert.equal(ep[`${key}/from_timestamp`][1], first.ticks / 50, 'episode 1 starts where episode 0 ends');
  const imageMean = ep['stats/observation.images.top/mean'][0] as number[][][];
  assert.equal(imageMean.length, 3);
  assert.ok(imageMean.every((c) => c.length === 1 && c[0].length === 1 && c[0][0] > 0 && c[0][0] < 1));

  const tasks = await ParquetTable.open(join(ds, 'meta/tasks.parquet'));
  assert.deepEqual(JSON.parse(tasks.keyValue('pandas')!).index_columns, ['task'], 'pandas reads task as the index');
  assert.deepEqual(await tasks.read(['task_index', 'task']), { task_index: [0n], task: ['pick-place'] });

  const stats = JSON.parse(await readFile(join(ds, 'meta/stats.json'), 'utf8'));
  for (const feature of Object.keys(f)) {
    assert.deepEqual(
      Object.keys(stats[feature]).sort(),
      ['count', 'max', 'mean', 'min', 'q01', 'q10', 'q50', 'q90', 'q99', 'std'].sort(),
    );
    assert.deepEqual(stats[feature].count, [total]);
  }
  assert.equal(stats['observation.images.wrist'].std.length, 3);
  assert.deepEqual(stats.frame_index.min, [0]);
  const second = await readEpisode(recording(1), { frames: false });
  const grips = [...first.gripper, ...second.gripper];
  const mean = grips.reduce((a, b) => a + b, 0) / grips.length;
  assert.ok(Math.abs(stats['observation.state'].mean[6] - mean) < 1e-9, 'the gripper mean over both episodes');
});

test('real-time recordings (frames at some ticks), NaN, -0, outcomes: identical across files and chunks', async () => {
  const folder = join(dir, 'realtime');
  await mkdir(folder);
  const outcomes = ['success', 'failure', 'interrupted'] as const;
  for (const [seed, outcome] of outcomes.entries()) {
    await writeRealtimeEpisode(join(folder, `ur5e-seed${seed}.mcap`), { ticks: 20 + seed * 7, seed, outcome });
  }
  // interrupted before its first tick: LeRobot has no empty episodes, so it is left out and said
  await writeRealtimeEpisode(join(folder, 'ur5e-seed9-empty.mcap'), { ticks: 0, seed: 9, outcome: 'interrupted' });
  const out = join(dir, 'realtime-ds');
  const sources = await listEpisodeSources([folder]);
  // every episode its own data file (a tiny size limit) and video file, two files per chunk folder
  const summary = await exportLeRobot(sources, out, { dataFileSizeMb: 1e-9, videoEpisodesPerFile: 1, chunksSize: 2 });
  assert.deepEqual(summary.empty, ['ur5e-seed9-empty.mcap']);
  const files = summary.files.map((p) => relative(out, p));
  for (const f of ['data/chunk-000/file-001.parquet', 'data/chunk-001/file-000.parquet'])
    assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  assert.ok(files.includes('videos/observation.images.wrist/chunk-001/file-000.mp4'));
  const back = await listEpisodeSources([out]);
  assert.equal(back.length, 3);
  for (const [i, source] of back.entries()) {
    const original = await readEpisode(sources[i].origin);
    assert.ok(original.frames.top.tick.length < original.ticks, 'some ticks have no frame');
    assert.deepStrictEqual(withoutPath(await source.read({ frames: true })), withoutPath(original));
  }
});

test('a truncated data parquet or mp4 is an EpisodeFileError naming the file', async () => {
  const cut = join(dir, 'cut');
  await cp(ds, cut, { recursive: true });
  const video = join(cut, 'videos/observation.images.top/chunk-000/file-000.mp4');
  await truncate(video, Math.floor((await stat(video)).size / 2));
  const [s0] = await listEpisodeSources([cut]);
  await assert.rejects(s0.read({ frames: true }), (err: unknown) => {
    assert.ok(err instanceof EpisodeFileError, String(err));
    assert.equal(err.path, video);
    assert.match(err.message, /cannot decode video|video ends early/);
    return true;
  });
  assert.equal((await s0.read({ frames: false })).ticks > 0, true, 'the rows still read');

  const data = join(cut, 'data/chunk-000/file-000.parquet');
  await truncate(data, Math.floor((await stat(data)).size / 2));
  await assert.rejects(s0.read({ frames: false }), (err: unknown) => {
    assert.ok(err instanceof EpisodeFileError && err.path === data, String(err));
    assert.match(err.message, /truncated parquet file/);
    return true;
  });
  const r = cli('vla-replay', 'export', '--to', 'lerobot', cut, join(dir, 'never'));
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /file-000\.parquet: truncated parquet file/);
  await assert.rejects(stat(join(dir, 'never')), 'a failed export leaves no folder behind');

  const index = join(cut, 'meta/episodes/chunk-000/file-000.parquet');
  await writeFile(index, (await readFile(index)).subarray(0, 100));
  await assert.rejects(
    listEpisodeSources([cut]),
    (err: unknown) => err instanceof EpisodeFileError && err.path === index,
  );
});

test('another robot, a camera the dataset lacks, mixed recordings: refused naming what differs (exit 2)', async () => {
  const refused = async (opts: Parameters<typeof listEpisodeSources>[1], re: RegExp) =>
    assert.rejects(
      listEpisodeSources([ds], opts),
      (err: unknown) => err instanceof EpisodeSourceError && re.test(err.message),
    );
  await refused({ robot: 'aloha' }, /recorded on ur5e, not aloha/);
  await refused({ map: { 'observation.images.cam_high': 'top' } }, /no feature "observation.images.cam_high"/);
  await refused(
    { map: { 'observation.images.top': 'left_wrist' } },
    /left_wrist is not a camera of ur5e \(top, wrist\)/,
  );
  const r = cli('vla-replay', 'export', '--to', 'lerobot', ds, join(dir, 'other'), '--robot', 'aloha', '--json');
  assert.equal(r.code, 2, r.stderr);
  assert.match(JSON.parse(r.stdout).error, /recorded on ur5e, not aloha/);

  const mixed = join(dir, 'mixed');
  await mkdir(mixed);
  await writeRealtimeEpisode(join(mixed, 'a.mcap'), { ticks: 6, seed: 0, outcome: 'success' });
  await writeRealtimeEpisode(join(mixed, 'b.mcap'), { ticks: 6, seed: 1, outcome: 'success', robot: 'ur5' });
  const m = cli('vla-replay', 'export', '--to', 'lerobot', mixed, join(dir, 'mixed-ds'));
  assert.equal(m.code, 2, m.stderr);
  assert.match(m.stderr, /b\.mcap: recorded on ur5, the first episode on ur5e/);
  await assert.rejects(stat(join(dir, 'mixed-ds')), 'nothing left of the failed export');
});

for (const layout of ['v2.1', 'v3.0'] as const) {
  test(`a LeRobot ${layout} dataset of another robot type reads with --robot and --map`, async () => {
    const root = join(dir, `foreign-${layout}`);
    await writeForeignDataset(root, layout);
    await assert.rejects(listEpisodeSources([root]), /robot_type "koch" is not a robot of ours .*--robot/);
    const sources = await listEpisodeSources([root], { robot: 'ur5e', map: { 'observation.images.cam_high': 'top' } });
    assert.deepEqual(
      sources.map((s) => s.label),
      [`foreign-${layout}#0`, `foreign-${layout}#1`],
    );
    for (const [e, source] of sources.entries()) {
      const ep = await source.read({ frames: true });
      const n = LENGTHS[e];
      assert.equal(ep.ticks, n);
      assert.deepEqual(
        { ...ep.meta, seed: 0 },
        {
          robot: 'ur5e',
          task: TASKS[e],
          seed: 0,
          control_hz: FPS,
          joint_names: STATE_NAMES.slice(1),
          gripper_names: ['gripper'],
          action_names: [...STATE_NAMES.slice(1), 'gripper'],
          cameras: [{ name: 'top', ...SIZE }],
        },
      );
      assert.ok(Number.isNaN(ep.meta.seed), 'no seed in a LeRobot dataset');
      assert.equal(ep.outcome, e === 0 ? 'success' : 'failure', "the last frame's next.success");
      assert.deepEqual([...ep.tick], [...Array(n).keys()]);
      assert.equal(ep.t_mono_ms[n - 1], Math.fround((n - 1) / FPS) * 1000);
      // by name: the dataset lists the gripper first, our state is joints then gripper
      const joints = STATE_NAMES.slice(1);
      assert.deepEqual(
        [...ep.position_rad.subarray(6, 12)],
        joints.map((j) => stateValue(e, 1, j)),
      );
      assert.deepEqual(
        [...ep.gripper],
        [...Array(n).keys()].map((f) => stateValue(e, f, 'gripper')),
      );
      assert.deepEqual(
        [...ep.action.subarray(7 * (n - 1))],
        [...Array(7).keys()].map((i) => actionValue(e, n - 1, i)),
      );
      assert.ok(ep.velocity_rad_s.every(Number.isNaN), 'no velocities recorded');
      assert.deepEqual(
        ep.frames.top.rgb,
        [...Array(n).keys()].map((f) => framePixels(e, f)),
      );
    }
    // and on to v3.0 as ours: the same episodes again
    const again = join(dir, `foreign-${layout}-again`);
    await exportLeRobot(sources, again);
    for (const [e, source] of (await listEpisodeSources([again])).entries()) {
      const original = await sources[e].read({ frames: true });
      assert.deepStrictEqual(withoutPath(await source.read({ frames: true })), withoutPath(original));
    }
  });
}

test('vla-replay export: a non-empty folder needs --force; bad values exit 2; --help shows examples', async () => {
  const busy = join(dir, 'busy');
  await mkdir(busy);
  await writeFile(join(busy, 'notes.txt'), 'keep me');
  const refused = cli('vla-replay', 'export', '--to', 'lerobot', recording(0), busy);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /not empty .*--force/);
  const forced = cli('vla-replay', 'export', '--to', 'lerobot', recording(0), busy, '--force', '--video-codec', 'h264');
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /exported 1 episode .*\n.*LeRobotDataset v3\.0/);
  assert.deepEqual((await readdir(busy)).sort(), ['data', 'meta', 'notes.txt', 'videos']);
  const lossy = await (await listEpisodeSources([busy]))[0].read({ frames: true });
  const original = await readEpisode(recording(0));
  assert.deepStrictEqual(lossy.action, original.action, 'numbers stay exact with a lossy video');
  assert.notDeepStrictEqual(lossy.frames.top.rgb, original.frames.top.rgb, 'h264 yuv420p is lossy');
  for (const bad of [
    ['--to', 'rlds', rec, join(dir, 'x')],
    ['--to', 'lerobot', rec, join(dir, 'x'), '--video-codec', 'vp9'],
    ['--to', 'lerobot', join(dir, 'nothing'), join(dir, 'x')],
  ]) {
    const r = cli('vla-replay', 'export', ...bad);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  const help = cli('vla-replay', 'export', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:\n {2}vla-replay export --to lerobot/);
});
