// The fault matrix, embedded-sim column (table.ts): vla-run in a child process with VLA_INJECT_FAULTS, its
// --json summary, and its recording read back (what the control loop commanded, tick by tick).
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { readEpisode } from '../../../src/recording/index.js';
import type { RobotDescription } from '../../../src/robot/index.js';
import { Rng } from '../../../src/util/rng.js';
import { assertRefusedStdout } from '../../fixtures/cli.js';
import { assertSafe, finished, firedAt, firedTicks, logged, robot, runWithFaults, type Summary } from './checks.js';
import { type Row, runCells } from './table.js';

const ROOT = resolve(import.meta.dirname, '../../../..');
const MODEL = join(ROOT, 'models/ur5e-pick-place.onnx');
let dir: string;
let ur5e: RobotDescription;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-fault-matrix-'));
  ur5e = await robot('ur5e');
});
after(() => rm(dir, { recursive: true, force: true }));

const fast = ['--robot', 'ur5e', '--sim', '--clock', 'fast', '--latency-model', 'fixed:0', '--json'];
const realtime = ['--robot', 'ur5e', '--sim', '--json'];

/** The commanded actions of the run's recording, one row per tick. */
async function recorded(s: Summary): Promise<{ rows: Float64Array[]; gaps: number[] }> {
  const file = s.recordings?.[0]?.path;
  assert.ok(file, `no recording listed: ${JSON.stringify(s.recordings)}`);
  const ep = await readEpisode(file, { frames: false });
  const d = ur5e.action_names.length;
  const rows = [...Array(ep.ticks).keys()].map((k) => ep.action.subarray(k * d, (k + 1) * d));
  // a tick that commanded nothing (held for a fault) is not recorded: the next command may be ticks later
  return { rows, gaps: rows.map((_, k) => (k === 0 ? 1 : ep.tick[k] - ep.tick[k - 1])) };
}

/** The recording's commanded actions, checked against the profile: none outside the limits or the step. */
async function recordedSafe(s: Summary): Promise<number> {
  const { rows, gaps } = await recorded(s);
  assertSafe(ur5e, rows, false, gaps);
  return rows.length;
}

