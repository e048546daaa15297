// The live readout of a calibration step: each joint's angle (degrees) while the user poses the arm, then
// the range recorded so far while the joints are moved, drawn through LiveLines (a redrawn block on a
// terminal, periodic lines on a pipe, nothing under --json). The shadows are left out: they turn with
// their primaries (their offsets and ranges are checked all the same).
// Before the homing offsets exist (the pose step) a reading means an angle only through the horn's nominal
// place, so 'now' is that estimate, and the joints further from the pose than the check allows are marked.
import { type ArmJointLimits, nominalRange } from '../../calibration/aloha-nominal-ranges.js';
import { type AlohaMotor, alohaMotors } from '../../protocols/aloha/motor-map.js';
import { CENTRE_TICKS } from '../../protocols/dynamixel/control-table.js';
import type { LiveLines } from '../telemetry/live-lines.js';
import type { CalibrationSample } from './aloha-calibrator.js';
import {
  deg,
  MIN_SPAN_FRACTION,
  nominalAngleRad,
  OFFSET_TOLERANCE_DEG,
  poseAngleRad,
  TICKS_PER_RAD,
} from './plausibility.js';

const NAME_WIDTH = 14;
const tickDeg = (ticks: number) => deg((ticks - CENTRE_TICKS) / TICKS_PER_RAD);

export class CalibrationReadout {
  private readonly motors = alohaMotors('follower');
  /** The primaries and the gripper, with their index in a reading. */
  private readonly shown: { m: AlohaMotor; i: number }[];

  constructor(
    private readonly arm: string,
    private readonly limits: ArmJointLimits,
    private readonly out: LiveLines,
  ) {
    this.shown = this.motors.flatMap((m, i) => (m.shadow_of === undefined ? [{ m, i }] : []));
  }

  observe(s: CalibrationSample): void {
    const [block, line] = s.stage === 'pose' ? this.pose(s.ticks) : this.ranges(s.ticks, s.lo!, s.hi!);
    this.out.show(block, line);
  }

  /** The step was confirmed. */
  end(): void {
    this.out.end();
  }

  private pose(ticks: Int32Array): [string[], string] {
    const rows = this.shown.map(({ m, i }) => {
      const now = nominalAngleRad(m, ticks[i]);
      const pose = poseAngleRad(m, this.motors);
      const off = Math.abs(now - pose) > (OFFSET_TOLERANCE_DEG * Math.PI) / 180;
      return { m, now: deg(now), pose: deg(pose), mark: off ? `! ${deg(now - pose)} off` : '' };
    });
    return [
      [
        `  ${this.arm} arm, live    ${'now'.padStart(8)} ${'pose'.padStart(8)}`,
        ...rows.map((r) => `    ${r.m.name.padEnd(NAME_WIDTH)} ${r.now.padStart(8)} ${r.pose.padStart(8)}   ${r.mark}`),
        `  ! = more than ${OFFSET_TOLERANCE_DEG}° from the calibration pose (now: the horn at its nominal place)`,
      ],
      `${this.arm} arm pose (now/pose): ` +
        rows.map((r) => `${r.m.name} ${r.now}/${r.pose}${r.mark ? '!' : ''}`).join(', '),
    ];
  }

  private ranges(ticks: Int32Array, lo: Int32Array, hi: Int32Array): [string[], string] {
    const rows = this.shown.map(({ m, i }) => {
      const [nlo, nhi] = nominalRange(m, this.motors, this.limits);
      const covered = Math.round((100 * (hi[i] - lo[i])) / (nhi - nlo));
      return {
        m,
        now: tickDeg(ticks[i]),
        range: `${tickDeg(lo[i])} .. ${tickDeg(hi[i])}`,
        covered: `${covered}%${covered < 100 * MIN_SPAN_FRACTION ? '!' : ''}`,
        travel: `${tickDeg(nlo)} .. ${tickDeg(nhi)}`,
      };
    });
    return [
      [
        `  ${this.arm} arm, live    ${'now'.padStart(8)}   ${'recorded'.padEnd(20)} of its travel`,
        ...rows.map(
          (r) =>
            `    ${r.m.name.padEnd(NAME_WIDTH)} ${r.now.padStart(8)}   ${r.range.padEnd(20)} ` +
            `${r.covered.padStart(5)} of ${r.travel}`,
        ),
        `  ! = less than ${100 * MIN_SPAN_FRACTION}% of its travel so far: move each joint from end to end`,
      ],
      `${this.arm} arm ranges (now [recorded] covered): ` +
        rows.map((r) => `${r.m.name} ${r.now} [${r.range}] ${r.covered}`).join(', '),
    ];
  }
}
