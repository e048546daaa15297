// vla-calibrate against the Dynamixel emulator process over pseudo-terminals, the arms placed through the
// sim link's 'hand' op (an operator moving the limp arms): out of the calibration pose it refuses and
// writes nothing, in the pose it calibrates; the live readout while the steps wait (periodic lines on a
// pipe, a block redrawn on a terminal); swapped ports, an existing --out and other bad input exit 2.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { nominalRange } from '../calibration/aloha-nominal-ranges.js';
import { loadArmCalibration } from '../calibration/motor-calibration.js';
import { ALOHA_CALIBRATION_POSE_RAD, alohaMotors } from '../protocols/aloha/motor-map.js';
import { SimLinkClient } from '../protocols/sim-link/client.js';
import { emulatorCalibration } from '../sim/dynamixel/aloha-rig.js';
import { alohaArms } from '../sim/robots/aloha.js';

const MOTORS = alohaMotors('follower');
const LIMITS = alohaArms()[0].links.map((l) => l.range_rad);
const BIN = resolve(import.meta.dirname, '../../bin');
const POSE: number[] = [...ALOHA_CALIBRATION_POSE_RAD];
/** Far from the calibration pose (as after an episode): waist 34°, shoulder, elbow, wrist off; gripper shut. */
const WRONG_POSE = [0.6, -0.3, 0.5, 0.3, 0.4, 0.2];

interface Rig {
  ports: { left: string; right: string };
  link: SimLinkClient;
  stop(): Promise<void>;
}

