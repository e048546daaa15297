// The calibration procedure of one ALOHA arm, independent of how the user is prompted:
//  0. if any motor holds the arm (torque on), the user is asked to support it first: the next step
//     switches torque off (EEPROM registers are only writable so), and an unsupported arm falls;
//  1. factory-fresh registers: torque off, operating and drive modes from the motor map, Homing_Offset 0;
//  2. the user puts the arm in the calibration pose (ACT's start pose, gripper open); each motor's
//     homing offset is chosen so that this pose reads 2048 + angle * 4096 / 2pi;
//  3. the user moves every joint through its travel while the motors are read at 50 Hz; the extremes
//     are the ranges. Accepting without moving (`nominal_ranges`) uses the robot profile's joint limits
//     instead, widened by whatever was observed: that is what a scripted run against the emulator does.

import { type ArmJointLimits, nominalRange } from '../../calibration/aloha-nominal-ranges.js';
import { type ArmCalibration, validateArmCalibration } from '../../calibration/motor-calibration.js';
import type { DynamixelBus } from '../../drivers/dynamixel/bus.js';
import {
  ALOHA_CALIBRATION_POSE_RAD,
  ALOHA_GRIPPER_OPEN_RAD,
  ALOHA_READ_IDS,
  type AlohaMotor,
  alohaMotors,
} from '../../protocols/aloha/motor-map.js';
import { CENTRE_TICKS, REG, TICKS_PER_REV } from '../../protocols/dynamixel/control-table.js';

const TICKS_PER_RAD = TICKS_PER_REV / (2 * Math.PI);
/** A joint that moved less than this during the range step was not moved. */
const MIN_TRAVEL_TICKS = 20;

const POSE = ALOHA_CALIBRATION_POSE_RAD;
export const CALIBRATION_POSE_TEXT =
  `ACT's start pose: waist 0, shoulder ${POSE[1]}, elbow ${POSE[2]}, forearm_roll ` +
  `0, wrist_angle ${POSE[4]}, wrist_rotate 0 rad, gripper fully open`;

/** Angle (rad) each motor should read in the calibration pose; shadows share their primary's. */
function poseAngle(m: AlohaMotor, motors: readonly AlohaMotor[]): number {
  const joint = m.shadow_of !== undefined ? motors.find((p) => p.id === m.shadow_of)!.joint : m.joint;
  return joint === 'gripper' ? ALOHA_GRIPPER_OPEN_RAD : POSE[joint!];
}

export interface CalibratorSteps {
  /**
   * Resolves when the user supports the arm (or it rests on its stops): torque goes off next on these
   * motors, which hold the arm now. Called only when some motor has torque on.
   */
  support(torque_on: readonly AlohaMotor[]): Promise<void>;
  /** Resolves when the arm is in the calibration pose. */
  pose(): Promise<void>;
  /** Resolves when the user has moved every joint through its travel (ranges are sampled until then). */
  ranges(): Promise<void>;
  /** Use the nominal ranges, widened by what was observed (no one moved the arm). */
  nominal_ranges: boolean;
}

export class AlohaCalibrator {
  private readonly motors = alohaMotors('follower');
  private readonly ticks = new Int32Array(ALOHA_READ_IDS.length);

  constructor(
    private readonly bus: DynamixelBus,
    private readonly limits: ArmJointLimits,
  ) {}

  async run(steps: CalibratorSteps): Promise<ArmCalibration> {
    const holding: AlohaMotor[] = [];
    for (const m of this.motors) if ((await this.bus.readRegister(m.id, REG.torque_enable)) !== 0) holding.push(m);
    if (holding.length) await steps.support(holding);
    await this.resetRegisters();
    await steps.pose();
    await this.bus.syncRead(REG.present_position, ALOHA_READ_IDS, this.ticks);
    const offsets = this.motors.map(
      (m, i) => Math.round(CENTRE_TICKS + poseAngle(m, this.motors) * TICKS_PER_RAD) - this.ticks[i],
    );
    for (let i = 0; i < this.motors.length; i++)
      await this.bus.writeRegister(this.motors[i].id, REG.homing_offset, offsets[i]);

    const lo = new Int32Array(this.motors.length).fill(2 ** 31 - 1);
    const hi = new Int32Array(this.motors.length).fill(-(2 ** 31));
    let done = false;
    let failed: unknown;
    const finished = steps.ranges().then(
      () => {
        done = true;
      },
      (err: unknown) => {
        failed = err;
        done = true;
      },
    );
    do {
      await this.bus.syncRead(REG.present_position, ALOHA_READ_IDS, this.ticks);
      for (let i = 0; i < this.ticks.length; i++) {
        lo[i] = Math.min(lo[i], this.ticks[i]);
        hi[i] = Math.max(hi[i], this.ticks[i]);
      }
      if (!done) await Promise.race([finished, new Promise((r) => setTimeout(r, 20))]);
    } while (!done);
    if (failed !== undefined) throw failed;

    const cal: ArmCalibration = {};
    const still: string[] = [];
    this.motors.forEach((m, i) => {
      let [min, max] = [lo[i], hi[i]];
      if (steps.nominal_ranges) {
        const [nlo, nhi] = nominalRange(m, this.motors, this.limits);
        [min, max] = [Math.min(min, nlo), Math.max(max, nhi)];
      } else if (max - min < MIN_TRAVEL_TICKS) still.push(m.name);
      cal[m.name] = { id: m.id, drive_mode: m.drive_mode, homing_offset: offsets[i], range_min: min, range_max: max };
    });
    if (still.length)
      throw new Error(
        `${this.bus.name}: these motors did not move during the range step: ${still.join(', ')} (move each joint ` +
          `from end to end)`,
      );
    return validateArmCalibration(cal, this.motors, this.bus.name);
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
