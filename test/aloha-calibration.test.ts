import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import {
  type ArmCalibration,
  builtinAlohaCalibrationPath,
  CalibrationError,
  loadArmCalibration,
  validateArmCalibration,
  writeArmCalibrationAtomic,
} from '../calibration/motor-calibration.js';
import { DynamixelBus } from '../drivers/dynamixel/bus.js';
import { alohaMotors } from '../protocols/aloha/motor-map.js';
import { REG } from '../protocols/dynamixel/control-table.js';
import { emulatorCalibration } from '../sim/dynamixel/aloha-rig.js';

const MOTORS = alohaMotors('follower');
const BIN = resolve(import.meta.dirname, '../../bin');
const copy = (c: ArmCalibration): ArmCalibration => JSON.parse(JSON.stringify(c)) as ArmCalibration;

test('the shipped calibration files are valid and match the emulated arms exactly', async () => {
  for (const side of ['left', 'right'] as const) {
    const cal = await loadArmCalibration(builtinAlohaCalibrationPath(side), MOTORS);
    assert.deepEqual(cal, emulatorCalibration(side));
    assert.deepEqual(
      Object.keys(cal),
      MOTORS.map((m) => m.name),
    );
    assert.deepEqual(Object.keys(cal.elbow), ['id', 'drive_mode', 'homing_offset', 'range_min', 'range_max']);
  }
});

test('out-of-range values are refused, naming every bad motor and field', () => {
  const cal = copy(emulatorCalibration('left'));
  cal.elbow.homing_offset = 2_000_000;
  cal.gripper.range_max = 5000;
  cal.waist.range_min = cal.waist.range_max;
  (cal.wrist_rotate as { drive_mode: number }).drive_mode = 2;
  assert.throws(
    () => validateArmCalibration(cal, MOTORS, 'left.json'),
    (err: Error) => {
      assert.ok(err instanceof CalibrationError);
      for (const want of [
        /^left\.json: invalid calibration/,
        /motor 'elbow' \(ID 4\): homing_offset: Too big/,
        /motor 'gripper' \(ID 9\): range_max/,
        /motor 'waist' \(ID 1\): range_min: must be below range_max/,
        /motor 'wrist_rotate' \(ID 8\): drive_mode/,
      ])
        assert.match(err.message, want);
      assert.doesNotMatch(err.message, /shoulder/);
      return true;
    },
  );
  const frac = copy(emulatorCalibration('left'));
  frac.shoulder.range_min = 10.5;
  assert.throws(() => validateArmCalibration(frac, MOTORS, 'x'), /motor 'shoulder' \(ID 2\): range_min/);
});

test('missing, unknown and misnumbered motors are refused by name', () => {
  const cal = copy(emulatorCalibration('right')) as Record<string, unknown>;
  delete cal.gripper;
  delete cal.elbow_shadow;
  cal.wrist_twist = { id: 10, drive_mode: 0, homing_offset: 0, range_min: 0, range_max: 4095 };
  (cal.elbow as { id: number }).id = 5;
  assert.throws(
    () => validateArmCalibration(cal, MOTORS, 'right.json'),
    (err: Error) =>
      /missing motors: elbow_shadow, gripper/.test(err.message) &&
      /unknown motor: wrist_twist/.test(err.message) &&
      /motor 'elbow': id is 5, this arm has it at ID 4/.test(err.message),
  );
  assert.throws(() => validateArmCalibration([], MOTORS, 'a.json'), /must be a JSON object of motors \(got an array\)/);
});

