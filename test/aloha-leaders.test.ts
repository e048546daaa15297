// ALOHA's leader arms over real serial I/O: the emulator's leader buses (pseudo-terminals, limp XM430/XL430 servos
// posed as a person's hands would pose them), read by the real driver beside the followers, never written.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { builtinAlohaCalibrationPath, loadArmCalibration } from '../calibration/motor-calibration.js';
import { AlohaSerialDriver } from '../drivers/aloha/aloha-serial-driver.js';
import { DriverSetupError, newJointState } from '../drivers/driver.js';
import { alohaMotors } from '../protocols/aloha/motor-map.js';
import { emulatorCalibration } from '../sim/dynamixel/aloha-rig.js';
import { DynamixelEmulator } from '../sim/dynamixel/emulator.js';
import { loadRobot } from '../src/robot/index.js';
import { monotonicMs } from '../src/util/clock.js';

let emu: DynamixelEmulator;
before(async () => {
  emu = await DynamixelEmulator.start({ sim_link: false, leaders: true });
});
after(async () => {
  await emu.stop();
});

const ALOHA = await loadRobot('aloha');
const BUS = { timeout_ms: 60, retries: 3 };
const cal = (role: 'follower' | 'leader') => ({
  left: emulatorCalibration('left', role),
  right: emulatorCalibration('right', role),
});

function leaderDriver(): AlohaSerialDriver {
  const ports = emu.leader_ports;
  assert.ok(ports);
  return new AlohaSerialDriver({
    description: ALOHA,
    ports: emu.ports,
    calibration: cal('follower'),
    bus: BUS,
    leaders: { ports, calibration: cal('leader') },
  });
}

/** One cycle (a read), then the state it left. */
async function readOnce(d: AlohaSerialDriver) {
  d.write(null);
  await d.deactivate();
  const s = newJointState(ALOHA);
  return { health: d.read(s), s };
}

test('the shipped leader calibration files match the emulated leader arms exactly', async () => {
  for (const side of ['left', 'right'] as const) {
    const file = await loadArmCalibration(builtinAlohaCalibrationPath(side, 'leader'), alohaMotors('leader'));
    assert.deepEqual(file, emulatorCalibration(side, 'leader'));
  }
});

test('the driver reads where a person holds the leader arms, in the action layout, and never writes them', async () => {
  const d = leaderDriver();
  await d.configure();
  try {
    const first = await readOnce(d);
    assert.equal(first.health, 'ok');
    const t = first.s.teleop!;
    assert.ok(t.t_mono_ms > monotonicMs() - 200, 'a fresh leader reading');
    // the leaders rest where the followers started (within the ticks' resolution)
    for (let j = 0; j < 6; j++) assert.ok(Math.abs(t.action[j] - first.s.position_rad[j]) < 0.01, `joint ${j}`);
    const pose = [0.2, -0.8, 1.0, 0.1, -0.4, 0.3];
    emu.holdLeader('right', { position_rad: pose, gripper: 0.25 });
    const moved = (await readOnce(d)).s.teleop!.action;
    for (let j = 0; j < 6; j++)
      assert.ok(Math.abs(moved[7 + j] - pose[j]) < 0.002, `right joint ${j}: ${moved[7 + j]}`);
    assert.ok(Math.abs(moved[13] - 0.25) < 0.002, `right handle ${moved[13]}`);
    for (let j = 0; j < 6; j++) assert.ok(Math.abs(moved[j] - t.action[j]) < 1e-9, 'the left leader did not move');
    const c = emu.leaders.left.servos.concat(emu.leaders.right.servos).map((s) => s.counters);
    assert.equal(
      c.reduce((n, x) => n + x.goal_writes + x.eeprom_writes + x.torque_on_writes, 0),
      0,
    );
  } finally {
    await d.close();
  }
});

test('a leader bus that stops answering leaves the followers healthy and the leader pose old, counted', async () => {
  const d = leaderDriver();
  await d.configure();
  try {
    const t0 = (await readOnce(d)).s.teleop!.t_mono_ms;
    emu.setFaults({ silent_ids: { 'left-leader': [1, 2, 3, 4, 5, 6, 7, 8, 9] } });
    const r = await readOnce(d);
    assert.equal(r.health, 'ok', 'the followers were read');
    assert.equal(r.s.teleop!.t_mono_ms, t0, 'the leader pose is the old one');
    assert.ok(d.counters().leader_misses >= 1);
  } finally {
    emu.setFaults({ silent_ids: {} });
    await d.close();
  }
});

test('leader ports that do not answer refuse the setup before anything moves', async () => {
  emu.setFaults({ silent_ids: { 'right-leader': [4] } });
  const d = leaderDriver();
  try {
    await assert.rejects(d.configure(), (err: Error) => {
      assert.ok(err instanceof DriverSetupError, String(err));
      assert.match(err.message, /right leader.*ID 4/);
      return true;
    });
  } finally {
    emu.setFaults({ silent_ids: {} });
    await d.close();
  }
});

test('follower ports given as the leaders’ are refused (another motor model) before a follower moves', async () => {
  const d = new AlohaSerialDriver({
    description: ALOHA,
    ports: emu.ports,
    calibration: cal('follower'),
    bus: BUS,
    leaders: { ports: emu.ports, calibration: cal('leader') },
  });
  const writes = () => emu.counters().left.eeprom_writes + emu.counters().left.torque_on_writes;
  const before = writes();
  try {
    await assert.rejects(d.configure(), (err: Error) => {
      assert.ok(err instanceof DriverSetupError, String(err));
      assert.match(
        err.message,
        /left leader: ID 1 \(waist\) is a XM540-W270, expected XM430-W350 \(is .* the leader arm's port\?\)/,
      );
      return true;
    });
    assert.equal(writes(), before);
  } finally {
    await d.close();
  }
});
