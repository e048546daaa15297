// `vla-sim dynamixel` as a user runs it: a separate process, its ports and its sim link.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { DynamixelBus } from '../drivers/dynamixel/bus.js';
import { DynamixelStatusError } from '../drivers/dynamixel/errors.js';
import { REG } from '../protocols/dynamixel/control-table.js';
import { SimLinkClient } from '../protocols/sim-link/client.js';

const VLA_SIM = resolve(import.meta.dirname, '../../bin/vla-sim.js');
const BUS = { timeout_ms: 60, retries: 3 };

let emu: ChildProcess;
let exited: Promise<number | null>;
let ready: { ports: { left: string; right: string }; sim_link: string };
const stdoutLines: string[] = [];
let link: SimLinkClient;

before(async () => {
  emu = spawn(process.execPath, [VLA_SIM, 'dynamixel', '--robot', 'aloha', '--json', '--seed', '3'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((r) => emu.once('exit', (code) => r(code)));
  const lines = createInterface({ input: emu.stdout! });
  lines.on('line', (l) => stdoutLines.push(l));
  await new Promise<void>((res, rej) => {
    lines.once('line', () => res());
    emu.once('exit', (code) => rej(new Error(`emulator exited with ${code}`)));
  });
  ready = JSON.parse(stdoutLines[0]) as typeof ready;
  link = new SimLinkClient(ready.sim_link);
});

after(async () => {
  link?.close();
  if (emu.exitCode === null) emu.kill('SIGTERM');
  await exited;
});

test('--json prints one line with a pty per arm and the sim link address', () => {
  assert.equal(stdoutLines.length, 1);
  assert.deepEqual(Object.keys(ready), ['ports', 'sim_link']);
  assert.match(ready.ports.left, /^\/dev\/pts\/\d+$/);
  assert.match(ready.ports.right, /^\/dev\/pts\/\d+$/);
  assert.notEqual(ready.ports.left, ready.ports.right);
  assert.match(ready.sim_link, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  const r = spawnSync(process.execPath, [VLA_SIM, 'dynamixel', '--robot', 'ur5'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /emulates ALOHA only/);
});

test(
  'control-table semantics: shadows obey their Secondary_ID, read-only, range and limit errors, drive mode and ' +
    'homing offset',
  async () => {
    const bus = await DynamixelBus.open({ path: ready.ports.left, name: 'left arm', ...BUS });
    try {
      // factory state: position mode, goal limited to 0..4095
      await assert.rejects(
        bus.writeRegister(2, REG.goal_position, 5000),
        (e: Error) => e instanceof DynamixelStatusError && /ID 2 refused .*data limit error/.test(e.message),
      );
      await bus.writeRegister(2, REG.goal_position, 2100);
      assert.equal(
        await bus.readRegister(3, REG.goal_position),
        2100,
        'the shadow (ID 3, Secondary_ID 2) took the goal',
      );
      assert.equal(await bus.readRegister(3, REG.secondary_id), 2);
      assert.equal(await bus.readRegister(1, REG.secondary_id), 255);
      await bus.syncWrite(REG.goal_position, [4], [1900]);
      assert.equal(await bus.readRegister(5, REG.goal_position), 1900, 'SYNC_WRITE reaches the shadow too');
      await assert.rejects(bus.writeRegister(1, REG.present_position, 0), /ID 1 refused .*access error/);
      await assert.rejects(bus.write(1, 658, [1, 2, 3, 4, 5, 6, 7, 8]), /data range error/, 'past the end (662)');
      assert.equal(await bus.readRegister(9, REG.baud_rate), 3, '1 Mbps');
      // drive mode and homing offset act on Present_Position at once
      const p0 = await bus.readRegister(1, REG.present_position);
      await bus.writeRegister(1, REG.homing_offset, 100);
      assert.ok(Math.abs((await bus.readRegister(1, REG.present_position)) - (p0 + 100)) <= 2);
      await bus.writeRegister(1, REG.drive_mode, 1);
      assert.ok(Math.abs((await bus.readRegister(1, REG.present_position)) - (-p0 + 100)) <= 2);
      await bus.writeRegister(1, REG.drive_mode, 0);
      await bus.writeRegister(1, REG.homing_offset, 0);
    } finally {
      await bus.close();
    }
  },
);

test('sim link: hello, status with the task state, reset with a seed, camera frames', async () => {
  const hello = await link.hello();
  assert.equal(hello.robot, 'aloha');
  assert.equal(hello.task, 'transfer-cube');
  assert.deepEqual(hello.cameras, ['top', 'left_wrist', 'right_wrist']);
  const s1 = await link.status();
  assert.ok(s1.tick > 0, 'the sim runs on its own clock');
  assert.equal(s1.success, false);
  const cube3 = (s1.task_state as { objects: { cube: { pos: number[] } } }).objects.cube.pos;
  await link.reset(8);
  const s2 = await link.status();
  assert.ok(s2.tick < s1.tick + 5);
  assert.notDeepEqual(
    (s2.task_state as { objects: { cube: { pos: number[] } } }).objects.cube.pos.slice(0, 2),
    cube3.slice(0, 2),
    'another seed places the cube elsewhere',
  );
  const f = await link.frame('top', 32);
  assert.equal(f.width, 32);
  assert.equal(f.rgb.length, 32 * 32 * 3);
  assert.ok(new Set(f.rgb).size > 10, 'an image, not a blank');
  await assert.rejects(link.frame('belly', 32), /no camera 'belly' \(valid: top, left_wrist, right_wrist\)/);
  await assert.rejects(link.reset(-1), /bad request: seed/);
});

test('fault knobs over the sim link: CRC corruption and hardware alarms reach the bus', async () => {
  const bus = await DynamixelBus.open({ path: ready.ports.right, name: 'right arm', ...BUS, retries: 6 });
  try {
    await link.setFaults({ crc_error_rate: 0.5 });
    for (let i = 0; i < 10; i++) await bus.readRegister(7, REG.present_position);
    assert.ok(bus.counters.crc_errors > 0 && bus.counters.retries > 0, JSON.stringify(bus.counters));
    const f = await link.setFaults({ crc_error_rate: 0 });
    assert.equal(f.faults.crc_error_rate, 0);
    await link.alarm('right', 7, 0x04);
    await bus.ping(7);
    assert.ok(bus.alerts.has(7) && bus.counters.hardware_alerts >= 1);
    assert.equal(await bus.readRegister(7, REG.hardware_error_status), 0x04);
    assert.equal(await bus.readRegister(7, REG.torque_enable), 0, 'an alarm switches torque off');
    await bus.writeRegister(7, REG.torque_enable, 1);
    assert.equal(await bus.readRegister(7, REG.torque_enable), 0, 'and keeps it off');
  } finally {
    await bus.close();
  }
});

test('SIGTERM stops the emulator cleanly and removes its pseudo-terminals', async () => {
  emu.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.equal(existsSync(join(ready.ports.left)), false);
});
