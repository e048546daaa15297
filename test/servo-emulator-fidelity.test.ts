// The emulated X-series servos against what the ROBOTIS e-Manual says real ones do, over a real
// pseudo-terminal: the test drives them with the project's bus (and raw packets where the bus has no
// instruction), the emulator answers through its ServoChain exactly as `vla-sim dynamixel` does.
// Expected values are the e-Manual's published numbers, written out here, not read from the emulator.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DynamixelBus } from '../drivers/dynamixel/bus.js';
import { SerialLink } from '../drivers/dynamixel/serial-link.js';
import { REG, type Register } from '../protocols/dynamixel/control-table.js';
import { PacketFramer } from '../protocols/dynamixel/framer.js';
import { InstructionWriter } from '../protocols/dynamixel/instructions.js';
import { BROADCAST_ID, decodeFastSyncStatus, type Packet } from '../protocols/dynamixel/packet.js';
import { FaultKnobsSchema } from '../protocols/sim-link/fault-knobs.js';
import { createPtyPair, type PtyPair } from '../sim/dynamixel/pty-pair.js';
import { BOOT_TIME_MS, EmulatedServo } from '../sim/dynamixel/servo.js';
import { ServoChain } from '../sim/dynamixel/servo-chain.js';

const XM540 = 1; // the ALOHA follower's joints
const XM430 = 8; // its wrist_rotate and gripper
const XL430 = 20; // the leader's small motors
let dir: string;
let pair: PtyPair;
let servos: EmulatedServo[];
let bus: DynamixelBus;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-servo-'));
  pair = await createPtyPair(dir, 'bus');
  servos = [
    new EmulatedServo({ id: XM540, model: 'XM540-W270' }),
    new EmulatedServo({ id: XM430, model: 'XM430-W350' }),
    new EmulatedServo({ id: XL430, model: 'XL430-W250' }),
  ];
  const faults = FaultKnobsSchema.parse({});
  const chain = new ServoChain(
    'bus',
    servos,
    () => faults,
    (b) => pair.write(b),
  );
  const framer = new PacketFramer((p) => {
    if (p.instruction !== 0x55) chain.handle(p);
  });
  pair.onData((d) => framer.push(d));
  bus = await DynamixelBus.open({ path: pair.user_path, name: 'test bus', timeout_ms: 40, retries: 1 });
});

