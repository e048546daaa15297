// The real bus, the ALOHA arm layer and the ALOHA driver over real serial I/O: pseudo-terminals,
// serialport, and the Dynamixel emulator (in this process) behind them.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AlohaArm } from '../drivers/aloha/aloha-arm.js';
import { DynamixelBus } from '../drivers/dynamixel/bus.js';
import { DynamixelDeadlineError, DynamixelStatusError, DynamixelTimeoutError } from '../drivers/dynamixel/errors.js';
import { ALOHA_READ_IDS } from '../protocols/aloha/motor-map.js';
import { MODEL_NUMBER, REG } from '../protocols/dynamixel/control-table.js';
import { emulatorCalibration } from '../sim/dynamixel/aloha-rig.js';
import { DynamixelEmulator } from '../sim/dynamixel/emulator.js';
import { monotonicMs } from '../src/util/clock.js';

let emu: DynamixelEmulator;
before(async () => {
  emu = await DynamixelEmulator.start({ sim_link: false });
});
after(async () => {
  await emu.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * Generous timeouts: on a busy machine a process can be descheduled for tens of milliseconds; the logic
 * under test does not depend on the value (the fault tests set their own).
 */
const BUS = { timeout_ms: 60, retries: 3 };

test('ping every servo of both arms: model numbers of the ViperX follower', async () => {
  for (const side of ['left', 'right'] as const) {
    const bus = await DynamixelBus.open({ path: emu.ports[side], name: `${side} arm`, ...BUS });
    try {
      for (const id of ALOHA_READ_IDS) {
        const { model_number } = await bus.ping(id);
        assert.equal(
          model_number,
          id <= 7 ? MODEL_NUMBER['XM540-W270'] : MODEL_NUMBER['XM430-W350'],
          `${side} ID ${id}`,
        );
      }
      assert.equal(await bus.readRegister(4, REG.id), 4);
      const [bytes] = await bus.bulkRead([{ id: 8, address: REG.model_number.address, length: 2 }]);
      assert.equal(bytes[0] | (bytes[1] << 8), 1020);
      assert.equal(bus.counters.crc_errors, 0);
    } finally {
      await bus.close();
    }
  }
});

test('arm layer: one SYNC_WRITE moves the sim, one SYNC_READ sees it, in radians through the calibration', async () => {
  const arm = await AlohaArm.open({
    side: 'right',
    port: emu.ports.right,
    calibration: emulatorCalibration('right'),
    bus: BUS,
  });
  try {
    await arm.configure();
    const start = Float64Array.from((await arm.read()).position_rad);
    assert.ok(Math.abs(start[1] - -0.96) < 0.02 && Math.abs(start[2] - 1.16) < 0.02, `home pose read as ${[...start]}`);
    await arm.setTorque(true);
    const goal = Float64Array.from(start);
    goal[0] = 0.4; // waist
    goal[4] = 0.2; // wrist_angle (a reversed motor)
    const sentBefore = emu.chains.right.counters.requests;
    await arm.write(goal, 0.3);
    await sleep(1200);
    const r = await arm.read();
    assert.equal(emu.chains.right.counters.requests - sentBefore, 2, 'one SYNC_WRITE + one SYNC_READ');
    assert.ok(Math.abs(r.position_rad[0] - 0.4) < 0.03, `waist at ${r.position_rad[0]}`);
    assert.ok(Math.abs(r.position_rad[4] - 0.2) < 0.05, `wrist_angle at ${r.position_rad[4]}`);
    assert.ok(Math.abs(r.gripper - 0.3) < 0.1, `gripper at ${r.gripper}`);
    // the shadows read the same joint as their primaries
    assert.ok(
      Math.abs(r.ticks[1] - r.ticks[2]) < 15 && Math.abs(r.ticks[3] - r.ticks[4]) < 15,
      `shadows ${[...r.ticks]}`,
    );
    await assert.rejects(
      arm.write([0, 0, Number.NaN, 0, 0, 0], 1),
      /ID 4 \(elbow\) is outside its calibrated travel.*nothing sent/,
    );
    await arm.setTorque(false);
  } finally {
    await arm.close();
  }
});

test('back to back: a SYNC_WRITE (not waited for) and the SYNC_READ behind it both arrive intact', async () => {
  const bus = await DynamixelBus.open({ path: emu.ports.left, name: 'left arm', ...BUS });
  try {
    const present = new Int32Array(9);
    await bus.syncRead(REG.present_position, ALOHA_READ_IDS, present);
    const repliesBefore = emu.chains.left.counters.replies;
    for (let k = 0; k < 20; k++) {
      // the writer reuses one buffer: the queued SYNC_WRITE must not be overwritten by the SYNC_READ
      const goals = [present[0] + k, present[7] - k];
      void bus.syncWrite(REG.goal_position, [1, 8], goals);
      await bus.syncRead(REG.present_position, ALOHA_READ_IDS, present);
      assert.equal(await bus.readRegister(1, REG.goal_position), goals[0]);
      assert.equal(await bus.readRegister(8, REG.goal_position), goals[1]);
    }
    assert.equal(emu.chains.left.counters.replies - repliesBefore, 20 * (9 + 2), 'exactly the replies asked for');
    assert.equal(bus.counters.stale_replies, 0);
  } finally {
    await bus.close();
  }
});

test('CRC errors are retried and counted; every sync read still completes', async () => {
  const bus = await DynamixelBus.open({ path: emu.ports.left, name: 'left arm', ...BUS, retries: 4 });
  emu.setFaults({ crc_error_rate: 0.2 });
  try {
    const out = new Int32Array(9);
    for (let i = 0; i < 40; i++) await bus.syncRead(REG.present_position, ALOHA_READ_IDS, out);
    assert.ok(bus.counters.crc_errors > 10, `crc_errors ${bus.counters.crc_errors}`);
    assert.ok(bus.counters.retries >= 5, `retries ${bus.counters.retries}`);
    assert.ok(out.every((t) => t !== 0));
  } finally {
    emu.setFaults({ crc_error_rate: 0 });
    await bus.close();
  }
});

test('a servo that never answers: the error names the arm and the ID, after the retries', async () => {
  const bus = await DynamixelBus.open({ path: emu.ports.left, name: 'left arm', timeout_ms: 15, retries: 1 });
  emu.setFaults({ silent_ids: { left: [5] } });
  try {
    const out = new Int32Array(9);
    await assert.rejects(
      bus.syncRead(REG.present_position, ALOHA_READ_IDS, out),
      (err: Error) =>
        err instanceof DynamixelTimeoutError &&
        /^left arm: no reply from ID 5 to SYNC_READ Present_Position \(2 attempts/.test(err.message) &&
        err.ids.join() === '5',
    );
    await assert.rejects(bus.ping(5), /left arm: no reply from ID 5 to PING/);
    assert.equal(bus.counters.timeouts, 4); // two attempts each for the sync read and the ping
    // dropped replies (random) are timeouts too, and the retry gets the data
    emu.setFaults({ silent_ids: {}, drop_rate: 0.3 });
    for (let i = 0; i < 10; i++) await bus.ping(1).catch(() => {});
    assert.ok(bus.counters.timeouts > 3, `timeouts ${bus.counters.timeouts}`);
  } finally {
    emu.setFaults({ silent_ids: {}, drop_rate: 0 });
    await bus.close();
  }
});

test('a servo refusing a request is an error naming the ID (EEPROM write with torque on)', async () => {
  const bus = await DynamixelBus.open({ path: emu.ports.left, name: 'left arm', ...BUS });
  try {
    await bus.writeRegister(6, REG.torque_enable, 1);
    await assert.rejects(
      bus.writeRegister(6, REG.operating_mode, 4),
      (err: Error) =>
        err instanceof DynamixelStatusError &&
        /left arm: ID 6 refused WRITE Operating_Mode=4: access error/.test(err.message),
    );
    await bus.writeRegister(6, REG.torque_enable, 0);
    await bus.writeRegister(6, REG.operating_mode, 4);
  } finally {
    await bus.close();
  }
});

// ---- a tick's read is bounded by the tick, and a reply to an abandoned request is never used ----

test('a read past its deadline is abandoned at once, and its late replies never pass for the next read', async () => {
  const bus = await DynamixelBus.open({ path: emu.ports.left, name: 'left arm', timeout_ms: 15, retries: 2 });
  const ids = [1, 8];
  const goals = new Int32Array(2);
  try {
    await bus.syncWrite(REG.goal_position, ids, [1000, 1100]);
    emu.setFaults({ reply_delay_ms: 40 }); // constant, so replies keep their order, as on a real bus
    const t0 = monotonicMs();
    await assert.rejects(
      bus.syncRead(REG.goal_position, ids, goals, 15, t0 + 16),
      (err: Error) =>
        err instanceof DynamixelDeadlineError &&
        /^left arm: no reply from IDs 1, 8 to SYNC_READ Goal_Position within its control tick/.test(err.message) &&
        err.ids.join() === '1,8',
    );
    // the goals change; the abandoned read's replies (1000, 1100) arrive while the next read waits
    void bus.syncWrite(REG.goal_position, ids, [2000, 2100]);
    await bus.syncRead(REG.goal_position, ids, goals, 200);
    assert.deepEqual([...goals], [2000, 2100], 'the replies of the abandoned read were not taken');
    assert.ok(bus.counters.stale_replies >= 2, 'the late replies were counted and dropped');
    assert.equal(bus.counters.deadline_misses, 1);

    // several abandoned in a row with nothing heard: every tag is owed, so a barrier read comes first
    void bus.syncWrite(REG.goal_position, ids, [3000, 3100]);
    for (let k = 0; k < 5; k++)
      await assert.rejects(bus.syncRead(REG.goal_position, ids, goals, 15, monotonicMs() + 4), DynamixelDeadlineError);
    void bus.syncWrite(REG.goal_position, ids, [3500, 3600]);
    await bus.syncRead(REG.goal_position, ids, goals, 300);
    assert.deepEqual([...goals], [3500, 3600]);
    assert.ok(bus.counters.barriers >= 1, JSON.stringify(bus.counters));
  } finally {
    emu.setFaults({ reply_delay_ms: 0 });
    await bus.close();
  }
});

// ---- connecting never drops an arm: EEPROM is only written where it differs, torque off only when allowed ----

test('the port locks its device; after an I/O error close() still releases it and it opens again', async () => {
  const open = () => DynamixelBus.open({ path: emu.ports.left, name: 'left arm', ...BUS });
  const bus = await open();
  await assert.rejects(open(), /left arm: cannot open serial port .*: .*lock/i, 'a second user is refused');
  // what a failed read does: the link's tty stream emits 'error', the descriptors stay open
  const link = (bus as unknown as { engine: { port: { reader: NodeJS.EventEmitter } } }).engine.port;
  link.reader.emit('error', new Error('EIO'));
  assert.equal(bus.isOpen, false);
  await assert.rejects(bus.ping(1), /left arm: serial port .*: EIO/);
  await bus.close();
  const again = await open();
  try {
    assert.equal((await again.ping(1)).model_number, MODEL_NUMBER['XM540-W270']);
  } finally {
    await again.close();
  }
});