/** The longest stretch of ticks commanding exactly the same action (a hold keeps the last command). */
function longestHold(rows: Float64Array[]): number {
  let best = 0;
  let run = 0;
  for (let k = 1; k < rows.length; k++) {
    run = rows[k].every((v, i) => v === rows[k - 1][i]) ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

/** A chunk fault on the virtual clock (latency 0: the chunk lands at the tick it was asked): hold, exit 1. */
async function chunkFault(kind: string, fault: RegExp, rejected: number): Promise<void> {
  const rec = join(dir, `${kind}.mcap`);
  const r = await finished(runWithFaults(`${kind}@tick=60`, [...fast, '--record', rec]));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.s.fault ?? '', fault);
  const at = firedAt(r.stderr, kind);
  const ticks = r.s.control.ticks;
  assert.ok(ticks >= at && ticks <= at + 1, `held at tick ${ticks}, the fault came at tick ${at}: not within one tick`);
  assert.equal(r.s.holds.stops, 1);
  assert.equal(r.s.safety.rejected_chunks, rejected);
  assert.equal(r.s.episode_ends.fault, 1);
  assert.equal(await recordedSafe(r.s), ticks);
}

const CELLS: Record<string, () => Promise<void>> = {
  'worker-crash': () =>
    chunkFault('worker-crash', /inference failed: the ONNX inference worker .* exited \(code 3\)/, 0),
  'nan-chunk': () => chunkFault('nan-chunk', /rejected a chunk from the policy: action \d+ value \d+ is NaN/, 1),
  'wrong-robot-chunk': () =>
    chunkFault(
      'wrong-robot-chunk',
      /rejected a chunk from the policy: chunk has 14 values per action, the robot takes 7/,
      1,
    ),

  'latency-spike': async () => {
    const rec = join(dir, 'latency.mcap');
    const spikes = 'latency-spike@tick=50:ms=1500,latency-spike@tick=150:ms=600';
    const args = [...realtime, '--policy', 'tick-stamp', '--duration', '5', '--record', rec];
    const r = await finished(runWithFaults(spikes, args));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.s.fault, null);
    assert.equal(firedTicks(r.stderr, 'latency-spike').length, 2, 'the run went on after the first spike');
    // 1500 ms is 75 ticks, a chunk 25 at most: the robot held its last command for the rest, then resumed.
    // Read from the recording: the summary files ticks waiting for a fresh chunk after a host stall's driver
    // fault as start-up, not underrun (see the report)
    assert.ok(
      longestHold((await recorded(r.s)).rows) >= 20,
      JSON.stringify({ holds: r.s.holds, control: r.s.control }),
    );
    assert.equal(r.s.buffer.stale_actions_executed, 0, 'an action ran at another tick than its own after a hold');
    assert.ok((await recordedSafe(r.s)) >= 200);
  },

  'camera-freeze': async () => {
    const rec = join(dir, 'camera.mcap');
    const freezes = 'camera-freeze@tick=40:ms=800,camera-freeze@tick=150:ms=8000';
    const args = [...realtime, '--policy', MODEL, '--episodes', '1', '--fault-timeout', '1.5', '--record', rec];
    const r = await finished(runWithFaults(freezes, args));
    assert.equal(r.code, 1, r.stderr);
    const at = firedTicks(r.stderr, 'camera-freeze');
    // the second freeze fires at an inference: there was one after the first freeze, on fresh frames
    assert.equal(at.length, 2, `no inference after the first freeze: ${r.stderr.slice(-1500)}`);
    assert.match(
      r.s.fault ?? '',
      /camera '(top|wrist)' stale: its newest frame is \d+\.\d s old .* for more than 1\.5 s/,
    );
    assert.ok(r.s.holds.underrun_ticks > 0, JSON.stringify(r.s.holds));
    await recordedSafe(r.s);
  },

  'control-thread-dies': async () => {
    const r = await finished(runWithFaults('control-thread-exit@tick=80', [...realtime, '--episodes', '1']));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.s.fault ?? '', /the control thread exited \(code 70\); the driver was left with its last command/);
    const ep = (r.s as unknown as { episodes_detail: { ticks: number }[] }).episodes_detail[0];
    assert.equal(ep.ticks, firedAt(r.stderr, 'control-thread-exit') - 1, 'the thread died before its tick');
    // the thread took its statistics with it: the summary counts the ticks the runtime saw it publish
    assert.equal(r.s.control.ticks, ep.ticks, 'the ticks it ran');
  },

  signals: async () => {
    const rng = new Rng(7);
    for (const [sig, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const rec = join(dir, `${sig}.mcap`);
      // a no-op hook as the marker that the robot moves: its line comes at the first inference past tick 10
      const run = runWithFaults('latency-spike@tick=10:ms=0', [...realtime, '--duration', '20', '--record', rec]);
      await logged(run, /latency-spike fired at run tick/);
      const wait_ms = Math.round(200 + rng.next() * 1500);
      await new Promise((r) => setTimeout(r, wait_ms));
      process.kill(run.pid, sig);
      const r = await finished(run);
      assert.equal(r.code, code, `${sig} after ${wait_ms} ms: ${r.stderr.slice(-1500)}`);
      assert.equal(r.s.episode_ends.interrupted, 1, `${sig} after ${wait_ms} ms`);
      assert.equal(r.s.holds.stops, 1, 'the robot was held');
      assert.ok((await recordedSafe(r.s)) > 10);
    }
  },

  'malformed-files': async () => {
    const truncated = join(dir, 'truncated.onnx');
    await writeFile(truncated, (await readFile(MODEL)).subarray(0, 2000));
    const sidecar = join(dir, 'sidecar.onnx');
    await copyFile(MODEL, sidecar);
    await writeFile(join(dir, 'sidecar.manifest.json'), '{"format_version": 1, "robot": ');
    const profile = join(dir, 'ur5e.json');
    const p = JSON.parse(await readFile(join(ROOT, 'calibration/profiles/ur5e.json'), 'utf8'));
    p.control_hz = 'fifty';
    await writeFile(profile, JSON.stringify(p));
    const cases: [string[], RegExp][] = [
      [['--policy', truncated], /truncated\.onnx/],
      [['--policy', sidecar], /sidecar\.manifest\.json/],
      [['--profile', profile], /ur5e\.json.*control_hz/],
    ];
    for (const [extra, why] of cases) {
      const r = await runWithFaults(undefined, [...fast, ...extra]).done;
      assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr.slice(-1500)}`);
      assertRefusedStdout(r.stdout);
      assert.match(r.stdout || r.stderr, why);
    }
  },
};

const rows: Row[] = runCells('sim');
test('every sim cell of the table has a test, and every test a cell', () => {
  assert.deepEqual(Object.keys(CELLS).sort(), rows.map((r) => r.id).sort());
});
for (const row of rows) test(`[sim] ${row.fault}: ${row.expect}`, CELLS[row.id]);
