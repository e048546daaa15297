// The guided recovery after a servo's hardware alert, end to end and as a user runs it: `vla-sim dynamixel`
// in its own process, an alarm raised through its sim link, `vla-calibrate --reboot` clearing it over the
// pseudo-terminals, and `vla-run` on the same rig afterwards.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { builtinAlohaCalibrationPath } from '../../calibration/motor-calibration.js';
import { DynamixelBus } from '../../drivers/dynamixel/bus.js';
import { REG } from '../../protocols/dynamixel/control-table.js';
import { SimLinkClient } from '../../protocols/sim-link/client.js';
import { vlaRunChild } from './vla-run-child.js';

const BIN = resolve(import.meta.dirname, '../../../bin');
const CALIBRATION_DIR = dirname(builtinAlohaCalibrationPath('left'));
const OVERLOAD = 0x20;
const ELBOW = 4;

let emu: ChildProcess;
let exited: Promise<number | null>;
let ready: { ports: { left: string; right: string }; sim_link: string };
let link: SimLinkClient;

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

const ports = () => `left=${ready.ports.left},right=${ready.ports.right}`;

/** vla-calibrate as a script runs it: stdin is a pipe (not a terminal), closed at once. */
function calibrate(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(BIN, 'vla-calibrate.js'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.end();
  let stdout = '',
    stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((res) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    }),
  );
}

/** The elbow's alarm and torque, read over the left arm's port. */
async function elbowState(): Promise<{ alarm: number; torque: number }> {
  const bus = await DynamixelBus.open({ path: ready.ports.left, name: 'check', timeout_ms: 60, retries: 3 });
  try {
    return {
      alarm: await bus.readRegister(ELBOW, REG.hardware_error_status),
      torque: await bus.readRegister(ELBOW, REG.torque_enable),
    };
  } finally {
    await bus.close();
  }
}

test('alarm -> vla-run refuses naming the fix -> vla-calibrate --reboot clears it -> vla-run succeeds', async () => {
  await link.alarm('left', ELBOW, OVERLOAD);
  assert.deepEqual(await elbowState(), { alarm: OVERLOAD, torque: 0 });

  const rig = ['--robot', 'aloha', '--ports', ports(), '--sim-link', ready.sim_link];
  const refused = await vlaRunChild([...rig, '--policy', 'expert', '--episodes', '1', '--json'], 60_000).done;
  assert.equal(refused.code, 1, `no run on a servo in alarm: ${refused.stderr.slice(-2000)}`);
  assert.match(`${refused.stdout}${refused.stderr}`, /vla-calibrate --robot aloha --ports left=\S+ --reboot/);

  const args = ['--robot', 'aloha', '--ports', ports(), '--reboot', '--calibration', CALIBRATION_DIR];
  const noTty = await calibrate(...args);
  assert.equal(noTty.code, 2, noTty.stderr);
  assert.match(noTty.stderr, /run it on a terminal, or add --yes; nothing was done/);
  assert.equal((await elbowState()).alarm, OVERLOAD, 'nothing was rebooted');

  const r = await calibrate(...args, '--yes', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /left follower on \S+: ID 4 \(elbow\): overload/);
  assert.match(r.stderr, /torque stays OFF on the rebooted servos/);
  const out = JSON.parse(r.stdout);
  assert.equal(out.cleared, true);
  assert.deepEqual(
    out.rebooted.map((s: { arm: string; id: number; motor: string; bits: number }) => [s.arm, s.id, s.motor, s.bits]),
    [['left', ELBOW, 'elbow', OVERLOAD]],
  );
  assert.deepEqual(
    out.arms[0].servos.map((s: { hardware_error_status: number; torque_on: boolean }) => [
      s.hardware_error_status,
      s.torque_on,
    ]),
    [[0, false]],
  );
  assert.deepEqual(await elbowState(), { alarm: 0, torque: 0 }, 'read back by another client: clear, torque off');

  const again = await calibrate(...args, '--yes');
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /no servo in alarm on the left and right arms: nothing to do/);

  const run = await vlaRunChild([...rig, '--policy', 'expert', '--episodes', '1', '--json'], 120_000).done;
  assert.equal(run.code, 0, run.stderr);
  const s = JSON.parse(run.stdout);
  assert.equal(s.fault, null);
  assert.equal(s.episodes, 1);
});

test('--arm/--id reboot a named servo even without an alarm, warning first when it holds its joint', async () => {
  // the run above left both arms holding (torque on), as vla-run does at its end
  const args = ['--robot', 'aloha', '--ports', ports(), '--reboot', '--calibration', CALIBRATION_DIR];
  const r = await calibrate(...args, '--arm', 'left', '--id', '6', '--yes', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /WARNING: left ID 6 \(forearm_roll\) holds its joint now \(torque on\)/);
  assert.match(r.stderr, /ID 6 \(forearm_roll\): no alarm/);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(
    out.rebooted.map((x: { arm: string; id: number }) => [x.arm, x.id]),
    [['left', 6]],
  );
  assert.equal(out.arms[0].servos[0].torque_on, false);
});

test('bad usage exits 2 before any port is opened', async () => {
  const base = ['--robot', 'aloha', '--ports', 'left=/dev/nonexistent-dxl', '--yes'];
  const cases: [string[], RegExp][] = [
    [['--reboot'], /--reboot needs --calibration DIR/],
    [
      ['--reboot', '--calibration', CALIBRATION_DIR, '--arm', 'middle'],
      /unknown --arm 'middle' \(valid: left, right\)/,
    ],
    [
      ['--reboot', '--calibration', CALIBRATION_DIR, '--arm', 'right'],
      /--arm right: --ports gives no port for that arm/,
    ],
    [['--reboot', '--calibration', CALIBRATION_DIR, '--id', '10'], /--id must be an integer in \[1, 9\]/],
    [['--arm', 'left'], /--arm, --id and --calibration go with --reboot/],
  ];
  for (const [extra, why] of cases) {
    const r = await calibrate(...base, ...extra);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
  const help = await calibrate('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--reboot --arm left --id 4 --yes --calibration cal\//);
});
