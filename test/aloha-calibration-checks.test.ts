// The plausibility checks of a measured ALOHA calibration, the live readout and --out, without a bus: the
// emulator's exact calibration passes; a pose off by more than the tolerance, ranges not moved through or
// beyond the travel, a reversed gripper, a shadow that does not follow and swapped ports are named.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { ArmCalibration } from '../calibration/motor-calibration.js';
import { alohaMotors } from '../protocols/aloha/motor-map.js';
import { emulatorCalibration } from '../sim/dynamixel/aloha-rig.js';
import { alohaArms } from '../sim/robots/aloha.js';
import { swappedPorts } from '../src/calibrate/arm-check.js';
import {
  checkPoseOffsets,
  checkRanges,
  nominalHomingOffset,
  OFFSET_TOLERANCE_TICKS,
  refusalText,
  TICKS_PER_DEG,
} from '../src/calibrate/plausibility.js';
import { CalibrationReadout } from '../src/calibrate/readout.js';
import { planOutput } from '../src/cli/calibrate-output.js';
import { UsageError } from '../src/cli/common.js';
import { liveLines } from '../src/telemetry/live-lines.js';

const MOTORS = alohaMotors('follower');
const ESC = String.fromCharCode(27);
const LIMITS = alohaArms()[0].links.map((l) => l.range_rad);
const copy = (c: ArmCalibration): ArmCalibration => JSON.parse(JSON.stringify(c)) as ArmCalibration;
const offsetsOf = (c: ArmCalibration) => MOTORS.map((m) => c[m.name].homing_offset);

test('the emulated arms, calibrated exactly, pass every check (their horns sit up to 18 degrees off)', () => {
  for (const side of ['left', 'right'] as const) {
    const cal = emulatorCalibration(side);
    assert.deepEqual(checkPoseOffsets(side, offsetsOf(cal), MOTORS), []);
    assert.deepEqual(checkRanges(side, cal, MOTORS, LIMITS), []);
  }
});

test('pose: an offset over 30 degrees from the nominal one is named: arm, joint, ID, value, expected range', () => {
  const offsets = MOTORS.map(nominalHomingOffset);
  offsets[0] += 25 * TICKS_PER_DEG; // the waist 25 degrees off: a horn a bit off plus posing by eye, accepted
  assert.deepEqual(checkPoseOffsets('left', offsets, MOTORS), []);
  offsets[0] = Math.round(45 * TICKS_PER_DEG); // a link bolted one hole (45 degrees) off
  offsets[6] = 4096 - 600; // wrist_angle (reversed): 600 ticks
  const found = checkPoseOffsets('left', offsets, MOTORS);
  assert.deepEqual(
    found.map((f) => [f.arm, f.motor, f.id, f.check]),
    [
      ['left', 'waist', 1, 'pose'],
      ['left', 'wrist_angle', 7, 'pose'],
    ],
  );
  assert.match(found[0].found, /stood at about -45\.0° in the pose \(homing offset 512 ticks\)/);
  assert.equal(found[0].expected, `+0.0° ± 30° (offset 0 ± ${OFFSET_TOLERANCE_TICKS} ticks)`);
  assert.match(found[1].expected, /-17\.2° ± 30° \(offset 4096 ± 341 ticks\)/);
  const text = refusalText(found, 'THE POSE');
  assert.match(text, /^implausible calibration, nothing written \(2 problems\):/);
  assert.match(text, /left arm, waist \(ID 1\): stood at about -45\.0°.*expected \+0\.0° ± 30°/);
  assert.match(text, /put the arm in the calibration pose shown in `vla-calibrate --help`.*\(pose: THE POSE\)/);
  assert.match(text, /--accept-implausible writes it anyway/);
});

test('ranges: not moved through, beyond the travel, a reversed gripper and a shadow that does not follow', () => {
  const cal = copy(emulatorCalibration('left'));
  // the user hardly moved the elbow (and its shadow)
  for (const n of ['elbow', 'elbow_shadow']) Object.assign(cal[n], { range_min: 1900, range_max: 2300 });
  // the shoulder's range lies 40 degrees beyond its travel: taken in the wrong pose
  cal.shoulder.range_max += 455;
  cal.shoulder.range_min += 455;
  cal.shoulder_shadow.range_min += 455;
  cal.shoulder_shadow.range_max += 455;
  // the gripper's readings rose when it closed: the motor turns the other way
  cal.gripper.range_min = 3019;
  cal.gripper.range_max = 3019 + 1376;
  // wrist_angle fine; the shadow of the shoulder lags its primary by 20 degrees at one end
  cal.shoulder_shadow.range_min -= 228;
  const found = checkRanges('left', cal, MOTORS, LIMITS).map((f) => `${f.motor} ${f.id} ${f.check}`);
  assert.deepEqual(found.sort(), [
    'elbow 4 range_small',
    'elbow_shadow 5 range_small',
    'gripper 9 gripper',
    'shoulder 2 range_outside',
    'shoulder_shadow 3 range_outside',
    'shoulder_shadow 3 shadow',
  ]);
  const text = refusalText(checkRanges('left', cal, MOTORS, LIMITS), 'P');
  assert.match(text, /elbow \(ID 4\): recorded -13\.0° \.\. \+22\.1°, 18% of its travel; expected at least 50% of/);
  assert.match(text, /gripper \(ID 9\): recorded .* past open; expected closing lowers the reading from open/);
  assert.match(text, /move each one slowly from one end of its travel to the other/);
});

