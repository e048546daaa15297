// Plausibility of a measured ALOHA calibration, checked before anything is written: a calibration taken in
// the wrong pose, or with joints not moved through their travel, loads fine and then makes every command
// land somewhere else (the run clamps, misses and exits 0). What can be checked without knowing the arm:
//  - the calibration pose: each homing offset against the one the pose implies for a horn at its nominal
//    place (the motor reads 2048 at the joint's zero, in the motor's drive direction): 0, or 4096 for a
//    reversed motor (its present position is -raw + offset). The tolerance is the sum of
//      * MOUNT_TOLERANCE_DEG = 20: how far a horn may sit from its nominal place. An X-series horn is keyed to
//        the shaft's spline and its link bolted on, so an arm assembled as designed reads within a few
//        degrees of nominal; the emulator mounts its horns up to 205 ticks (18.0 deg) off on purpose.
//        A link bolted one hole off is 45 deg (512 ticks) and must be caught;
//      * POSE_TOLERANCE_DEG = 10: how exactly a person puts a joint into the pose by eye;
//    = 30 deg = 341 ticks. A joint read further from the pose than that was not in the pose (or the arm
//    was assembled wrong): the report had offsets 228-1024 ticks off;
//  - the recorded ranges (when the user moved the joints): each must cover at least MIN_SPAN_FRACTION of
//    the joint's nominal travel (less: the joint was not moved end to end, and the runtime would clamp
//    every goal beyond what was recorded), and stay within the nominal travel widened by RANGE_SLACK_DEG
//    = 15 (10 deg of posing error, which shifts the whole range, plus 5 deg of hard stop beyond the
//    profile's limits) and within the file format's 0..4095 ticks: further out, the pose was wrong or the
//    motor is not the joint it is named for;
//  - the gripper: its travel non-empty (the same MIN_SPAN_FRACTION of closed..open) and closing it lowers
//    the reading: it read 'open' in the pose, so nothing may be recorded beyond open + RANGE_SLACK_DEG;
//  - a shadow turns with its primary: their ranges agree within SHADOW_AGREEMENT_DEG = 5 (backlash of
//    two geared motors on one link is well under a degree; more is a loose horn or a miswired ID).
// Left/right swaps are checked where they can be seen (swap-check.ts).
import { type ArmJointLimits, nominalRange } from '../../calibration/aloha-nominal-ranges.js';
import { type ArmCalibration, RANGE_MAX_TICKS, RANGE_MIN_TICKS } from '../../calibration/motor-calibration.js';
import {
  ALOHA_CALIBRATION_POSE_RAD,
  ALOHA_GRIPPER_OPEN_RAD,
  type AlohaMotor,
} from '../../protocols/aloha/motor-map.js';
import { CENTRE_TICKS, TICKS_PER_REV } from '../../protocols/dynamixel/control-table.js';

export const TICKS_PER_DEG = TICKS_PER_REV / 360;
export const TICKS_PER_RAD = TICKS_PER_REV / (2 * Math.PI);
export const MOUNT_TOLERANCE_DEG = 20;
export const POSE_TOLERANCE_DEG = 10;
export const OFFSET_TOLERANCE_DEG = MOUNT_TOLERANCE_DEG + POSE_TOLERANCE_DEG;
export const OFFSET_TOLERANCE_TICKS = Math.round(OFFSET_TOLERANCE_DEG * TICKS_PER_DEG);
export const MIN_SPAN_FRACTION = 0.5;
export const RANGE_SLACK_DEG = 15;
const RANGE_SLACK_TICKS = Math.round(RANGE_SLACK_DEG * TICKS_PER_DEG);
export const SHADOW_AGREEMENT_DEG = 5;
const SHADOW_AGREEMENT_TICKS = Math.round(SHADOW_AGREEMENT_DEG * TICKS_PER_DEG);

export type FindingCheck = 'pose' | 'range_small' | 'range_outside' | 'gripper' | 'shadow';

/** One implausible value: which arm and motor, what was found, what was expected. */
export interface Finding {
  arm: string;
  motor: string;
  id: number;
  check: FindingCheck;
  found: string;
  expected: string;
}

/** The joint a motor turns with (a shadow: its primary's). */
export function jointOf(m: AlohaMotor, motors: readonly AlohaMotor[]): number | 'gripper' {
  return m.shadow_of !== undefined ? motors.find((p) => p.id === m.shadow_of)!.joint! : m.joint!;
}

/** Angle (rad) the motor's joint has in the calibration pose (the gripper: fully open). */
export function poseAngleRad(m: AlohaMotor, motors: readonly AlohaMotor[]): number {
  const j = jointOf(m, motors);
  return j === 'gripper' ? ALOHA_GRIPPER_OPEN_RAD : ALOHA_CALIBRATION_POSE_RAD[j];
}

/** Calibrated ticks the motor reads in the calibration pose. */
export function poseTicks(m: AlohaMotor, motors: readonly AlohaMotor[]): number {
  return Math.round(CENTRE_TICKS + poseAngleRad(m, motors) * TICKS_PER_RAD);
}

/** The homing offset of a horn at its nominal place: 0, or 4096 for a reversed motor (present = -raw + offset). */
export function nominalHomingOffset(m: AlohaMotor): number {
  return m.drive_mode === 1 ? 2 * CENTRE_TICKS : 0;
}

/**
 * The joint angle (rad) a motor's present position means if its horn sits at its nominal place: what the
 * live readout shows before the offsets are known (drive mode set, homing offset 0).
 */