after(async () => {
  await bus?.close();
  await pair?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Send one raw packet on its own link and collect the packets that come back within `wait_ms`. */
async function exchange(packet: Uint8Array, wait_ms = 60): Promise<Packet[]> {
  // the bus holds the port's lock: lend the line to a raw link for one exchange
  await bus.close();
  const link = await SerialLink.open('raw', pair.user_path, 1_000_000);
  const got: Packet[] = [];
  const framer = new PacketFramer((p) => got.push({ ...p, data: p.data.slice() }));
  link.listen({ bytes: (b, n) => framer.push(b, n), closed: () => {} });
  link.write(packet);
  await new Promise((r) => setTimeout(r, wait_ms));
  await new Promise<void>((r) => link.close(() => r()));
  bus = await DynamixelBus.open({ path: pair.user_path, name: 'test bus', timeout_ms: 40, retries: 1 });
  return got;
}

const refused = (what: RegExp) => (e: Error) => what.test(e.message);

test('defaults read as on real servos, per model (not 0)', async () => {
  const expect: [number, Register, number][] = [
    [XM540, REG.status_return_level, 2],
    [XM540, REG.current_limit, 2047],
    [XM540, REG.goal_current, 2047],
    [XM540, REG.max_voltage_limit, 160],
    [XM540, REG.min_voltage_limit, 95],
    [XM540, REG.temperature_limit, 80],
    [XM540, REG.velocity_i_gain, 1920],
    [XM540, REG.velocity_p_gain, 100],
    [XM540, REG.position_p_gain, 800],
    [XM540, REG.pwm_limit, 885],
    [XM540, REG.shutdown, 52],
    [XM540, REG.velocity_limit, 128],
    [XM430, REG.current_limit, 1193],
    [XM430, REG.goal_current, 1193],
    [XM430, REG.velocity_limit, 200],
    [XL430, REG.max_voltage_limit, 140],
    [XL430, REG.min_voltage_limit, 60],
    [XL430, REG.temperature_limit, 72],
    [XL430, REG.position_d_gain, 4000],
    [XL430, REG.position_p_gain, 640],
    [XL430, REG.velocity_limit, 265],
  ];
  for (const [id, reg, want] of expect) assert.equal(await bus.readRegister(id, reg), want, `ID ${id} ${reg.name}`);
  const volts = await bus.readRegister(XM540, REG.present_input_voltage);
  assert.ok(volts >= 95 && volts <= 160, `input voltage ${volts / 10} V within the limits`);
  const temp = await bus.readRegister(XM540, REG.present_temperature);
  assert.ok(temp > 0 && temp < 80, `temperature ${temp} °C`);
});

test('the whole table reads, up to its real end (662, Indirect Data 56, on XM and XL430), and no further', async () => {
  const xm = await bus.read(XM540, 0, 662);
  assert.equal(xm.length, 662);
  assert.equal(xm[0] | (xm[1] << 8), 1120, 'Model_Number of an XM540-W270');
  const xl = await bus.read(XL430, 0, 662);
  assert.equal(xl.length, 662);
  assert.equal(xl[578] | (xl[579] << 8), 634, 'Indirect_Address 29 of an XL430-W250 points at Indirect_Data 29');
  await assert.rejects(bus.read(XM540, 660, 4), refused(/data range error/));
  await assert.rejects(bus.read(XL430, 660, 4), refused(/data range error/));
  const t0 = await bus.readRegister(XM540, REG.realtime_tick);
  await new Promise((r) => setTimeout(r, 30));
  const t1 = await bus.readRegister(XM540, REG.realtime_tick);
  assert.ok((t1 - t0 + 32_768) % 32_768 >= 25, `Realtime_Tick counts milliseconds (${t0} -> ${t1})`);
});

test('indirect addressing: Indirect_Data n reads and writes the byte Indirect_Address n names', async () => {
  // Indirect_Address 1..4 at 168.. point at Goal_Position (116..119); Indirect_Data 1..4 are 224..227
  for (let i = 0; i < 4; i++) await bus.write(XM430, 168 + 2 * i, [116 + i, 0]);
  await bus.writeRegister(XM430, REG.operating_mode, 4); // extended position: no position limits
  await bus.writeRegister(XM430, REG.goal_position, 0x0a0304);
  assert.deepEqual([...(await bus.read(XM430, 224, 4))], [4, 3, 0x0a, 0]);
  await bus.write(XM430, 224, [0x10, 0x08, 0, 0]);
  assert.equal(await bus.readRegister(XM430, REG.goal_position), 0x0810);
  // block 2 (Indirect_Address 29 at 578, Indirect_Data 29 at 634) exists on the XM
  await bus.writeRegister(XM430, REG.led, 1);
  await bus.write(XM430, 578, [REG.led.address, 0]);
  assert.deepEqual([...(await bus.read(XM430, 634, 1))], [1], 'Indirect_Data 29 reads LED (address 65)');
  await bus.writeRegister(XM430, REG.led, 0);
  await assert.rejects(bus.write(XM430, 578, [7, 0]), refused(/data range error/), 'ID is EEPROM: out of its range');
  await bus.write(XM430, 168, [69, 0]); // Registered_Instruction: read-only
  await assert.rejects(bus.write(XM430, 224, [1]), refused(/access error/), 'a read-only target');
});

test('a write that covers a register in part is a data length error, and writes nothing', async () => {
  await bus.writeRegister(XM540, REG.operating_mode, 4); // extended position: no position limits
  await bus.writeRegister(XM540, REG.goal_position, 3000);
  await assert.rejects(bus.write(XM540, REG.goal_position.address, [0x10, 0x27]), refused(/data length error/));
  await assert.rejects(bus.write(XM540, REG.goal_position.address + 1, [0, 0, 0]), refused(/data length error/));
  await assert.rejects(bus.write(XM540, REG.homing_offset.address, [1]), refused(/data length error/));
  assert.equal(await bus.readRegister(XM540, REG.goal_position), 3000, 'nothing written');
  // whole registers back to back are fine (Profile_Acceleration and Profile_Velocity in one write)
  await bus.write(XM540, REG.profile_acceleration.address, [5, 0, 0, 0, 9, 0, 0, 0]);
  assert.equal(await bus.readRegister(XM540, REG.profile_velocity), 9);
});

test('out of published range: data range error; a goal past its limit: data limit error', async () => {
  await assert.rejects(bus.writeRegister(XM540, REG.return_delay_time, 255), refused(/data range error/));
  await bus.writeRegister(XM540, REG.return_delay_time, 254);
  assert.equal(await bus.readRegister(XM540, REG.return_delay_time), 254);
  await bus.writeRegister(XM540, REG.return_delay_time, 0);
  await assert.rejects(bus.writeRegister(XM540, REG.operating_mode, 2), refused(/data range error/));
  await assert.rejects(bus.writeRegister(XL430, REG.operating_mode, 0), refused(/data range error/), 'no current');
  await assert.rejects(bus.writeRegister(XM540, REG.status_return_level, 3), refused(/data range error/));
  await assert.rejects(bus.writeRegister(XM540, REG.id, 253), refused(/data range error/));
  await assert.rejects(bus.writeRegister(XM430, REG.current_limit, 1194), refused(/data range error/));
  await assert.rejects(bus.writeRegister(XM540, REG.max_voltage_limit, 170), refused(/data range error/));
  await assert.rejects(bus.writeRegister(XM540, REG.position_p_gain, 16_384), refused(/data range error/));
  await assert.rejects(bus.writeRegister(XM540, REG.torque_enable, 2), refused(/data range error/));
  await assert.rejects(bus.writeRegister(XM430, REG.goal_current, 1194), refused(/data limit error/));
  await assert.rejects(bus.writeRegister(XM430, REG.goal_current, -1194 & 0xffff), refused(/data limit error/));
  await bus.writeRegister(XM430, REG.goal_current, -500 & 0xffff);
  assert.equal(await bus.readRegister(XM430, REG.goal_current), 65_036, '-500 as an unsigned 16-bit read');
  await assert.rejects(bus.writeRegister(XM430, REG.goal_pwm, 886), refused(/data limit error/));
  // a goal past Max_Position_Limit is refused, and counted as the soak's outside check of out-of-limit commands
  const refusedBefore = servos[0].counters.goal_limit_errors;
  const writesBefore = servos[0].counters.goal_writes;
  await bus.writeRegister(XM540, REG.operating_mode, 3); // position mode: the limits apply
  await bus.writeRegister(XM540, REG.max_position_limit, 3000);
  await assert.rejects(bus.writeRegister(XM540, REG.goal_position, 3001), refused(/data limit error/));
  await bus.writeRegister(XM540, REG.goal_position, 3000);
  assert.equal(servos[0].counters.goal_limit_errors, refusedBefore + 1);
  assert.equal(servos[0].counters.goal_writes, writesBefore + 1, 'only the goal within its limit was taken');
  await bus.writeRegister(XM540, REG.max_position_limit, 4095);
  await bus.writeRegister(XM540, REG.operating_mode, 4);
});

test('Status_Return_Level: 1 answers reads and pings only, 0 pings only; writes are still applied', async () => {
  const id = XM430;
  // broadcast: no answer is awaited (a servo answers by the level it has after the write)
  await bus.write(BROADCAST_ID, REG.status_return_level.address, [1]);
  await assert.rejects(bus.writeRegister(id, REG.led, 1), /no reply|timed out|timeout/i, 'a WRITE gets no answer');
  assert.equal(await bus.readRegister(id, REG.led), 1, 'but it was applied, and a READ is answered');
  await bus.write(BROADCAST_ID, REG.status_return_level.address, [0]);
  await assert.rejects(bus.readRegister(id, REG.led), /no reply|timed out|timeout/i, 'level 0: no READ answer');
  assert.equal((await bus.ping(id)).model_number, 1020, 'a PING is always answered');
  await bus.write(BROADCAST_ID, REG.status_return_level.address, [2]);
  await bus.writeRegister(id, REG.led, 0);
});

test('REBOOT: answered, silent while booting, then alarm cleared, torque off, RAM defaults, EEPROM kept', async () => {
  const id = XM540;
  const servo = servos[0];
  await bus.writeRegister(id, REG.homing_offset, 321); // EEPROM
  await bus.writeRegister(id, REG.position_p_gain, 500); // RAM
  await bus.writeRegister(id, REG.torque_enable, 1);
  servo.raiseHardwareError(0x20); // overload
  await bus.ping(id);
  assert.ok(bus.alerts.has(id));
  assert.equal(await bus.readRegister(id, REG.torque_enable), 0);
  await bus.reboot(id);
  const t0 = performance.now();
  await assert.rejects(bus.ping(id), /no reply|timed out|timeout/i, 'booting: no answer');
  await bus.waitForServo(id, 2000);
  const booted_ms = performance.now() - t0;
  assert.ok(booted_ms >= BOOT_TIME_MS * 0.5, `answers again after ${booted_ms.toFixed(0)} ms`);
  assert.equal(await bus.readRegister(id, REG.hardware_error_status), 0, 'alarm cleared');
  assert.equal(await bus.readRegister(id, REG.torque_enable), 0, 'torque off');
  assert.equal(await bus.readRegister(id, REG.position_p_gain), 800, 'RAM back to its default');
  assert.equal(await bus.readRegister(id, REG.status_return_level), 2);
  assert.equal(await bus.readRegister(id, REG.homing_offset), 321, 'EEPROM kept');
  const present = await bus.readRegister(id, REG.present_position);
  assert.ok(Math.abs((await bus.readRegister(id, REG.goal_position)) - present) <= 2, 'goal where the motor is');
  bus.clearAlert(id);
  await bus.ping(id);
  assert.equal(bus.alerts.has(id), false, 'no alert bit in its answers any more');
  await bus.writeRegister(id, REG.homing_offset, 0);
});

test('FAST_SYNC_READ (0x8A): one status packet from ID 0xFE, ERR|ID|data|CRC per servo', async () => {
  const w = new InstructionWriter();
  const ids = [XM540, XM430, XL430];
  const replies = await exchange(Buffer.from(w.fastSyncRead(REG.model_number.address, 2, ids)));
  assert.equal(replies.length, 1, 'one packet, not one per servo');
  const blocks = decodeFastSyncStatus(replies[0], 2);
  assert.ok(blocks, `packet of ${replies[0].data.length} data bytes`);
  assert.deepEqual(
    blocks.map((b) => [b.id, b.error, b.data[0] | (b.data[1] << 8)]),
    [
      [XM540, 0, 1120],
      [XM430, 0, 1020],
      [XL430, 0, 1060],
    ],
  );
  // Protocol 2.0 LEN: instruction + 3 x (ERR, ID, 2 data, CRC) = 1 + 3 * 6
  const raw = await exchange(Buffer.from(w.fastSyncRead(REG.model_number.address, 2, ids)));
  assert.equal(raw[0].id, BROADCAST_ID);
  assert.equal(raw[0].data.length + 1 /* ERR */ + 2 /* CRC */ + 1 /* instruction */, 19);
});
