// The calibration procedure of one ALOHA arm, independent of how the user is prompted:
//  0. if any motor holds the arm (torque on), the user is asked to support it first: the next step
//     switches torque off (EEPROM registers are only writable so), and an unsupported arm falls;
//  1. factory-fresh registers: torque off, operating and drive modes from the motor map, Homing_Offset 0;
//  2. the user puts the arm in the calibration pose (ACT's start pose, gripper open); each motor's
//     homing offset is chosen so that this pose reads 2048 + angle * 4096 / 2pi, and checked against the
//     pose (plausibility.ts); the caller may have the user pose again;
//  3. the user moves every joint through its travel while the motors are read at 50 Hz; the extremes
//     are the ranges. Accepting without moving (`nominal_ranges`) uses the robot profile's joint limits
//     instead, widened by whatever was observed: that is what a scripted run against the emulator does.
// While steps 2 and 3 wait for the user, the same loop that samples the motors hands every reading to
// `observe` (the live readout): one request at a time on the bus, and none once the step is confirmed.
// Nothing is written to disk here: the result carries the calibration and every implausible value found.

import type { ArmJointLimits } from '../../calibration/aloha-nominal-ranges.js';
import { nominalRange } from '../../calibration/aloha-nominal-ranges.js';
import type { ArmCalibration } from '../../calibration/motor-calibration.js';
import type { DynamixelBus } from '../../drivers/dynamixel/bus.js';
import {
  ALOHA_CALIBRATION_POSE_RAD,
  ALOHA_READ_IDS,
  type AlohaMotor,
  alohaMotors,
} from '../../protocols/aloha/motor-map.js';
import { REG } from '../../protocols/dynamixel/control-table.js';
import { checkPoseOffsets, checkRanges, type Finding, poseTicks } from './plausibility.js';

/** How often the motors are read while a step waits (the range step's sampling rate). */
const SAMPLE_PERIOD_MS = 20;

const POSE = ALOHA_CALIBRATION_POSE_RAD;
const deg = (rad: number) => Math.round((rad * 180) / Math.PI);
export const CALIBRATION_POSE_TEXT =
  `ACT's start pose: waist 0, shoulder ${POSE[1]} rad (${deg(POSE[1])}°), elbow ${POSE[2]} rad ` +
  `(${deg(POSE[2])}°), forearm_roll 0, wrist_angle ${POSE[4]} rad (${deg(POSE[4])}°), wrist_rotate 0, ` +
  'gripper fully open';

/** One reading while a step waits: present positions of all 9 motors (ALOHA_READ_IDS order). */
export interface CalibrationSample {
  /** 'pose': homing offsets are 0 (uncalibrated ticks); 'ranges': calibrated ticks, with the extremes so far. */
  stage: 'pose' | 'ranges';
  ticks: Int32Array;
  lo?: Int32Array;
  hi?: Int32Array;
}

export interface CalibratorSteps {
  /**
   * Resolves when the user supports the arm (or it rests on its stops): torque goes off next on these
   * motors, which hold the arm now. Called only when some motor has torque on.
   */
  support(torque_on: readonly AlohaMotor[]): Promise<void>;
  /** Resolves when the arm is in the calibration pose. */
  pose(): Promise<void>;
  /**
   * The pose read implausible: resolve true to have the user pose again (pose() is called again),
   * false to go on (the findings come back in the result).
   */
  poseRejected?(findings: readonly Finding[]): Promise<boolean>;
  /** Resolves when the user has moved every joint through its travel (ranges are sampled until then). */
  ranges(): Promise<void>;
  /** Every reading taken while pose() or ranges() waits. */
  observe?(sample: CalibrationSample): void;
  /** Use the nominal ranges, widened by what was observed (no one moved the arm). */
  nominal_ranges: boolean;
}

export interface CalibrationResult {
  /** Not validated against the file format: a refused calibration may hold anything. */
  calibration: ArmCalibration;
  /** Implausible values (empty: every check passed). */
  findings: Finding[];
}

export class AlohaCalibrator {
  private readonly motors = alohaMotors('follower');
  private readonly ticks = new Int32Array(ALOHA_READ_IDS.length);

  constructor(
    private readonly bus: DynamixelBus,
    private readonly limits: ArmJointLimits,
    /** How findings name the arm ('left'). */
    private readonly arm: string,
  ) {}

