// The recovery steps behind `vla-calibrate --reboot` (src/calibrate/servo-recovery.ts) against the Dynamixel
// emulator in this process, over its real pseudo-terminals: which servos are chosen, that the reboot
// really clears the alarm, that the driver's own connect-time configuration is re-applied, and that a
// servo that never comes back is named.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DynamixelBus } from '../drivers/dynamixel/bus.js';
import { alohaMotors } from '../protocols/aloha/motor-map.js';
import { REG } from '../protocols/dynamixel/control-table.js';
import { emulatorCalibration } from '../sim/dynamixel/aloha-rig.js';
import { DynamixelEmulator } from '../sim/dynamixel/emulator.js';
import { findAlarms, reapplySettings, rebootServos } from '../src/calibrate/servo-recovery.js';

const MOTORS = alohaMotors('follower');
const OVERLOAD = 0x20;
const OVERHEATING = 0x04;
let emu: DynamixelEmulator;

before(async () => {
  emu = await DynamixelEmulator.start({ sim_link: false });
});
after(async () => {
  await emu.stop();
});

async function withBus<T>(fn: (bus: DynamixelBus) => Promise<T>): Promise<T> {
  const bus = await DynamixelBus.open({ path: emu.ports.right, name: 'right follower', timeout_ms: 60, retries: 3 });
  try {
    return await fn(bus);
  } finally {
    await bus.close();
  }
}

test('findAlarms: every alarmed servo with its bits in words; --id picks servos whatever their state', async () => {
  emu.alarm('right', 2, OVERLOAD);
  emu.alarm('right', 3, OVERLOAD | OVERHEATING);
  await withBus(async (bus) => {
    const all = await findAlarms(bus, 'right', MOTORS);
    assert.deepEqual(
      all.map((a) => [a.id, a.motor, a.bits, a.alarms]),
      [
        [2, 'shoulder', OVERLOAD, 'overload'],
        [3, 'shoulder_shadow', OVERLOAD | OVERHEATING, 'overheating, overload'],
      ],
    );
    const named = await findAlarms(bus, 'right', MOTORS, [3, 6]);
    assert.deepEqual(
      named.map((a) => [a.id, a.bits, a.alarms]),
      [
        [3, OVERLOAD | OVERHEATING, 'overheating, overload'],
        [6, 0, 'no alarm'],
      ],
    );
    const rebooted = await rebootServos(bus, all);
    assert.deepEqual(
      rebooted.map((r) => r.id),
      [2, 3],
    );
    for (const id of [2, 3]) assert.equal(await bus.readRegister(id, REG.hardware_error_status), 0, `ID ${id}`);
    assert.deepEqual(await findAlarms(bus, 'right', MOTORS), [], 'nothing left in alarm');
    assert.equal(bus.alerts.size, 0, 'the bus no longer counts them as alerted');
  });
});

test("reapplySettings: the driver's connect-time EEPROM configuration comes back; torque stays off", async () => {
  const cal = emulatorCalibration('right');
  // the shoulder (ID 2) lost its homing offset: what a factory reset or a swapped servo would leave
  await withBus(async (bus) => {
    await bus.writeRegister(2, REG.torque_enable, 0);
    await bus.writeRegister(2, REG.homing_offset, 0);
  });
  emu.alarm('right', 2, OVERLOAD);
  const alarms = await withBus(async (bus) => {
    const found = await findAlarms(bus, 'right', MOTORS);
    await rebootServos(bus, found);
    return found;
  });
  const r = await reapplySettings('right', emu.ports.right, cal, alarms, 60);
  assert.ok(r.eeprom_writes >= 1, `the homing offset was written again (${r.eeprom_writes} writes)`);
  assert.deepEqual(
    r.servos.map((s) => [s.id, s.hardware_error_status, s.torque_on]),
    [[2, 0, false]],
  );
  const offset = await withBus((bus) => bus.readRegister(2, REG.homing_offset));
  assert.equal(offset, cal.shoulder.homing_offset, "the calibration's homing offset");
  assert.ok(Math.abs(r.servos[0].position_ticks - 2048) < 2048, `a calibrated reading (${r.servos[0].position_ticks})`);
});

test('a servo whose answers do not come back is named; nothing after it is rebooted', async () => {
  emu.alarm('right', 6, OVERLOAD);
  emu.alarm('right', 7, OVERLOAD);
  await withBus(async (bus) => {
    const found = await findAlarms(bus, 'right', MOTORS);
    assert.deepEqual(
      found.map((a) => a.id),
      [6, 7],
    );
    // ID 6 still hears (its line to the adapter is broken one way): it reboots, but nothing it says arrives
    emu.setFaults({ silent_ids: { right: [6] } });
    try {
      await assert.rejects(
        rebootServos(bus, found, 400),
        /right follower on \S+: ID 6 \(forearm_roll\) did not answer/,
      );
    } finally {
      emu.setFaults({ silent_ids: {} });
    }
    assert.equal(await bus.readRegister(7, REG.hardware_error_status), OVERLOAD, 'ID 7 was not touched');
    await bus.waitForServo(6, 2000);
    await rebootServos(bus, found.slice(1));
    assert.deepEqual(await findAlarms(bus, 'right', MOTORS), []);
  });
});
