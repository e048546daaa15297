// Recordings of real vla-run processes that do not end well: killed with SIGKILL mid-episode (real-time clock),
// killed before their first second of ticks, and writing to a disk that is full (/dev/full: ENOSPC from the first
// byte) or to a file that may not grow (RLIMIT_FSIZE: EFBIG mid-episode). The killed file reads back up to its last
// complete tick, in the reader and in `vla-sim inspect`; a failed write stops the recording with one warning while
// the robot's run completes with its usual exit code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readEpisode } from '../../src/recording/index.js';
import { vlaRunChild } from './vla-run-child.js';

const BIN = resolve(import.meta.dirname, '../../../bin');
const dir = await mkdtemp(join(tmpdir(), 'vla-recording-crash-'));
after(() => rm(dir, { recursive: true, force: true }));

/** Ticks a reader gets from the file right now (0 while it has none or does not exist). */
async function ticksOnDisk(file: string): Promise<number> {
  const size = await stat(file).then(
    (s) => s.size,
    () => 0,
  );
  if (size === 0) return 0;
  return readEpisode(file, { frames: false }).then(
    (ep) => ep.ticks,
    () => 0,
  );
}

/** Polls `ready` until it says yes; a child that ends first fails the test with what it printed. */
async function waitFor(ready: () => Promise<boolean>, run: ReturnType<typeof vlaRunChild>): Promise<void> {
  let ended: Awaited<typeof run.done> | undefined;
  void run.done.then((r) => {
    ended = r;
  });
  while (!(await ready())) {
    if (ended) assert.fail(`vla-run ended (code ${ended.code}) before the test could kill it: ${ended.stderr}`);
    await sleep(20);
  }
}

function inspect(file: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(BIN, 'vla-sim.js'), 'inspect', file, '--json'], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const RUN = ['--robot', 'ur5e', '--sim', '--policy', 'expert', '--json'];

test('SIGKILL mid-episode (real time): the file reads back up to its last complete tick', async () => {
  const file = join(dir, 'killed.mcap');
  const run = vlaRunChild([...RUN, '--record', file, '--record-size', '32'], 120_000);
  // two chunks on disk (2 s of robot time): the episode is well under way, far from its end (about 5 s)
  let seen = 0;
  await waitFor(async () => {
    seen = await ticksOnDisk(file);
    return seen >= 100;
  }, run);
  process.kill(run.pid, 'SIGKILL');
  const done = await run.done;
  assert.equal(done.code, null, 'killed, not exited');

  const ep = await readEpisode(file);
  assert.ok(ep.ticks >= seen, `${ep.ticks} ticks read, ${seen} seen before the kill`);
  // rows from tick 0, in order; a tick the loop ran without a command (a missed read under load) has no row
  // (engine.ts records commands), so a gap of a tick or two can occur, but never a lost chunk (50 ticks)
  assert.equal(ep.tick[0], 0);
  for (let i = 1; i < ep.ticks; i++) {
    const step = ep.tick[i]! - ep.tick[i - 1]!;
    assert.ok(step >= 1 && step <= 5, `tick ${ep.tick[i - 1]} then ${ep.tick[i]}`);
  }
  assert.deepEqual(ep.recovered, {
    complete_ticks: ep.ticks,
    last_tick: ep.tick[ep.ticks - 1],
    reason: 'the file ends without its summary (the writer did not finish)',
  });
  assert.equal(ep.outcome, 'interrupted');
  assert.equal(ep.meta.robot, 'ur5e');
  assert.equal(ep.meta.seed, 0);
  for (let k = 0; k < ep.position_rad.length; k++) assert.ok(Number.isFinite(ep.position_rad[k]), `position ${k}`);
  // frames rendered off the control thread in real time: most ticks have one, none past the last tick
  let frames = 0;
  for (const cam of Object.values(ep.frames)) {
    frames += cam.tick.length;
    for (let i = 1; i < cam.tick.length; i++) assert.ok(cam.tick[i]! > cam.tick[i - 1]!);
    assert.ok(cam.tick.length === 0 || cam.tick[cam.tick.length - 1]! <= ep.tick[ep.ticks - 1]!);
  }
  assert.ok(frames > ep.ticks / 2, `${frames} frames for ${ep.ticks} ticks`);

  const i = inspect(file);
  assert.equal(i.code, 0, i.stderr);
  const s = JSON.parse(i.stdout);
  assert.equal(s.ticks, ep.ticks);
  assert.deepEqual(s.recovered, ep.recovered);
  assert.equal(s.outcome, 'interrupted');
});

test('SIGKILL in the first second: nothing complete, and inspect refuses the file with exit 2', async () => {
  const file = join(dir, 'early.mcap');
  const run = vlaRunChild([...RUN, '--record', file], 120_000);
  // the file is created when the episode is about to start; kill right then
  for (;;) {
    if (
      await stat(file).then(
        () => true,
        () => false,
      )
    )
      break;
    await sleep(20);
  }
  process.kill(run.pid, 'SIGKILL');
  await run.done;
  const i = inspect(file);
  assert.equal(i.code, 2, i.stdout);
  assert.match(JSON.parse(i.stdout).error, /early\.mcap: (empty file|truncated MCAP file)/);
});

test('a full disk (/dev/full): one warning, the run completes its episodes, exit 0, the summary says so', async () => {
  const folder = join(dir, 'full');
  await mkdir(folder);
  await symlink('/dev/full', join(folder, 'ur5e-pick-place-seed0.mcap'));
  const args = [...RUN, '--clock', 'fast', '--episodes', '2', '--record', folder, '--record-cameras', 'none'];
  const run = vlaRunChild(args, 120_000);
  const r = await run.done;
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.episodes, 2);
  const warnings = r.stderr.split('\n').filter((l) => /recording stopped/.test(l));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0]!, /ur5e-pick-place-seed0\.mcap: ENOSPC: no space left on device/);
  assert.equal(s.recordings.length, 1);
  assert.match(s.recordings[0].cut_short, /^ENOSPC/);
  assert.equal(s.recordings[0].ticks, 0);
});

test('a file that may not grow (EFBIG mid-episode): the ticks before it read back, the run goes on', async () => {
  const folder = join(dir, 'limit');
  // sh: ulimit -f counts 512-byte blocks; SIGXFSZ ignored, so the write fails with EFBIG instead of killing
  const limit_bytes = 100 * 512;
  const script = `trap '' XFSZ; ulimit -f 100; exec "$0" "$@"`;
  const args = [...RUN, '--clock', 'fast', '--episodes', '2', '--record', folder, '--record-cameras', 'none'];
  const r = spawnSync('/bin/sh', ['-c', script, process.execPath, join(BIN, 'vla-run.js'), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.episodes, 2);
  assert.equal(s.episodes_detail.length, 2);
  const warnings = r.stderr.split('\n').filter((l) => /recording stopped/.test(l));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0]!, /seed0\.mcap: EFBIG/);
  const file = join(folder, 'ur5e-pick-place-seed0.mcap');
  assert.ok((await stat(file)).size <= limit_bytes);
  const ep = await readEpisode(file);
  // the episode ran past the limit (it lasts about 5 s); what reached the disk comes back, whole seconds of ticks
  assert.ok(ep.ticks > 0 && ep.ticks < s.episodes_detail[0].ticks, `${ep.ticks} ticks recovered`);
  assert.equal(ep.ticks % 50, 0);
  assert.equal(s.recordings[0].ticks, ep.ticks);
  assert.ok(ep.recovered);
});