test("swapped ports are seen when each arm carries the other side's previous calibration", () => {
  const [l, r] = [emulatorCalibration('left'), emulatorCalibration('right')];
  const held = (c: ArmCalibration) => ({
    drive_mode: MOTORS.map((m) => c[m.name].drive_mode),
    homing_offset: offsetsOf(c),
  });
  const previous = {
    left: { file: 'cal/left_follower.json', cal: l },
    right: { file: 'cal/right_follower.json', cal: r },
  };
  const swapped = swappedPorts(
    { left: { path: '/dev/A', held: held(r) }, right: { path: '/dev/B', held: held(l) } },
    previous,
    MOTORS,
  );
  assert.equal(swapped.length, 2);
  assert.match(swapped[0], /the port given as left \(\/dev\/A\) has the right arm: .*cal\/right_follower\.json/);
  const fine = { left: { path: '/dev/A', held: held(l) }, right: { path: '/dev/B', held: held(r) } };
  assert.deepEqual(swappedPorts(fine, previous, MOTORS), []);
  // factory-fresh arms say nothing
  const fresh = { drive_mode: MOTORS.map(() => 0), homing_offset: MOTORS.map(() => 0) };
  assert.deepEqual(swappedPorts({ left: { path: '/dev/A', held: fresh } }, previous, MOTORS), []);
});

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let out = '';
  s.on('data', (d: Buffer) => {
    out += d.toString();
  });
  Object.assign(s, { isTTY, columns: 120 });
  return { stream: s as unknown as NodeJS.WriteStream, text: () => out };
}

test('live readout: redrawn in place on a terminal, periodic lines on a pipe, nothing under --json', () => {
  let t = 0;
  const now = () => t;
  const ticks = Int32Array.from(MOTORS.map((m) => 2048 - nominalHomingOffset(m)));
  ticks[0] += 512; // waist 45 degrees off
  const tty = fakeStream(true);
  const r1 = new CalibrationReadout('left', LIMITS, liveLines({ stream: tty.stream, now }));
  for (t = 0; t < 1000; t += 20) r1.observe({ stage: 'pose', ticks });
  r1.end();
  const drawn = tty.text();
  assert.match(drawn, /left arm, live/);
  assert.match(drawn, /waist +\+45\.0° +\+0\.0° +! \+45\.0° off/);
  assert.ok(drawn.includes(`${ESC}[9A`), 'the block of 9 lines is redrawn in place');

  const pipe = fakeStream(false);
  const r2 = new CalibrationReadout('right', LIMITS, liveLines({ stream: pipe.stream, now }));
  const lo = Int32Array.from(ticks);
  const hi = Int32Array.from(ticks);
  for (t = 0; t < 2500; t += 20) r2.observe({ stage: 'ranges', ticks, lo, hi });
  r2.end();
  const lines = pipe.text().trim().split('\n');
  assert.equal(lines.length, 4, 'at 0, 1 and 2 s, and the last state at the end');
  assert.match(
    lines[0],
    /^right arm ranges \(now \[recorded\] covered\): waist \+45\.0° \[\+45\.0° \.\. \+45\.0°\] 0%!/,
  );
  assert.ok(!pipe.text().includes(ESC), 'no escape sequences in a log');

  const json = fakeStream(true);
  const r3 = new CalibrationReadout('left', LIMITS, liveLines({ stream: json.stream, json: true, now }));
  r3.observe({ stage: 'pose', ticks });
  r3.end();
  assert.equal(json.text(), '');
});

test('--out: a file, a file in the path, or an earlier calibration without --force are bad input', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-cal-out-'));
  try {
    await writeFile(join(dir, 'afile'), 'x');
    await assert.rejects(planOutput(join(dir, 'afile'), ['left'], true), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /afile is a file; it must be a directory/);
      return true;
    });
    await assert.rejects(planOutput(join(dir, 'afile', 'sub'), ['left'], false), /a part of the path is a file/);
    await mkdir(join(dir, 'cal'));
    await writeFile(join(dir, 'cal', 'right_follower.json'), '{}');
    await assert.rejects(
      planOutput(join(dir, 'cal'), ['left', 'right'], false),
      /right_follower\.json exists \(an earlier calibration\); it is replaced only with --force/,
    );
    const plan = await planOutput(join(dir, 'cal'), ['left', 'right'], true);
    assert.deepEqual(plan.existing, { right: join(dir, 'cal', 'right_follower.json') });
    const fresh = await planOutput(join(dir, 'new', 'deeper'), ['left'], false);
    assert.deepEqual(fresh.files, { left: join(dir, 'new', 'deeper', 'left_follower.json') });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
