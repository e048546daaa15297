// The fault matrix, UR-over-rosbridge column (table.ts): vla-run in a child process drives one simulated UR
// cell (`vla-sim serve`'s endpoint, in this process) that keeps every command it received, so limits, steps and
// "no command while held" are checked on what the robot got.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { RosConnection } from '../../../drivers/ur/ros-connection.js';
import { Service } from '../../../drivers/ur/roslib.js';
import { FAULTS_SERVICE, type UrCellFaults } from '../../../sim/rosbridge/ur-cell.js';
import { UrEndpoint } from '../../../sim/rosbridge/ur-endpoint.js';
import type { RobotDescription } from '../../../src/robot/index.js';
import { DEFAULT_STALE_STATE_MS } from '../../../src/runtime/control/freshness.js';
import { monotonicMs } from '../../../src/util/clock.js';
import { Rng } from '../../../src/util/rng.js';
import { assertRefusedStdout } from '../../fixtures/cli.js';
import { assertSafe, finished, firedAt, firedTicks, robot, runWithFaults } from './checks.js';
import { type Row, runCells } from './table.js';

const MODEL = resolve(import.meta.dirname, '../../../../models/ur5e-pick-place.onnx');
let dir: string;
let ep: UrEndpoint;
let ur5e: RobotDescription;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** One control tick (ms) at the UR's 50 Hz. */
const TICK_MS = 20;
/** Transport and scheduling slack between the loop's tick and the cell's receive time (ms). */
const SLACK_MS = 60;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-fault-matrix-ur-'));
  ep = await UrEndpoint.start({ robot: 'ur5e', port: 0, camera_hz: 0, keep_commands: true });
  ur5e = await robot('ur5e');
});
after(async () => {
  await ep.stop();
  await rm(dir, { recursive: true, force: true });
});

const overRos = (...extra: string[]) => [
  ...['--robot', 'ur5e', '--rosbridge', ep.url, '--policy', 'expert', '--margin', '10', '--json'],
  ...extra,
];

/** The commands the cell received from index `from` on, checked against the profile (joints; rad). */
function safeSince(from: number): { t_mono_ms: number; q: Float64Array }[] {
  const got = ep.cell.commands.slice(from);
  checkCommands(got);
  return got;
}

/**
 * Commands as the cell received them, against the profile: a stop commands the pose the runtime last measured,
 * which may be further than a step from the goal before it (the arm lags its goal) but is within a step of
 * where the arm is when it arrives: it moves the arm no further than a step.
 */
function checkCommands(got: UrEndpoint['cell']['commands']): void {
  assertSafe(
    ur5e,
    got.map((c) => c.q),
    true,
    gapsOf(got),
    got.map((c) => c.arm_q),
    'one-step',
  );
}

/** Ticks between two commands from their receive times: a held tick sends nothing, the arm may move meanwhile. */
function gapsOf(got: { t_mono_ms: number }[]): number[] {
  return got.map((c, k) => (k === 0 ? 1 : Math.round((c.t_mono_ms - got[k - 1].t_mono_ms) / TICK_MS)));
}

/** Sets the cell's fault knobs as another process would: the ROS service /vla_sim/faults over rosbridge. */
async function setFaults(f: UrCellFaults, url = ep.url): Promise<void> {
  const conn = await RosConnection.open({
    url,
    connect_timeout_ms: 2000,
    reconnect_initial_ms: 50,
    reconnect_max_ms: 100,
  });
  try {
    const reply = await new Promise<{ success: boolean; message: string }>((resolve, reject) =>
      new Service<UrCellFaults, { success: boolean; message: string }>({
        ros: conn.ros,
        name: FAULTS_SERVICE,
        serviceType: 'std_srvs/Trigger',
      }).callService(f, resolve, (e) => reject(new Error(e))),
    );
    assert.ok(reply.success, reply.message);
  } finally {
    await conn.close();
  }
}

async function commandsReach(n: number, from: number): Promise<void> {
  for (let i = 0; i < 500 && ep.cell.commands.length - from < n; i++) await sleep(20);
  assert.ok(ep.cell.commands.length - from >= n, 'the robot never moved');
}