  async run(steps: CalibratorSteps): Promise<CalibrationResult> {
    const holding: AlohaMotor[] = [];
    for (const m of this.motors) if ((await this.bus.readRegister(m.id, REG.torque_enable)) !== 0) holding.push(m);
    if (holding.length) await steps.support(holding);
    await this.resetRegisters();
    const offsets = await this.poseStep(steps);
    for (let i = 0; i < this.motors.length; i++)
      await this.bus.writeRegister(this.motors[i].id, REG.homing_offset, offsets[i]);
    const [lo, hi] = await this.rangeStep(steps);

    const calibration: ArmCalibration = {};
    this.motors.forEach((m, i) => {
      let [min, max] = [lo[i], hi[i]];
      if (steps.nominal_ranges) {
        const [nlo, nhi] = nominalRange(m, this.motors, this.limits);
        [min, max] = [Math.min(min, nlo), Math.max(max, nhi)];
      }
      calibration[m.name] = {
        id: m.id,
        drive_mode: m.drive_mode,
        homing_offset: offsets[i],
        range_min: min,
        range_max: max,
      };
    });
    const findings = [
      ...checkPoseOffsets(this.arm, offsets, this.motors),
      ...checkRanges(this.arm, calibration, this.motors, this.limits),
    ];
    return { calibration, findings };
  }

  /** The pose, read once the user confirms it, as homing offsets (motor order); again while rejected. */
  private async poseStep(steps: CalibratorSteps): Promise<number[]> {
    for (;;) {
      await this.sampleWhile(steps.pose(), (live) => {
        if (live) steps.observe?.({ stage: 'pose', ticks: this.ticks });
      });
      await this.read();
      const offsets = this.motors.map((m, i) => poseTicks(m, this.motors) - this.ticks[i]);
      const findings = checkPoseOffsets(this.arm, offsets, this.motors);
      if (findings.length === 0 || !(await steps.poseRejected?.(findings))) return offsets;
    }
  }

  /** Each motor's extremes while the user moves the joints. */
  private async rangeStep(steps: CalibratorSteps): Promise<[Int32Array, Int32Array]> {
    const lo = new Int32Array(this.motors.length).fill(2 ** 31 - 1);
    const hi = new Int32Array(this.motors.length).fill(-(2 ** 31));
    await this.sampleWhile(steps.ranges(), (live) => {
      for (let i = 0; i < this.ticks.length; i++) {
        lo[i] = Math.min(lo[i], this.ticks[i]);
        hi[i] = Math.max(hi[i], this.ticks[i]);
      }
      if (live) steps.observe?.({ stage: 'ranges', ticks: this.ticks, lo, hi });
    });
    return [lo, hi];
  }

  /**
   * Read the motors every SAMPLE_PERIOD_MS until `step` settles (at least once): one request at a time,
   * and the last one has finished when this returns, so the procedure has the bus to itself again.
   * `live`: the step still waits (a reading taken after it was confirmed is not shown: nobody is watching).
   */
  private async sampleWhile(step: Promise<void>, sampled: (live: boolean) => void): Promise<void> {
    let done = false;
    let failed: unknown;
    const finished = step.then(
      () => {
        done = true;
      },
      (err: unknown) => {
        failed = err;
        done = true;
      },
    );
    do {
      await this.read();
      sampled(!done);
      if (!done) await Promise.race([finished, new Promise((r) => setTimeout(r, SAMPLE_PERIOD_MS))]);
    } while (!done);
    if (failed !== undefined) throw failed;
  }

  private read(): Promise<void> {
    return this.bus.syncRead(REG.present_position, ALOHA_READ_IDS, this.ticks);
  }

  private async resetRegisters(): Promise<void> {
    for (const m of this.motors) await this.bus.writeRegister(m.id, REG.torque_enable, 0);
    for (const m of this.motors) {
      await this.bus.writeRegister(m.id, REG.operating_mode, m.operating_mode);
      await this.bus.writeRegister(m.id, REG.drive_mode, m.drive_mode);
      await this.bus.writeRegister(m.id, REG.homing_offset, 0);
      if (m.shadow_of !== undefined) await this.bus.writeRegister(m.id, REG.secondary_id, m.shadow_of);
    }
  }
}