test('files: unreadable or not JSON is a clear error; writes are atomic, never a bad calibration', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cal-'));
  try {
    await assert.rejects(
      loadArmCalibration(join(dir, 'none.json'), MOTORS),
      /none\.json: cannot read calibration \(ENOENT\)/,
    );
    await writeFile(join(dir, 'bad.json'), '{ "waist": ');
    await assert.rejects(loadArmCalibration(join(dir, 'bad.json'), MOTORS), /bad\.json: not valid JSON/);
    const file = join(dir, 'left_follower.json');
    await writeArmCalibrationAtomic(file, emulatorCalibration('left'), MOTORS);
    const before = await readFile(file, 'utf8');
    assert.deepEqual(JSON.parse(before), emulatorCalibration('left'));
    const bad = copy(emulatorCalibration('left'));
    bad.elbow.range_max = -1;
    await assert.rejects(writeArmCalibrationAtomic(file, bad, MOTORS), /motor 'elbow'/);
    assert.equal(await readFile(file, 'utf8'), before, 'a refused calibration leaves the old file');
    assert.deepEqual((await readdir(dir)).sort(), ['bad.json', 'left_follower.json'], 'no temporary files left behind');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('vla-calibrate --yes against the emulator writes both arms; bad ports exit 2 before anything moves', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cal-'));
  const emu = spawn(
    process.execPath,
    [join(BIN, 'vla-sim.js'), 'dynamixel', '--robot', 'aloha', '--json', '--no-sim-link'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise((r) => emu.once('exit', r));
  try {
    const line = await new Promise<string>((res, rej) => {
      createInterface({ input: emu.stdout! }).once('line', res);
      emu.once('exit', (code) => rej(new Error(`emulator exited with ${code}`)));
    });
    const { ports } = JSON.parse(line) as { ports: { left: string; right: string } };
    const cal = spawnSync(
      process.execPath,
      [
        join(BIN, 'vla-calibrate.js'),
        '--robot',
        'aloha',
        '--ports',
        `left=${ports.left},right=${ports.right}`,
        '--yes',
        '--json',
        '--out',
        dir,
        '--timeout-ms',
        '60',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(cal.status, 0, cal.stderr);
    const out = JSON.parse(cal.stdout) as { files: Record<string, string> };
    for (const side of ['left', 'right'] as const) {
      const got = await loadArmCalibration(out.files[side], MOTORS);
      const exact = emulatorCalibration(side);
      for (const m of MOTORS) {
        assert.equal(got[m.name].drive_mode, exact[m.name].drive_mode);
        assert.ok(
          Math.abs(got[m.name].homing_offset - exact[m.name].homing_offset) <= 4,
          `${side} ${m.name}: ${got[m.name].homing_offset} vs ${exact[m.name].homing_offset}`,
        );
        assert.ok(
          got[m.name].range_min <= exact[m.name].range_min + 4 && got[m.name].range_max >= exact[m.name].range_max - 4,
        );
      }
    }
    const noPort = spawnSync(
      process.execPath,
      [
        join(BIN, 'vla-calibrate.js'),
        '--robot',
        'aloha',
        '--ports',
        `left=${ports.left},right=/dev/no-such-tty`,
        '--yes',
        '--out',
        join(dir, 'x'),
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(noPort.status, 2, noPort.stderr);
    assert.match(noPort.stderr, /right follower: cannot open serial port \/dev\/no-such-tty/);
    assert.deepEqual(
      (await readdir(dir)).sort(),
      ['left_follower.json', 'right_follower.json'],
      'nothing written for the failed run',
    );
    const badArg = spawnSync(
      process.execPath,
      [join(BIN, 'vla-calibrate.js'), '--robot', 'aloha', '--ports', 'middle=/dev/x'],
      { encoding: 'utf8' },
    );
    assert.equal(badArg.status, 2);
    assert.match(badArg.stderr, /unknown arm 'middle' \(valid: left, right\)/);
  } finally {
    emu.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
});

test('vla-calibrate never drops a holding arm: torque goes off only after the user supports it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cal-'));
  const emu = spawn(
    process.execPath,
    [join(BIN, 'vla-sim.js'), 'dynamixel', '--robot', 'aloha', '--json', '--no-sim-link'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise((r) => emu.once('exit', r));
  try {
    const line = await new Promise<string>((res, rej) => {
      createInterface({ input: emu.stdout! }).once('line', res);
      emu.once('exit', (code) => rej(new Error(`emulator exited with ${code}`)));
    });
    const { ports } = JSON.parse(line) as { ports: { left: string; right: string } };
    const torque = async (value?: 0 | 1): Promise<number[]> => {
      const bus = await DynamixelBus.open({ path: ports.left, name: 'left arm', timeout_ms: 60 });
      try {
        if (value !== undefined) for (const m of MOTORS) await bus.writeRegister(m.id, REG.torque_enable, value);
        const out: number[] = [];
        for (const m of MOTORS) out.push(await bus.readRegister(m.id, REG.torque_enable));
        return out;
      } finally {
        await bus.close();
      }
    };
    assert.deepEqual(
      await torque(1),
      MOTORS.map(() => 1),
      'the arm holds itself',
    );
    const args = [
      join(BIN, 'vla-calibrate.js'),
      '--robot',
      'aloha',
      '--ports',
      `left=${ports.left}`,
      '--out',
      dir,
      '--timeout-ms',
      '60',
    ];
    // nobody confirms (stdin closed): the tool stops at the instruction, before any torque goes off
    const unconfirmed = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 30_000, input: '' });
    assert.equal(unconfirmed.status, 2, unconfirmed.stderr);
    assert.match(
      unconfirmed.stderr,
      /Torque is on for 9 motors of the left arm \(ID 1 waist, .*ID 9 gripper\) and goes OFF next: the arm will drop/,
    );
    assert.match(unconfirmed.stderr, /stdin closed before every step was confirmed/);
    assert.deepEqual(
      await torque(),
      MOTORS.map(() => 1),
      'torque still on: nothing dropped',
    );
    // --yes (the arm rests): the instruction is still printed, then torque goes off
    const yes = spawnSync(process.execPath, [...args, '--yes'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(yes.status, 0, yes.stderr);
    assert.match(yes.stderr, /goes OFF next: the arm will drop unless it rests on its stops.*\(--yes: accepted\)/);
    assert.deepEqual(
      await torque(),
      MOTORS.map(() => 0),
    );
  } finally {
    emu.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
});
