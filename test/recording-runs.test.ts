// Recordings of real runs: how an episode ended is in its file (interrupted, truncated), the recorder lists the
// files it wrote, and frames that arrive after (or before) their tick's row still land in that row.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runEpisodes } from '../src/cli/run/episodes.js';
import { FrameQueue } from '../src/cli/run/record-frames.js';
import { openRecorder, type RecordingPlan, recordedFiles, recordedResult } from '../src/cli/run/recorder.js';
import { expertEngine } from '../src/cli/sim/expert-engine.js';
import { EpisodeWriter, readEpisode } from '../src/recording/index.js';
import { createLogger } from '../src/telemetry/log.js';

const dir = await mkdtemp(join(tmpdir(), 'vla-recording-runs-'));
after(() => rm(dir, { recursive: true, force: true }));
const log = createLogger({ name: 'test', level: 'silent' });

async function withExpert<T>(fn: (ex: Awaited<ReturnType<typeof expertEngine>>) => Promise<T>): Promise<T> {
  const ex = await expertEngine('ur5', 'pick-place');
  try {
    return await fn(ex);
  } finally {
    await ex.close();
  }
}

const planFor = (ex: Awaited<ReturnType<typeof expertEngine>>, target: string, many = false): RecordingPlan => ({
  target,
  many,
  robot: ex.driver.description,
  task: 'pick-place',
  policy: 'expert',
  cameras: ['top'],
  camera_size: 16,
  sim: ex.driver,
});

test('an episode stopped part-way (Ctrl-C, a fault) is recorded as interrupted, with the reason', async () => {
  await withExpert(async (ex) => {
    const plan = planFor(ex, join(dir, 'stopped.mcap'));
    const rec = await openRecorder(plan, 0);
    const r = await ex.engine.runEpisode({
      seed: 0,
      recorder: {
        tick(s, c, k, src, t) {
          rec.tick.tick(s, c, k, src, t);
          if (k === 30) ex.engine.hold('interrupted (SIGINT)');
        },
      },
    });
    await rec.close(r);
    const ep = await readEpisode(join(dir, 'stopped.mcap'));
    assert.equal(ep.outcome, 'interrupted');
    assert.equal(ep.success, false);
    assert.equal(ep.fault, 'interrupted (SIGINT)');
    assert.ok(ep.ticks > 30 && ep.ticks < 40, `${ep.ticks} ticks`);
    assert.deepEqual(
      recordedFiles(plan).map((f) => [f.outcome, f.ticks]),
      [['interrupted', ep.ticks]],
    );
  });
});

test('a time budget that cuts an episode is recorded as truncated; the recorder lists its files', async () => {
  await withExpert(async (ex) => {
    const plan = planFor(ex, join(dir, 'budget.mcap'), true);
    const done = await runEpisodes(ex.engine, {
      episodes: 1,
      seed0: 4,
      ticks: 40,
      recorder: (seed) => openRecorder(plan, seed),
      label: 'test',
      json: true,
      log,
    });
    assert.equal(done.results[0].end, 'truncated');
    const files = recordedFiles(plan);
    assert.equal(files.length, 1);
    const f = files[0];
    assert.equal(f.path, join(dir, 'budget-seed4.mcap'));
    assert.deepEqual([f.seed, f.outcome, f.ticks, f.camera_frames], [4, 'truncated', 40, 40]);
    assert.equal(f.bytes, (await stat(f.path)).size);
    const ep = await readEpisode(f.path);
    assert.equal(ep.outcome, 'truncated');
    assert.equal(ep.meta.tick_clock, 'virtual');
    // the virtual clock's ticks are exactly a period apart
    assert.deepEqual(
      [...ep.t_mono_ms].map((t) => t - ep.t_mono_ms[0]),
      Array.from({ length: 40 }, (_, i) => i * 20),
    );
  });
  assert.deepEqual(recordedResult({ seed: 0, success: false, ticks: 3, fault: 'driver fault' }), {
    success: false,
    outcome: 'interrupted',
    fault: 'driver fault',
  });
  assert.equal(recordedResult({ seed: 0, success: true, ticks: 3 }).outcome, 'success');
  assert.equal(recordedResult({ seed: 0, success: false, ticks: 3 }).outcome, 'failure');
});

test('frames rendered off the control thread land in the row of their tick, early or late', async () => {
  const path = join(dir, 'queue.mcap');
  const meta = {
    robot: 'r',
    task: 't',
    seed: 0,
    control_hz: 50,
    joint_names: ['j'],
    gripper_names: [],
    action_names: ['j'],
    cameras: [{ name: 'c', width: 2, height: 2 }],
    tick_clock: 'monotonic' as const,
  };
  const w = await EpisodeWriter.open(path, meta);
  const q = new FrameQueue(w, 2);
  const row = (tick: number) => ({
    tick,
    t_ms: 1000 + tick * 20 + (tick % 2) * 0.5,
    position_rad: Float64Array.of(tick),
    velocity_rad_s: Float64Array.of(0),
    gripper: new Float64Array(0),
    action: Float64Array.of(tick),
  });
  const frame = (v: number) => [{ camera: 'c', width: 2, height: 2, rgb: new Uint8Array(12).fill(v) }];
  q.tick(row(0));
  q.tick(row(1));
  q.frames(2, frame(2)); // before its row
  q.tick(row(2));
  q.tick(row(3));
  q.tick(row(4));
  q.frames(3, frame(3)); // after its row
  q.frames(5, frame(5));
  q.tick(row(5));
  q.tick(row(6));
  await q.finish();
  await w.close({ success: true });
  const ep = await readEpisode(path);
  assert.deepEqual([...ep.tick], [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...ep.frames.c.tick], [2, 3, 5]);
  assert.deepEqual(
    ep.frames.c.rgb.map((f) => f[0]),
    [2, 3, 5],
  );
  assert.deepEqual(
    [...ep.t_mono_ms],
    [0, 1, 2, 3, 4, 5, 6].map((k) => row(k).t_ms),
  );
  // log times follow the actual tick times
  assert.equal(ep.stamp_ns[1] - ep.stamp_ns[0], 20_500_000n);
  assert.equal(q.frames_written, 3);
});
