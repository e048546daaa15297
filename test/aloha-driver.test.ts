// The ALOHA driver (and the control loop over it) over real serial I/O: pseudo-terminals,
// serialport, and the Dynamixel emulator (in this process) behind them.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AlohaArm } from '../drivers/aloha/aloha-arm.js';
import { AlohaSerialDriver } from '../drivers/aloha/aloha-serial-driver.js';
import { DriverSetupError, type JointState, newJointState } from '../drivers/driver.js';
import { DynamixelBus } from '../drivers/dynamixel/bus.js';
import { PortOpenError } from '../drivers/dynamixel/errors.js';
import { REG } from '../protocols/dynamixel/control-table.js';
import { emulatorCalibration } from '../sim/dynamixel/aloha-rig.js';
import { DynamixelEmulator } from '../sim/dynamixel/emulator.js';
import { loadRobot } from '../src/robot/index.js';
import { ActionBuffer } from '../src/runtime/action-buffer.js';
import { ActionRing } from '../src/runtime/action-ring.js';
import { ControlLoop } from '../src/runtime/control/control-loop.js';
import { TickBoard } from '../src/runtime/control/tick-board.js';
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

const ALOHA = await loadRobot('aloha');
const SHIPPED = () => ({ left: emulatorCalibration('left'), right: emulatorCalibration('right') });

/** The real driver on the emulator's ports with the calibration that matches it exactly. */
const emulatedDriver = (opts: { bus?: typeof BUS; cycle_budget_ms?: number } = {}) =>
  new AlohaSerialDriver({ description: ALOHA, ports: emu.ports, calibration: SHIPPED(), ...opts });

/** One tick: write (or nothing new), then wait until the cycle is off the wire; the state it read. */
async function cycle(
  d: AlohaSerialDriver,
  command: Float64Array | null,
): Promise<{ health: string; state: JointState }> {
  d.write(command);
  await d.deactivate();
  const state = newJointState(ALOHA);
  return { health: d.read(state), state };
}

/** The 14-value action that keeps both arms where `s` measured them (grippers as set by the caller: 0). */
function holdingAction(s: JointState): Float64Array {
  const action = new Float64Array(14);
  action.set(s.position_rad.subarray(0, 6), 0);
  action.set(s.position_rad.subarray(6, 12), 7);
  return action;
}

test('a port that cannot be opened: PortOpenError naming the arm and the path', async () => {
  await assert.rejects(
    DynamixelBus.open({ path: '/dev/does-not-exist-dxl', name: 'left arm' }),
    (err: Error) =>
      err instanceof PortOpenError && /^left arm: cannot open serial port \/dev\/does-not-exist-dxl/.test(err.message),
  );
  const d = new AlohaSerialDriver({
    description: ALOHA,
    ports: { left: '/dev/nope-left', right: emu.ports.right },
    calibration: SHIPPED(),
  });
  await assert.rejects(
    d.configure(),
    (err: Error) =>
      err instanceof DriverSetupError && /left follower: cannot open serial port \/dev\/nope-left/.test(err.message),
  );
});

/** A control loop over the real driver, paced by the test at about 50 Hz. */
async function loopOver(d: AlohaSerialDriver) {
  const ring = ActionRing.create({ capacity: 128, dim: 14 }, false);
  const board = new TickBoard({ joints: 12, grippers: 2, dim: 14 });
  const loop = new ControlLoop(d, ring, board, undefined, { fault_timeout_ms: 10_000, stale_state_ms: 300 });
  const step = async () => {
    loop.step(monotonicMs());
    await d.deactivate(); // the cycle this tick started is off the wire
    await sleep(10);
  };
  return { ring, buffer: new ActionBuffer(ring, { blend: 'replace' }), loop, step };
}

test('ALOHA control loop: a hold takes the measured joints, each gripper keeps its last command', async () => {
  const d = emulatedDriver({ bus: BUS, cycle_budget_ms: 240 });
  const gripperGoal = () => emu.rig.arms[0].servos.find((s) => s.id === 9)!.get(REG.goal_position);
  try {
    await d.configure();
    assert.equal(await d.activate(), undefined);
    const { ring, buffer, loop, step } = await loopOver(d);
    loop.begin();
    const action = holdingAction(loop.state);
    action[6] = action[13] = 1;
    const plan = (close: boolean) => {
      const a = new Float32Array(25 * 14);
      for (let r = 0; r < 25; r++) {
        a.set(action, r * 14);
        if (close) a[r * 14 + 6] = 0;
      }
      return { obs_tick: loop.tick, first_tick: loop.tick + 1, horizon: 25, dim: 14, actions: a, infer_ms: 0 };
    };
    buffer.insert(plan(false), loop.tick);
    for (let k = 0; k < 5; k++) await step();
    const open = gripperGoal();
    buffer.insert(plan(true), loop.tick); // close the left gripper: a tick later it still measures nearly open
    await step();
    const closed = gripperGoal();
    assert.ok(open - closed > 500, `goal ticks open ${open}, closed ${closed}`);
    Atomics.store(ring.header, 1, 1); // H_HOLD: the runtime asks the robot to hold
    await step();
    assert.equal(loop.ticker.source, 'hold');
    assert.equal(
      gripperGoal(),
      closed,
      'the hold kept the gripper closing rather than commanding the opening it measured',
    );
  } finally {
    await d.close();
  }
});

