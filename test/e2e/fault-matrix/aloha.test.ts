// The fault matrix, ALOHA-over-serial column (table.ts): `vla-sim dynamixel` in its own process (X-series
// servos on pseudo-terminals, fault knobs over its sim link) and vla-run in another, as a user runs them.
// What the control loop commanded is read back from the run's recording and checked against the profile;
// what the servos took after a run stopped is read from the emulator (its goal-write counters, the poses).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ALOHA_READ_IDS } from '../../../protocols/aloha/motor-map.js';
import type { FaultKnobs } from '../../../protocols/sim-link/fault-knobs.js';
import { writeTestPolicy } from '../../../src/policy/onnx/model-writer.js';
import { homeAction, type RobotDescription } from '../../../src/robot/index.js';
import { Rng } from '../../../src/util/rng.js';
import { EmulatedRig } from './aloha-rig.js';
import { finished, firedAt, firedTicks, logged, robot, runWithFaults } from './checks.js';
import { longestGap, recordedSafe } from './recorded.js';
import { type Row, runCells } from './table.js';

let rig: EmulatedRig;
let aloha: RobotDescription;
let dir: string;
const CLEAR: Partial<FaultKnobs> = { crc_error_rate: 0, drop_rate: 0, reply_delay_ms: 0 };
const memo = <T>(f: () => Promise<T>): (() => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => {
    p ??= f();
    return p;
  };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CONNECTED = /connected to the ALOHA arms/;
/**
 * How long the left arm's chain stays silent: a cable out for a second, well inside --fault-timeout. (Before the
 * request engine forgot replies owed for over 200 ms, a silence longer than about 300 ms took every reply tag and
 * the bus refused every request until a restart.)
 */
const SILENT_MS = 1000;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-fault-matrix-aloha-'));
  aloha = await robot('aloha');
  rig = await EmulatedRig.start();
});

after(async () => {
  await rig.stop();
  await rm(dir, { recursive: true, force: true });
});

/** After a run ended: no Goal_Position write reaches a servo, no arm is let go or moves (rad). */
async function leftHolding(torque_offs_before: number): Promise<void> {
  const at_exit = await rig.status();
  // An arm stopped mid-motion settles onto its hold goal for a few ticks (the emulator's position loop, later
  // still when its process is starved of CPU); what must not happen is motion after that, so it is measured after.
  await sleep(300);
  const a = await rig.status();
  await sleep(400);
  const b = await rig.status();
  assert.equal(EmulatedRig.goalWrites(b), EmulatedRig.goalWrites(at_exit), 'a goal was written after vla-run ended');
  assert.equal(EmulatedRig.torqueOffs(b), torque_offs_before, 'an arm was let go (torque switched off)');
  assert.ok(EmulatedRig.moved(a, b) < 0.01, `the arms moved ${EmulatedRig.moved(a, b)} rad after the run ended`);
}

/** Serial bursts in one run: CRC errors, then lost replies, then late replies, each short; shared by 3 cells. */
const busBursts = memo(async () => {
  const rec = join(dir, 'bursts.mcap');
  const run = runWithFaults(undefined, rig.args('--duration', '5', '--fault-timeout', '3', '--record', rec));
  const bursts: Partial<FaultKnobs>[] = [{ crc_error_rate: 0.5 }, { drop_rate: 0.5 }, { reply_delay_ms: 25 }];
  try {
    await logged(run, CONNECTED);
    await sleep(800);
    for (const b of bursts) {
      await rig.link.setFaults(b);
      await sleep(500);
      await rig.link.setFaults(CLEAR);
      await sleep(300);
    }
  } finally {
    await rig.link.setFaults(CLEAR);
  }
  const r = await finished(run);
  assert.equal(r.s.fault, null, r.s.fault ?? '');
  const f = r.s.driver?.faults ?? {};
  const why = JSON.stringify({ driver: r.s.driver, holds: r.s.holds });
  assert.equal(f.hardware_alerts, 0, why);
  return { r, f, why, ticks: await recordedSafe(aloha, r.s.recordings?.[0]?.path) };
});