async function startEmulator(): Promise<Rig> {
  const emu = spawn(process.execPath, [join(BIN, 'vla-sim.js'), 'dynamixel', '--robot', 'aloha', '--json'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const exited = new Promise((r) => emu.once('exit', r));
  const line = await new Promise<string>((res, rej) => {
    createInterface({ input: emu.stdout! }).once('line', res);
    emu.once('exit', (code) => rej(new Error(`emulator exited with ${code}`)));
  });
  const { ports, sim_link } = JSON.parse(line) as { ports: Rig['ports']; sim_link: string };
  const link = new SimLinkClient(sim_link, 30_000);
  return {
    ports,
    link,
    async stop() {
      link.close();
      emu.kill('SIGTERM');
      await exited;
    },
  };
}

const calibrate = (args: string[], input?: string) =>
  spawnSync(process.execPath, [join(BIN, 'vla-calibrate.js'), '--robot', 'aloha', '--timeout-ms', '60', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    input,
  });

test('--yes out of the calibration pose: refused naming joints, nothing written; in the pose: written', async () => {
  const rig = await startEmulator();
  const dir = await mkdtemp(join(tmpdir(), 'vla-cal-cli-'));
  const out = join(dir, 'cal');
  const both = `left=${rig.ports.left},right=${rig.ports.right}`;
  try {
    assert.ok((await rig.link.hand('left', WRONG_POSE, 0.1)).reached, 'the limp left arm was moved by hand');
    const wrong = calibrate(['--ports', both, '--yes', '--json', '--out', out]);
    assert.equal(wrong.status, 1, wrong.stderr);
    assert.match(wrong.stderr, /implausible calibration, nothing written/);
    assert.match(
      wrong.stderr,
      /left arm, waist \(ID 1\): stood at about \+\d+\.\d° in the pose \(homing offset -?\d+ ticks\); expected \+0\.0°/,
    );
    assert.match(wrong.stderr, /left arm, gripper \(ID 9\)/);
    assert.match(wrong.stderr, /put the arm in the calibration pose shown in `vla-calibrate --help`/);
    assert.doesNotMatch(wrong.stderr, /right arm,/, 'the right arm was in the pose');
    const refused = JSON.parse(wrong.stdout) as {
      exit_code: number;
      written: boolean;
      findings: { arm: string; motor: string }[];
    };
    assert.equal(refused.exit_code, 1, 'one JSON object on stdout: the error, with the findings');
    assert.equal(refused.written, false);
    assert.ok(refused.findings.some((f) => f.arm === 'left' && f.motor === 'waist'));
    assert.equal(existsSync(out), false, 'nothing written, not even the directory');

    assert.ok((await rig.link.hand('left', POSE, 1)).reached, 'back in the calibration pose');
    const right = calibrate(['--ports', both, '--yes', '--json', '--out', out]);
    assert.equal(right.status, 0, right.stderr);
    const files = (JSON.parse(right.stdout) as { files: Record<'left' | 'right', string> }).files;
    for (const side of ['left', 'right'] as const) {
      const got = await loadArmCalibration(files[side], MOTORS);
      for (const m of MOTORS)
        assert.ok(
          Math.abs(got[m.name].homing_offset - emulatorCalibration(side)[m.name].homing_offset) <= 20,
          `${side} ${m.name}`,
        );
    }
    const before = await readFile(files.left, 'utf8');

    // again into the same directory: an earlier calibration is replaced only with --force
    const again = calibrate(['--ports', both, '--yes', '--out', out]);
    assert.equal(again.status, 2, again.stderr);
    assert.match(
      again.stderr,
      /left_follower\.json exists \(an earlier calibration\); it is replaced only with --force/,
    );
    // --force, ports swapped: each arm carries the other side's offsets (just written), seen before anything moves
    const swapped = calibrate([
      '--ports',
      `left=${rig.ports.right},right=${rig.ports.left}`,
      '--yes',
      '--force',
      '--out',
      out,
    ]);
    assert.equal(swapped.status, 2, swapped.stderr);
    assert.match(
      swapped.stderr,
      /the port given as left \(.*\) has the right arm: .*right_follower\.json.*swap the two paths/,
    );
    assert.equal(swapped.stderr.trim().split('\n').length, 1, swapped.stderr);
    // --out naming a file
    const toFile = calibrate(['--ports', both, '--yes', '--out', files.left]);
    assert.equal(toFile.status, 2);
    assert.equal(
      toFile.stderr.trim(),
      `vla-calibrate: --out ${files.left} is a file; it must be a directory ` +
        '(vla-calibrate writes <arm>_follower.json into it)',
    );
    assert.equal(await readFile(files.left, 'utf8'), before, 'the refused runs left the files alone');
  } finally {
    await rig.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

/** Run vla-calibrate with stdin a pipe; `onLine` sees each stderr line and may answer on stdin. */
function interactive(args: string[], onLine: (line: string, cal: ChildProcess) => void) {
  const cal = spawn(
    process.execPath,
    [join(BIN, 'vla-calibrate.js'), '--robot', 'aloha', '--timeout-ms', '60', ...args],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  createInterface({ input: cal.stderr! }).on('line', (l) => {
    lines.push(l);
    onLine(l, cal);
  });
  let stdout = '';
  cal.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  const code = new Promise<number | null>((r) => cal.once('close', r));
  return { code, lines, stdout: () => stdout };
}

test('stdin a pipe: readout lines while steps wait; joints not moved are refused, moved ones calibrate', async () => {
  const rig = await startEmulator();
  const dir = await mkdtemp(join(tmpdir(), 'vla-cal-cli-'));
  try {
    // the user confirms the pose once its readout shows, moves only the waist, confirms
    let stage = '';
    const partial = interactive(['--ports', `left=${rig.ports.left}`, '--out', dir], (l, cal) => {
      if (/calibration pose .*\[Enter\]$/.test(l)) stage = 'pose';
      else if (/from end to end.*\[Enter\]$/.test(l)) stage = 'ranges';
      else if (stage === 'pose' && l.startsWith('left arm pose (now/pose): waist ')) {
        stage = '';
        cal.stdin!.write('\n');
      } else if (stage === 'ranges' && l.startsWith('left arm ranges (now [recorded] covered): waist ')) {
        stage = '';
        void (async () => {
          for (const waist of [-1.9, 1.9, 0]) await rig.link.hand('left', [waist, ...POSE.slice(1)], 1);
          cal.stdin!.write('\n');
        })();
      }
    });
    assert.equal(await partial.code, 1, partial.lines.join('\n'));
    const text = partial.lines.join('\n');
    assert.match(text, /^left arm pose \(now\/pose\): waist [+-]\d+\.\d°\/\+0\.0°, shoulder /m);
    assert.match(text, /^left arm ranges .*: waist [+-]\d+\.\d° \[-1\d\d\.\d° \.\. \+1\d\d\.\d°\] [56]\d%, /m);
    assert.match(
      text,
      /left arm, shoulder \(ID 2\): recorded -55\.\d° \.\. -5\d\.\d°, 0% of its travel; expected at least 50%/,
    );
    assert.doesNotMatch(text, /left arm, waist \(ID 1\)/, 'the waist was moved through its travel');
    assert.match(text, /move each one slowly from one end of its travel to the other/);
    assert.equal(existsSync(join(dir, 'left_follower.json')), false);

    // now every joint, one after the other, over 60% of its travel
    const full = interactive(['--ports', `left=${rig.ports.left}`, '--out', dir], (l, cal) => {
      if (/calibration pose .*\[Enter\]$/.test(l)) cal.stdin!.write('\n');
      else if (/from end to end.*\[Enter\]$/.test(l))
        void (async () => {
          for (let j = 0; j < 6; j++) {
            for (const f of [0.2, 0.8]) {
              const p = [...POSE];
              p[j] = LIMITS[j][0] + f * (LIMITS[j][1] - LIMITS[j][0]);
              await rig.link.hand('left', p, 1);
            }
            await rig.link.hand('left', POSE, 1);
          }
          for (const g of [0, 1]) await rig.link.hand('left', POSE, g);
          cal.stdin!.write('\n');
        })();
    });
    assert.equal(await full.code, 0, full.lines.join('\n'));
    assert.ok(
      full.lines.filter((l) => l.startsWith('left arm ranges')).length >= 2,
      'the ranges were shown as they grew',
    );
    const cal = await loadArmCalibration(join(dir, 'left_follower.json'), MOTORS);
    for (const m of MOTORS) {
      const [lo, hi] = nominalRange(m, MOTORS, LIMITS);
      const c = cal[m.name];
      assert.ok(
        c.range_max - c.range_min >= 0.5 * (hi - lo) && c.range_min >= lo - 20 && c.range_max <= hi + 20,
        m.name,
      );
    }
  } finally {
    await rig.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('on a terminal: a block redrawn in place, joints off the pose marked, the pose asked again', async (t) => {
  let pty: typeof import('@lydell/node-pty');
  try {
    pty = createRequire(import.meta.url)('@lydell/node-pty') as typeof import('@lydell/node-pty');
  } catch (err) {
    t.skip(`node-pty does not load here: ${(err as Error).message.split('\n')[0]}`);
    return;
  }
  const rig = await startEmulator();
  const dir = await mkdtemp(join(tmpdir(), 'vla-cal-cli-'));
  try {
    await rig.link.hand('left', WRONG_POSE, 0.1);
    const term = pty.spawn(
      process.execPath,
      [join(BIN, 'vla-calibrate.js'), '--robot', 'aloha', '--ports', `left=${rig.ports.left}`, '--out', dir],
      { cols: 120, rows: 40, env: process.env as Record<string, string> },
    );
    let out = '';
    // each step is confirmed once its block has been redrawn twice since `from`
    let state = 0;
    let from = 0;
    const redrawn = () => out.slice(from).split(`${String.fromCharCode(27)}[9A`).length - 1 >= 2;
    const confirm = () => {
      state++;
      from = out.length;
      term.write('\r');
    };
    term.onData((d) => {
      out += d;
      if ((state === 0 || state === 2 || state === 3) && redrawn()) confirm();
      else if (state === 1 && out.includes('The left arm is not in the calibration pose')) {
        state = -1; // the user puts the arm in the pose, then confirms again
        void rig.link.hand('left', POSE, 1).then(() => {
          state = 2;
          from = out.length;
        });
      }
    });
    const code = await new Promise<number>((r) => term.onExit(({ exitCode }) => r(exitCode)));
    assert.equal(code, 1, out);
    assert.match(out, /left arm, live +now +pose/);
    assert.match(out, /waist +\+\d+\.\d° +\+0\.0° +! \+\d+\.\d° off/, 'the waist marked while off the pose');
    assert.match(out, /The left arm is not in the calibration pose:\s+left arm, waist \(ID 1\): stood at about/);
    assert.match(out, /left arm, live +now +recorded +of its travel/);
    assert.match(out, /\[2K {4}shoulder +-55\.\d° +-5\d\.\d° \.\. -5\d\.\d° +0%! of -106\.0° \.\. \+72\.0°/);
    assert.doesNotMatch(out, /left arm (pose|ranges) \(now/, 'no log lines on a terminal');
    // nothing was moved in the range step: refused
    assert.match(out, /left arm, shoulder \(ID 2\): recorded .* 0% of its travel/);
    assert.doesNotMatch(out, /-> put the arm in the calibration pose/, 'the second pose passed');
  } finally {
    await rig.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad input exits 2 with one clear line before anything moves', async () => {
  const rig = await startEmulator();
  const dir = await mkdtemp(join(tmpdir(), 'vla-cal-cli-'));
  try {
    await rig.link.setFaults({ silent_ids: { left: MOTORS.map((m) => m.id) } });
    const cases: [string[], RegExp][] = [
      [
        ['--ports', `left=${rig.ports.left}`, '--out', dir],
        /no reply from any of its 9 motors \(IDs 1-9\): is the arm powered/,
      ],
      [['--ports', 'left=/dev/no-such-tty', '--out', dir], /left follower: cannot open serial port \/dev\/no-such-tty/],
      [
        ['--ports', `right=${rig.ports.right}`, '--out', join(dir, 'x', 'y'), '--timeout-ms', 'soon'],
        /--timeout-ms must be an integer/,
      ],
      [['--ports', 'middle=/dev/x'], /unknown arm 'middle'/],
      [
        ['--ports', `right=${rig.ports.right}`, '--out', '/dev/null/cal'],
        /--out \/dev\/null\/cal: a part of the path is a file/,
      ],
    ];
    for (const [args, want] of cases) {
      const r = calibrate(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /^\s+at |E[A-Z]+:/m, 'no stack, no raw errno text');
    }
    for (const args of [['--bogus'], ['extra-argument'], ['--robot', 'ur5']]) {
      const r = calibrate(['--ports', `right=${rig.ports.right}`, '--out', dir, ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    const noRobot = spawnSync(process.execPath, [join(BIN, 'vla-calibrate.js')], { encoding: 'utf8' });
    assert.equal(noRobot.status, 2);
    assert.equal(noRobot.stderr.trim(), 'vla-calibrate: --robot is required (valid: aloha)');
  } finally {
    await rig.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