test('driver: 14 values at 50 Hz; a hardware alert latches, names the motor, no goal after it', async () => {
  // a cycle budget as generous as the bus timeouts with their retries: this test is about commands and
  // alerts, not timing (a loaded machine stalls this process, and with it the in-process emulator)
  // its own rig: a servo keeps its alarm until rebooted, and no other test should see this one's
  const rig = await DynamixelEmulator.start({ sim_link: false });
  const d = new AlohaSerialDriver({
    description: ALOHA,
    ports: rig.ports,
    calibration: SHIPPED(),
    bus: BUS,
    cycle_budget_ms: 240,
  });
  try {
    await d.configure();
    assert.equal(d.description.action_names.length, 14);
    let { state } = await cycle(d, null);
    const action = holdingAction(state);
    action[6] = action[13] = 1;
    action[7] = -0.3; // right waist
    for (let k = 0; k < 40; k++) {
      const r = await cycle(d, action);
      assert.equal(r.health, 'ok', d.problem());
      state = r.state;
      await sleep(10);
    }
    assert.ok(Math.abs(state.position_rad[6] - -0.3) < 0.05, `right waist at ${state.position_rad[6]}`);
    rig.alarm('left', 4, 0x20);
    const alarmed = await cycle(d, action);
    assert.equal(alarmed.health, 'hardware_alert');
    assert.match(d.problem(), /left follower: hardware alert on ID 4 \(elbow\): overload/);
    const hint = `vla-calibrate --robot aloha --ports left=${rig.ports.left} --reboot`;
    assert.ok(d.problem().includes(hint), `the fault says how to clear it: ${d.problem()}`);
    // latched: a new target is not sent, the arm holds
    const held = alarmed.state.position_rad[6];
    action[7] = 0.3;
    let last = alarmed.state;
    for (let k = 0; k < 10; k++) {
      last = (await cycle(d, action)).state;
      await sleep(10);
    }
    assert.ok(Math.abs(last.position_rad[6] - held) < 0.02, 'no motion after the alert');
    assert.equal(d.counters().hardware_alerts, 1);
    // a read that fails after the alert (here the right arm falls silent) does not hide the cause or its fix
    const timeouts = d.counters().right_timeouts;
    rig.setFaults({ silent_ids: { right: [1, 2, 3, 4, 5, 6, 7, 8, 9] } });
    assert.equal((await cycle(d, action)).health, 'hardware_alert');
    assert.ok(d.counters().right_timeouts > timeouts, 'the silent arm was seen');
    assert.ok(d.problem().includes(hint), `the alert stays the cause: ${d.problem()}`);
    assert.match((await d.activate()) ?? '', /^hardware_alert: left follower: hardware alert on ID 4 \(elbow\)/);
  } finally {
    await d.close();
    await rig.stop();
  }
});

test(
  'driver: a cycle that cannot finish in its tick is late ' +
    '(no new state, reported), and nothing late is used after',
  async () => {
    const d = emulatedDriver();
    try {
      await d.configure();
      const before = (await cycle(d, null)).state.t_mono_ms;
      emu.setFaults({ reply_delay_ms: 40 });
      for (let k = 0; k < 5; k++) {
        const r = await cycle(d, null);
        assert.equal(r.health, 'late');
        assert.equal(r.state.t_mono_ms, before, 'no state from a late cycle');
        await sleep(10);
      }
      assert.equal(d.late_ticks, 5);
      assert.match(
        d.problem(),
        /follower: no reply from IDs 1, 2, 3, 4, 5, 6, 7, 8, 9 to SYNC_READ Present_Position within its/,
      );
      await sleep(100); // the delayed replies arrive (and are dropped) before the delay knob changes
      emu.setFaults({ reply_delay_ms: 0 });
      // a few tries: on a loaded machine any one cycle may miss its 18 ms budget for reasons of its own
      let fresh = before;
      for (let k = 0; k < 5 && fresh === before; k++) fresh = (await cycle(d, null)).state.t_mono_ms;
      assert.ok(fresh > before, 'a complete read hands out state again');
      const counters = Object.values(d.busCounters());
      assert.ok(
        counters.every((c) => c.stale_replies >= 9 * 5 - 9 && c.deadline_misses >= 5),
        JSON.stringify(counters),
      );
    } finally {
      emu.setFaults({ reply_delay_ms: 0 });
      await d.close();
    }
  },
);