export function nominalAngleRad(m: AlohaMotor, present_ticks: number): number {
  return (present_ticks + nominalHomingOffset(m) - CENTRE_TICKS) / TICKS_PER_RAD;
}

export const deg = (rad: number): string => `${rad >= 0 ? '+' : ''}${((rad * 180) / Math.PI).toFixed(1)}°`;
const tickDeg = (ticks: number): string => deg((ticks - CENTRE_TICKS) / TICKS_PER_RAD);

/** Homing offsets (motor order) against the calibration pose. */
export function checkPoseOffsets(arm: string, offsets: readonly number[], motors: readonly AlohaMotor[]): Finding[] {
  const out: Finding[] = [];
  motors.forEach((m, i) => {
    const off = offsets[i] - nominalHomingOffset(m);
    if (Math.abs(off) <= OFFSET_TOLERANCE_TICKS) return;
    const pose = poseAngleRad(m, motors);
    out.push({
      arm,
      motor: m.name,
      id: m.id,
      check: 'pose',
      found: `stood at about ${deg(pose - off / TICKS_PER_RAD)} in the pose (homing offset ${offsets[i]} ticks)`,
      expected:
        `${deg(pose)} ± ${OFFSET_TOLERANCE_DEG}° ` +
        `(offset ${nominalHomingOffset(m)} ± ${OFFSET_TOLERANCE_TICKS} ticks)`,
    });
  });
  return out;
}

/** Recorded ranges against each joint's nominal travel, the gripper's direction and shadows against primaries. */
export function checkRanges(
  arm: string,
  cal: ArmCalibration,
  motors: readonly AlohaMotor[],
  limits: ArmJointLimits,
): Finding[] {
  const out: Finding[] = [];
  for (const m of motors) {
    const c = cal[m.name];
    const [nlo, nhi] = nominalRange(m, motors, limits);
    const finding = (check: FindingCheck, found: string, expected: string) =>
      out.push({ arm, motor: m.name, id: m.id, check, found, expected });
    const recorded = `recorded ${tickDeg(c.range_min)} .. ${tickDeg(c.range_max)}`;
    const travel = `${tickDeg(nlo)} .. ${tickDeg(nhi)}`;
    const span = c.range_max - c.range_min;
    if (span < MIN_SPAN_FRACTION * (nhi - nlo))
      finding(
        'range_small',
        `${recorded}, ${Math.max(0, Math.round((100 * span) / (nhi - nlo)))}% of its travel`,
        `at least ${100 * MIN_SPAN_FRACTION}% of ${travel}`,
      );
    const [lo, hi] = [
      Math.max(RANGE_MIN_TICKS, nlo - RANGE_SLACK_TICKS),
      Math.min(RANGE_MAX_TICKS, nhi + RANGE_SLACK_TICKS),
    ];
    const gripper = jointOf(m, motors) === 'gripper';
    if (gripper && c.range_max > hi)
      finding(
        'gripper',
        `${recorded}, ${deg((c.range_max - nhi) / TICKS_PER_RAD)} past open`,
        `closing lowers the reading from open (${tickDeg(nhi)} ± ${RANGE_SLACK_DEG}°) ` +
          `towards closed (${tickDeg(nlo)})`,
      );
    else if (c.range_min < lo || c.range_max > hi)
      finding('range_outside', recorded, `within ${travel} ± ${RANGE_SLACK_DEG}° (${lo} .. ${hi} ticks)`);
    if (m.shadow_of === undefined) continue;
    const p = motors.find((x) => x.id === m.shadow_of)!;
    const pc = cal[p.name];
    if (
      Math.abs(c.range_min - pc.range_min) > SHADOW_AGREEMENT_TICKS ||
      Math.abs(c.range_max - pc.range_max) > SHADOW_AGREEMENT_TICKS
    )
      finding(
        'shadow',
        `${recorded}, its primary ${p.name} (ID ${p.id}) ${tickDeg(pc.range_min)} .. ${tickDeg(pc.range_max)}`,
        `the same range as its primary ± ${SHADOW_AGREEMENT_DEG}°`,
      );
  }
  return out;
}

export function formatFinding(f: Finding): string {
  return `${f.arm} arm, ${f.motor} (ID ${f.id}): ${f.found}; expected ${f.expected}`;
}

/** What to do about each kind of finding (one line each, in check order). */
export const FINDING_ADVICE: Record<FindingCheck, string> = {
  pose: 'put the arm in the calibration pose shown in `vla-calibrate --help` (the README shows it too), then run again',
  range_small: 'when asked to move the joints, move each one slowly from one end of its travel to the other',
  range_outside:
    "a range beyond the joint's travel means the pose was wrong or the motor is not that joint: check the pose " +
    'and the motor IDs',
  gripper: 'open the gripper fully for the pose; if it was open, the gripper turns the other way (drive mode)',
  shadow: 'a shadow motor that does not follow its primary has a loose horn or is wired to another joint',
};

/** The refusal: every finding, then what to do. */
export function refusalText(findings: readonly Finding[], pose_text: string): string {
  const kinds = [...new Set(findings.map((f) => f.check))];
  const advice = kinds.map((k) => (k === 'pose' ? `${FINDING_ADVICE.pose} (pose: ${pose_text})` : FINDING_ADVICE[k]));
  return [
    `implausible calibration, nothing written (${findings.length} problem${findings.length > 1 ? 's' : ''}):`,
    ...findings.map((f) => `  ${formatFinding(f)}`),
    ...advice.map((a) => `  -> ${a}`),
    '  (--accept-implausible writes it anyway)',
  ].join('\n');
}