const CELLS: Record<string, () => Promise<void>> = {
  'stale-state': async () => {
    const from = ep.cell.commands.length;
    const run = runWithFaults(undefined, overRos('--episodes', '1', '--fault-timeout', '2'));
    await commandsReach(40, from);
    await setFaults({ joint_states_paused: true });
    const paused = monotonicMs();
    await sleep(600);
    const resumed = monotonicMs();
    await setFaults({ joint_states_paused: false });
    const r = await finished(run);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.s.fault, null);
    assert.ok(r.s.holds.driver_faults >= 1 && r.s.holds.driver_fault_ticks > 0, JSON.stringify(r.s.holds));
    const got = safeSince(from);
    // once the last state is older than the stale limit, the next tick holds: nothing is commanded
    const held = got.filter((c) => c.t_mono_ms > paused + DEFAULT_STALE_STATE_MS + TICK_MS + SLACK_MS);
    const during = held.filter((c) => c.t_mono_ms < resumed);
    assert.equal(during.length, 0, `${during.length} commands while the state was stale`);
    assert.ok(held.length > 20, 'motion resumed once the state was fresh again');
  },

  'nan-chunk': async () => {
    const from = ep.cell.commands.length;
    const r = await finished(runWithFaults('inf-chunk@tick=40', overRos('--episodes', '1')));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.s.fault ?? '', /rejected a chunk from the policy: action \d+ value \d+ is Infinity/);
    const at = firedAt(r.stderr, 'inf-chunk');
    const got = safeSince(from);
    // at most one command per executed tick (a tick held for a stale state sends none): the hold came within a
    // tick of the chunk's landing
    assert.ok(got.length <= at + 1, `${got.length} commands, the fault came at tick ${at}`);
  },

  signals: async () => {
    const rng = new Rng(11);
    const sig = rng.next() < 0.5 ? 'SIGINT' : 'SIGTERM';
    const from = ep.cell.commands.length;
    const run = runWithFaults(undefined, overRos('--duration', '20'));
    await commandsReach(20, from);
    const wait_ms = Math.round(rng.next() * 1500);
    await sleep(wait_ms);
    process.kill(run.pid, sig);
    const r = await finished(run);
    assert.equal(r.code, sig === 'SIGINT' ? 130 : 143, `${sig} after ${wait_ms} ms: ${r.stderr.slice(-1500)}`);
    assert.equal(r.s.episode_ends.interrupted, 1);
    assert.equal(r.s.holds.stops, 1);
    const n = ep.cell.commands.length;
    await sleep(300);
    assert.equal(ep.cell.commands.length, n, 'a command arrived after vla-run exited');
    safeSince(from);
  },

  'latency-spike': async () => {
    const from = ep.cell.commands.length;
    const spikes = 'latency-spike@tick=30:ms=1500,latency-spike@tick=130:ms=600';
    const r = await finished(runWithFaults(spikes, overRos('--policy', 'tick-stamp', '--duration', '4')));
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.equal(r.s.fault, null);
    assert.equal(firedTicks(r.stderr, 'latency-spike').length, 2, 'the run went on after the first spike');
    assert.equal(r.s.buffer.stale_actions_executed, 0, 'an action ran at another tick than its own after a hold');
    // 1500 ms is 75 ticks and a chunk 25 at most: the buffer ran dry and the arm held
    assert.ok(r.s.holds.underrun_ticks >= 20, JSON.stringify({ holds: r.s.holds, control: r.s.control }));
    assert.ok(safeSince(from).length >= 150, 'the arm was commanded through the run');
  },

  'camera-freeze': async () => {
    // the cell's own cameras (ROS image topics), which the shipped model reads: top and wrist
    const cell = await UrEndpoint.start({
      robot: 'ur5e',
      port: 0,
      camera_size: 64,
      camera_hz: 10,
      keep_commands: true,
    });
    try {
      const args = ['--robot', 'ur5e', '--rosbridge', cell.url, '--margin', '10', '--json'];
      const run = runWithFaults(undefined, [...args, '--duration', '30', '--fault-timeout', '1.5']);
      for (let i = 0; i < 500 && cell.cell.commands_received < 25; i++) await sleep(20);
      // a short freeze inside --fault-timeout: the arm holds, then goes on once frames come again
      await setFaults({ cameras_paused: true }, cell.url);
      await sleep(800);
      await setFaults({ cameras_paused: false }, cell.url);
      await sleep(1500);
      const before_long = cell.cell.commands_received;
      await setFaults({ cameras_paused: true }, cell.url);
      const r = await finished(run);
      assert.equal(r.code, 1, r.stderr.slice(-3000));
      assert.ok(before_long > 75, `no motion after the short freeze (${before_long} commands)`);
      assert.match(
        r.s.fault ?? '',
        /camera '(top|wrist)' stale: its newest frame is \d+\.\d s old .* for more than 1\.5 s/,
      );
      assert.ok(r.s.holds.underrun_ticks > 0, JSON.stringify(r.s.holds));
      assert.equal(r.s.episode_ends.fault, 1);
      const n = cell.cell.commands_received;
      await sleep(300);
      assert.equal(cell.cell.commands_received, n, 'a command arrived after vla-run exited');
      checkCommands(cell.cell.commands);
    } finally {
      await cell.stop();
    }
  },

  'worker-crash': async () => {
    const from = ep.cell.commands.length;
    // the shipped model reads the cell's cameras; this cell has none, so the run's own test pattern stands in
    const args = overRos(
      '--policy',
      MODEL,
      '--camera',
      'top=lavfi:testsrc:64x64@15',
      '--camera',
      'wrist=lavfi:testsrc:64x64@15',
    );
    const r = await finished(runWithFaults('worker-crash@tick=60', [...args, '--episodes', '1']));
    assert.equal(r.code, 1, r.stderr.slice(-3000));
    assert.match(r.s.fault ?? '', /inference failed: the ONNX inference worker .* exited \(code 3\)/);
    const at = firedAt(r.stderr, 'worker-crash');
    assert.equal(r.s.holds.stops, 1);
    const got = safeSince(from);
    // the crash is found at the call of tick `at`; what is buffered may still run, a chunk (25) at most
    assert.ok(got.length <= at + 25, `${got.length} commands, the worker crashed at tick ${at}`);
    await sleep(300);
    assert.equal(ep.cell.commands.length - from, got.length, 'a command arrived after vla-run exited');
  },

  'malformed-files': async () => {
    const truncated = join(dir, 'truncated.onnx');
    await writeFile(truncated, (await readFile(MODEL)).subarray(0, 2000));
    const from = ep.cell.commands.length;
    const r = await runWithFaults(undefined, overRos('--policy', truncated, '--episodes', '1')).done;
    assert.equal(r.code, 2, r.stderr.slice(-2000));
    assertRefusedStdout(r.stdout);
    assert.match(r.stdout || r.stderr, /truncated\.onnx/);
    assert.equal(ep.cell.commands.length, from, 'the arm was commanded');
  },

  'control-thread-dies': async () => {
    const from = ep.cell.commands.length;
    const r = await finished(runWithFaults('control-thread-exit@tick=80', overRos('--episodes', '1')));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.s.fault ?? '', /the control thread exited \(code 70\); the driver was left with its last command/);
    const at = firedAt(r.stderr, 'control-thread-exit');
    const got = safeSince(from);
    // the thread exited before its tick `at`: at most at - 1 commands, and none after (its socket died with it)
    assert.ok(got.length <= at - 1, `${got.length} commands, the thread died at tick ${at}`);
    await sleep(300);
    assert.equal(ep.cell.commands.length - from, got.length, 'a command arrived after the control thread died');
  },
};

const rows: Row[] = runCells('ur');
test('every UR cell of the table has a test, and every test a cell', () => {
  assert.deepEqual(Object.keys(CELLS).sort(), rows.map((r) => r.id).sort());
});
for (const row of rows) test(`[ur] ${row.fault}: ${row.expect}`, CELLS[row.id]);