test(
  'connect: EEPROM written only where it differs, torque never ' +
    'switched off unless allowed, torque on without a jump',
  async () => {
    const rig = await DynamixelEmulator.start({ sim_link: false }); // factory-fresh servos: torque off
    const shipped = { left: emulatorCalibration('left'), right: emulatorCalibration('right') };
    const connectOnce = async (calibration = shipped, allow_torque_off = false) => {
      const d = new AlohaSerialDriver({
        description: ALOHA,
        ports: rig.ports,
        calibration,
        bus: BUS,
        allow_torque_off,
      });
      try {
        await d.configure();
        return d.configuration;
      } finally {
        await d.close();
      }
    };
    const sum = (k: 'eeprom_writes' | 'torque_off_writes') => rig.counters().left[k] + rig.counters().right[k];
    try {
      // 1. factory registers differ, but torque is already off: written, nothing switched off
      const first = await connectOnce();
      assert.ok(
        first.every((a) => a.eeprom_writes > 0 && a.torque_off_ids.length === 0),
        JSON.stringify(first),
      );
      assert.equal(sum('torque_off_writes'), 0);
      // 2. the normal run: registers match the shipped calibration, so not one EEPROM write; torque stays on
      const eepromBefore = sum('eeprom_writes');
      const second = await connectOnce();
      assert.deepEqual(
        second.map((a) => a.eeprom_writes),
        [0, 0],
      );
      assert.equal(sum('eeprom_writes'), eepromBefore);
      assert.equal(sum('torque_off_writes'), 0);
      // 3. a calibration that differs while torque is on: refused, naming arm, motor and register; nothing written
      const moved = JSON.parse(JSON.stringify(shipped)) as typeof shipped;
      moved.right.gripper.homing_offset += 10;
      await assert.rejects(
        connectOnce(moved),
        (err: Error) =>
          err instanceof DriverSetupError &&
          /right follower on \S+: ID 9 \(gripper\) Homing_Offset is -?\d+, the calibration needs -?\d+/.test(
            err.message,
          ) &&
          /would drop the arm.*--allow-torque-off/.test(err.message) &&
          !/left follower/.test(err.message),
      );
      assert.equal(sum('eeprom_writes'), eepromBefore, 'nothing written');
      assert.equal(sum('torque_off_writes'), 0, 'torque never switched off');
      assert.ok(
        rig.rig.arms.every((a) => a.servos.every((s) => s.torqueOn)),
        'the arms still hold themselves',
      );
      // 4. with --allow-torque-off (the user rested the arm): only that motor goes off, only that register is written
      const allowed = await connectOnce(moved, true);
      assert.deepEqual(
        allowed.map((a) => [a.eeprom_writes, a.torque_off_ids]),
        [
          [0, []],
          [1, [9]],
        ],
      );
      assert.equal(sum('torque_off_writes'), 1);
      await connectOnce(shipped, true); // put it back
      // torque came on every time with each goal at the present position
      for (const side of ['left', 'right'] as const)
        assert.equal(rig.counters()[side].max_goal_jump_at_torque_on_ticks, 0, side);
    } finally {
      await rig.stop();
    }
  },
);

test('torque on holds exactly where a motor is, even outside the calibrated range (no clamp, no jump)', async () => {
  const narrow = emulatorCalibration('right');
  const arm = await AlohaArm.open({ side: 'right', port: emu.ports.right, calibration: narrow, bus: BUS });
  try {
    await arm.configure({ allow_torque_off: true }); // the emulated arm rests where it is
    const waist = (await arm.read()).ticks[0];
    // the calibrated travel of the waist now starts 200 ticks past where the waist rests
    narrow.waist.range_min = waist + 200;
    narrow.waist.range_max = waist + 400;
    await arm.setTorque(false);
    const servo = emu.rig.arms[1].servos[0];
    await arm.setTorque(true);
    assert.equal(servo.counters.max_goal_jump_at_torque_on_ticks, 0, 'goal = present when torque came on');
  } finally {
    await arm.setTorque(false);
    await arm.close();
  }
});
