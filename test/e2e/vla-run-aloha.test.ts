// vla-run --ports end to end: the runtime (ring, buffer, trigger, safety, control thread) drives the
// Dynamixel emulator through the real AlohaSerialDriver over pseudo-terminals, with episodes, success
// and task state over the emulator's sim link. Both run as a user runs them: separate processes.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { builtinAlohaCalibrationPath } from '../../calibration/motor-calibration.js';
import { SimLinkClient } from '../../protocols/sim-link/client.js';
import { writeTestPolicy } from '../../src/policy/onnx/model-writer.js';
import { assertRefusedStdout } from '../fixtures/cli.js';
import { type VlaRunChild, vlaRunChild } from './vla-run-child.js';

const BIN = resolve(import.meta.dirname, '../../../bin');
const OVERLOAD_BITS = 0x20;

let emu: ChildProcess;
let exited: Promise<number | null>;
let ready: { ports: { left: string; right: string }; sim_link: string };
let link: SimLinkClient;

const vlaRun = (...args: string[]): VlaRunChild => vlaRunChild(args, 60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const portsArg = (left = ready.ports.left, right = ready.ports.right) => `left=${left},right=${right}`;
/** vla-run's flags for the emulated rig: both arms on their ports, and the sim link. */
const overSerial = () => ['--robot', 'aloha', '--ports', portsArg(), '--sim-link', ready.sim_link];

before(async () => {
  emu = spawn(process.execPath, [join(BIN, 'vla-sim.js'), 'dynamixel', '--robot', 'aloha', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((r) => emu.once('exit', (code) => r(code)));
  const lines = createInterface({ input: emu.stdout! });
  const first = await new Promise<string>((res, rej) => {
    lines.once('line', res);
    emu.once('exit', (code) => rej(new Error(`emulator exited with ${code}`)));
  });
  ready = JSON.parse(first) as typeof ready;
  link = new SimLinkClient(ready.sim_link);
});

after(async () => {
  link?.close();
  if (emu.exitCode === null) emu.kill('SIGTERM');
  await exited;
});

/** Buffer kept beyond the expected delay (ticks): covers a host stall of ~200 ms, which a shared CI machine shows. */
const MARGIN = '10';

test('the scripted expert over serial: both episodes succeed, 0 underruns, nothing but timing holds', async () => {
  const r = await vlaRun(...overSerial(), '--policy', 'expert', '--episodes', '2', '--margin', MARGIN, '--json').done;
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.sim, true, 'the emulator is a simulated rig');
  assert.equal(s.task, 'transfer-cube');
  assert.equal(s.episodes, 2);
  const why = JSON.stringify({
    episodes: s.episodes_detail,
    control: s.control,
    buffer: s.buffer,
    driver: s.driver,
    inference: s.inference,
  });
  assert.equal(s.successes, 2, why);
  assert.equal(
    s.control.underruns,
    0,
    `the buffer ran dry (overruns and jitter show whether the host stalled the loop): ${why}`,
  );
  assert.equal(s.driver.kind, 'aloha');
  assert.deepEqual(s.driver.ports, ready.ports);
  assert.equal(s.driver.faults.io_faults, 0, why);
  assert.equal(s.driver.faults.hardware_alerts, 0, why);
  // a cycle that cannot finish inside its tick (this shared machine stalled the emulator or the loop)
  // holds until a complete read, and the episode still succeeds; nothing but timing may hold. How often
  // cycles are late is a benchmark figure (bench/dynamixel-bench.ts), not something a test can promise.
  assert.deepEqual(
    Object.keys(s.holds.by_health).filter((k) => k !== 'late' && k !== 'stale'),
    [],
    why,
  );
});

test('--policy tick-stamp over serial: no action executed at another tick than its own', async () => {
  const r = await vlaRun(...overSerial(), '--policy', 'tick-stamp', '--duration', '3', '--json').done;
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.buffer.stale_actions_executed, 0, JSON.stringify(s.buffer));
  assert.ok(s.buffer.chunks > 5);
});

test('bad input: a port that cannot be opened or a malformed calibration exits 2 with nothing on stdout', async () => {
  const noPort = await vlaRun(
    '--robot',
    'aloha',
    '--ports',
    portsArg(undefined, '/dev/no-such-tty'),
    '--sim-link',
    ready.sim_link,
    '--policy',
    'expert',
    '--json',
  ).done;
  assert.equal(noPort.code, 2, noPort.stderr);
  assertRefusedStdout(noPort.stdout);
  assert.match(noPort.stderr, /right follower: cannot open serial port \/dev\/no-such-tty.*nothing was commanded/);

  const dir = await mkdtemp(join(tmpdir(), 'vla-aloha-cal-'));
  try {
    await copyFile(builtinAlohaCalibrationPath('left'), join(dir, 'left_follower.json'));
    await writeFile(join(dir, 'right_follower.json'), '{"waist": {"id": 1}');
    const badCal = await vlaRun(...overSerial(), '--calibration', dir, '--policy', 'expert', '--json').done;
    assert.equal(badCal.code, 2, badCal.stderr);
    assertRefusedStdout(badCal.stdout);
    assert.match(badCal.stderr, /right_follower\.json: not valid JSON.*nothing was commanded/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const wrongFlag = await vlaRun('--robot', 'aloha', '--rosbridge', 'ws://127.0.0.1:9090').done;
  assert.equal(wrongFlag.code, 2);
  assert.match(wrongFlag.stderr, /--rosbridge drives a UR5 or UR5e; ALOHA runs over serial: --ports/);
  const realRigExpert = await vlaRun(
    '--robot',
    'aloha',
    '--ports',
    portsArg(),
    '--calibration',
    resolve(builtinAlohaCalibrationPath('left'), '..'),
    '--policy',
    'expert',
  ).done;
  assert.equal(realRigExpert.code, 2);
  assert.match(realRigExpert.stderr, /--policy expert needs the emulator's sim link/);
});

test('a servo that stops answering: the arms hold, the fault names arm and ID, exit 1 after the timeout', async () => {
  const run = vlaRun(...overSerial(), '--policy', 'expert', '--episodes', '2', '--fault-timeout', '1', '--json');
  try {
    await run.stderrMatch(/connected to the ALOHA arms/);
    await sleep(1500);
    await link.setFaults({ silent_ids: { right: [7] } });
    const r = await run.done;
    assert.equal(r.code, 1, r.stderr);
    const s = JSON.parse(r.stdout);
    // io (every retry timed out) or late (the tick ended first): either way the servo is named
    assert.match(s.fault, /driver (io_error|late) for more than 1\.0 s: right follower: no reply from ID 7/);
    assert.ok(s.holds.driver_faults >= 1 && s.holds.driver_fault_ticks > 0, JSON.stringify(s.holds));
    assert.ok(
      s.driver.faults.io_faults + s.driver.faults.late_ticks >= 1 && s.driver.faults.right_timeouts >= 1,
      JSON.stringify(s.driver),
    );
  } finally {
    await link.setFaults({ silent_ids: {} });
  }
});

test(
  'a calibration that needs an EEPROM change while torque is on: refused (exit 2, nothing written) unless ' +
    '--allow-torque-off',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vla-aloha-cal-'));
    try {
      await copyFile(builtinAlohaCalibrationPath('left'), join(dir, 'left_follower.json'));
      const right = JSON.parse(await readFile(builtinAlohaCalibrationPath('right'), 'utf8')) as Record<
        string,
        { homing_offset: number }
      >;
      right.gripper.homing_offset += 10;
      await writeFile(join(dir, 'right_follower.json'), JSON.stringify(right));
      const args = [...overSerial(), '--calibration', dir, '--policy', 'expert', '--json'];
      // the arms hold themselves (the last run left torque on): switching it off would drop them
      const refused = await vlaRun(...args, '--episodes', '1').done;
      assert.equal(refused.code, 2, refused.stderr);
      assertRefusedStdout(refused.stdout);
      assert.match(
        refused.stderr,
        /right follower on \S+: ID 9 \(gripper\) Homing_Offset is -?\d+, the calibration needs -?\d+.*--allow-torque/,
      );
      const allowed = await vlaRun(...args, '--allow-torque-off', '--duration', '0.5').done;
      assert.equal(allowed.code, 0, allowed.stderr);
      // the shipped calibration back into the servos, the same way
      const back = await vlaRun(
        ...overSerial(),
        '--policy',
        'expert',
        '--allow-torque-off',
        '--duration',
        '0.5',
        '--json',
      ).done;
      assert.equal(back.code, 0, back.stderr);
      const misplaced = await vlaRun('--robot', 'aloha', '--sim', '--allow-torque-off').done;
      assert.equal(misplaced.code, 2);
      assert.match(misplaced.stderr, /--allow-torque-off goes with --ports/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test(
  "a real rig's camera on the host (--camera, lavfi stand-in) feeds an ONNX model; without it the model is " +
    'refused',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vla-aloha-cam-'));
    try {
      // a model that reads camera 'top' and always answers the home pose (grippers half open): the arms stay put
      const home = [0, -0.96, 1.16, 0, -0.3, 0, 0.5, 0, -0.96, 1.16, 0, -0.3, 0, 0.5];
      const model = join(dir, 'still.onnx');
      await writeTestPolicy(model, {
        robot: 'aloha',
        cameras: [{ name: 'top', width: 32, height: 32 }],
        state_dim: 14,
        horizon: 25,
        action_dim: 14,
        mode: 'constant',
        constant: new Array(25 * 14).fill(0),
        action_normalization: { kind: 'mean_std', mean: home, std: new Array(14).fill(1) },
      });
      const rig = [
        '--robot',
        'aloha',
        '--ports',
        portsArg(),
        '--calibration',
        resolve(builtinAlohaCalibrationPath('left'), '..'),
        '--policy',
        model,
      ];
      const without = await vlaRun(...rig, '--duration', '1').done;
      assert.equal(without.code, 2, without.stderr);
      assert.match(
        without.stderr,
        /reads cameras top: on a real rig give each a device on this host \(--camera top=\/dev\/videoN\)/,
      );
      const r = await vlaRun(...rig, '--camera', 'top=lavfi:testsrc:32x32@15', '--duration', '1.5', '--json').done;
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      assert.equal(s.sim, false, 'no sim link: a real rig');
      assert.equal(s.cameras.top.source, 'lavfi:testsrc 32x32@15');
      assert.ok(
        s.cameras.top.frames_served >= 1 && s.inference.calls >= 2,
        JSON.stringify({ cameras: s.cameras, inference: s.inference }),
      );
      assert.equal(s.fault, null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

// last: the emulated servo keeps its alarm (a real one needs a reboot)
test('a hardware alert mid-run: the arms hold, the fault names arm and ID, exit 1 at once', async () => {
  const run = vlaRun(...overSerial(), '--policy', 'expert', '--episodes', '2', '--json', '--fault-timeout', '600');
  await run.stderrMatch(/connected to the ALOHA arms/);
  await sleep(1500);
  const raised = performance.now();
  await link.alarm('left', 4, OVERLOAD_BITS);
  const r = await run.done;
  assert.equal(r.code, 1, r.stderr);
  assert.ok(
    performance.now() - raised < 60_000,
    'a latched fault ends the run without waiting for the fault timeout (600 s)',
  );
  const s = JSON.parse(r.stdout);
  assert.match(s.fault, /driver hardware_alert: left follower: hardware alert on ID 4 \(elbow\)/);
  assert.ok(s.fault.includes(`vla-calibrate --robot aloha --ports left=${ready.ports.left} --reboot`), s.fault);
  assert.equal(s.episodes, 1);
  const said = `${JSON.stringify(s.driver)}\n${r.stderr.slice(-3000)}`;
  assert.ok(s.holds.driver_faults >= 1, said);
  assert.ok(s.driver.faults.hardware_alerts >= 1, said);
});