const CELLS: Record<string, () => Promise<void>> = {
  'driver-disconnect': async () => {
    const rec = join(dir, 'disconnect.mcap');
    const run = runWithFaults(undefined, rig.args('--duration', '4', '--fault-timeout', '2', '--record', rec));
    try {
      await logged(run, CONNECTED);
      await sleep(1000);
      // the left arm's whole chain silent: its cable out for SILENT_MS, well inside --fault-timeout
      await rig.link.setFaults({ silent_ids: { left: [...ALOHA_READ_IDS] } });
      await sleep(SILENT_MS);
    } finally {
      await rig.link.setFaults({ silent_ids: {} });
    }
    const r = await finished(run);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.equal(r.s.fault, null);
    const why = JSON.stringify({ holds: r.s.holds, driver: r.s.driver });
    // 200 ms is 10 ticks; the knob's two requests take some of it
    assert.ok(r.s.holds.driver_faults >= 1 && r.s.holds.driver_fault_ticks >= 5, why);
    assert.ok((r.s.driver?.faults.left_timeouts ?? 0) > 0, why);
    const ticks = await recordedSafe(aloha, r.s.recordings?.[0]?.path);
    // held (nothing commanded) through the silence, then commands again up to the end of --duration
    assert.ok(longestGap(ticks) >= 5, `no hold in the recorded ticks: ${why}`);
    assert.ok(ticks.at(-1)! - ticks[0] >= 150, 'motion resumed after the arm came back');
  },

  'crc-burst': async () => {
    const { r, f, why, ticks } = await busBursts();
    assert.ok(f.left_crc_errors + f.right_crc_errors > 0, `no CRC error was seen: ${why}`);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.ok(ticks.length > 150, `the run went on after the bursts (${ticks.length} ticks)`);
  },

  'dropped-replies': async () => {
    const { r, f, why } = await busBursts();
    assert.ok(f.left_timeouts + f.right_timeouts > 0, `no reply was missed: ${why}`);
    assert.ok(f.left_retries + f.right_retries > 0, `nothing was asked again: ${why}`);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
  },

  'stale-state': async () => {
    const { r, f, why, ticks } = await busBursts();
    // replies 25 ms after each request: every read ends after its tick, so no reading is fresh enough to use
    assert.ok(f.late_ticks >= 10, `no late reading: ${why}`);
    // a late tick commands nothing (control-loop.ts), so it is missing from the recording
    const uncommanded = ticks.at(-1)! - ticks[0] + 1 - ticks.length;
    assert.ok(uncommanded >= f.late_ticks, `${uncommanded} ticks without a command, ${f.late_ticks} late: ${why}`);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
  },

  'latency-spike': async () => {
    const rec = join(dir, 'latency.mcap');
    const spikes = 'latency-spike@tick=30:ms=1500,latency-spike@tick=130:ms=600';
    const args = rig.args('--policy', 'tick-stamp', '--duration', '4', '--record', rec);
    const r = await finished(runWithFaults(spikes, args));
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.equal(r.s.fault, null);
    assert.equal(firedTicks(r.stderr, 'latency-spike').length, 2, 'the run went on after the first spike');
    assert.equal(r.s.buffer.stale_actions_executed, 0, 'an action ran at another tick than its own after a hold');
    // 1500 ms is 75 ticks and a chunk 25 at most: the buffer ran dry and the arms held
    assert.ok(r.s.holds.underrun_ticks >= 20, JSON.stringify({ holds: r.s.holds, control: r.s.control }));
    const ticks = await recordedSafe(aloha, r.s.recordings?.[0]?.path);
    assert.ok(ticks.length >= 150, `${ticks.length} ticks recorded`);
  },

  'camera-freeze': async () => {
    // a model that reads the emulator's camera 'top' (over the sim link) and always answers home: it needs
    // fresh frames to infer, and its commands stay inside the limits whatever it is fed
    const model = join(dir, 'still.onnx');
    await writeTestPolicy(model, {
      robot: 'aloha',
      cameras: [{ name: 'top', width: 32, height: 32 }],
      state_dim: 14,
      horizon: 25,
      action_dim: 14,
      mode: 'constant',
      constant: new Array(25 * 14).fill(0),
      action_normalization: { kind: 'mean_std', mean: Array.from(homeAction(aloha)), std: new Array(14).fill(1) },
    });
    const rec = join(dir, 'camera.mcap');
    const args = rig.args('--policy', model, '--duration', '30', '--fault-timeout', '1.5', '--record', rec);
    const run = runWithFaults(undefined, args);
    const unpause = () => rig.link.setFaults({ cameras_paused: false });
    const freezes = async () => {
      await logged(run, CONNECTED);
      await sleep(1500);
      // the rig's cameras stop delivering (the emulator refuses every frame) for 800 ms, inside --fault-timeout
      await rig.link.setFaults({ cameras_paused: true });
      await sleep(800);
      await unpause();
      await sleep(1500);
      // then for good
      await rig.link.setFaults({ cameras_paused: true });
    };
    await freezes().catch(async (err) => {
      await unpause();
      throw err;
    });
    const r = await finished(run).finally(unpause);
    assert.equal(r.code, 1, r.stderr.slice(-3000));
    assert.match(r.s.fault ?? '', /camera 'top' stale: its newest frame is \d+\.\d s old .* for more than 1\.5 s/);
    assert.ok(r.s.holds.underrun_ticks > 0, JSON.stringify(r.s.holds));
    assert.equal(r.s.episode_ends.fault, 1);
    const ticks = await recordedSafe(aloha, r.s.recordings?.[0]?.path);
    // commanded from fresh chunks after the short freeze: the run went on well past it
    assert.ok(ticks.at(-1)! >= 150, `the run stopped at tick ${ticks.at(-1)}: no motion after the short freeze`);
  },

  signals: async () => {
    const rng = new Rng(5);
    for (const [sig, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const offs = EmulatedRig.torqueOffs(await rig.status());
      const rec = join(dir, `${sig}.mcap`);
      const run = runWithFaults(undefined, rig.args('--duration', '20', '--record', rec));
      await logged(run, CONNECTED);
      // a seeded random moment of the motion: 0.3 .. 1.5 s after the arms were connected
      const wait_ms = Math.round(300 + rng.next() * 1200);
      await sleep(wait_ms);
      process.kill(run.pid, sig);
      const r = await finished(run);
      assert.equal(r.code, code, `${sig} after ${wait_ms} ms: ${r.stderr.slice(-1500)}`);
      assert.equal(r.s.episode_ends.interrupted, 1, `${sig} after ${wait_ms} ms`);
      assert.equal(r.s.holds.stops, 1, 'the arms were held');
      assert.ok((await recordedSafe(aloha, r.s.recordings?.[0]?.path)).length > 10);
      await leftHolding(offs);
    }
  },

  'control-thread-dies': async () => {
    const offs = EmulatedRig.torqueOffs(await rig.status());
    const r = await finished(runWithFaults('control-thread-exit@tick=80', rig.args('--duration', '20')));
    assert.equal(r.code, 1, r.stderr.slice(-3000));
    assert.match(r.s.fault ?? '', /the control thread exited \(code 70\); the driver was left with its last command/);
    firedAt(r.stderr, 'control-thread-exit');
    await leftHolding(offs);
  },

  'port-vanishes': async () => {
    const rec = join(dir, 'unplug.mcap');
    const run = runWithFaults(undefined, rig.args('--episodes', '1', '--fault-timeout', '1', '--record', rec));
    await logged(run, CONNECTED);
    await sleep(1000);
    rig.unplug();
    const r = await finished(run);
    assert.equal(r.code, 1, r.stderr.slice(-3000));
    assert.match(
      r.s.fault ?? '',
      /driver io_error for more than 1\.0 s: (left|right) follower: serial port \S+: (\w+ )?(EIO|the device hung up)/,
    );
    const h = r.s.holds as typeof r.s.holds & { longest_driver_fault_ms: number };
    assert.ok(h.driver_faults >= 1 && h.driver_fault_ticks > 0, JSON.stringify(h));
    // the stretch that ended the run lasted past --fault-timeout: the summary's longest is that one
    assert.ok(h.longest_driver_fault_ms >= 1000, `longest_driver_fault_ms ${h.longest_driver_fault_ms}`);
    assert.equal(r.s.episode_ends.fault, 1);
    await recordedSafe(aloha, r.s.recordings?.[0]?.path);
  },
};

// the unplug last: the emulator is gone afterwards
const rows: Row[] = runCells('aloha').sort(
  (a, b) => Number(a.id === 'port-vanishes') - Number(b.id === 'port-vanishes'),
);
test('every ALOHA cell of the table has a test, and every test a cell', () => {
  assert.deepEqual(Object.keys(CELLS).sort(), rows.map((r) => r.id).sort());
});
for (const row of rows) test(`[aloha] ${row.fault}: ${row.expect}`, CELLS[row.id]);
