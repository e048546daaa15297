// The emulated ALOHA follower arms: 9 servos per arm wired to the MuJoCo ALOHA sim (the leader arms, which only
// report where a person holds them, are in leader-arm.ts and share the wiring here). Each servo reads the
// angle of its joint through its mounting (a fixed offset in ticks and a direction; shadows are mounted
// mirrored), so an uncalibrated driver sees raw ticks like on a real arm, and a calibrated one sees
// radians. Torque-on servos command their goal to the sim; a servo with torque off stays where it is
// unless an operator moves it by hand (moveByHand, the sim link's 'hand' op: the limp joints are pushed
// to where the operator puts them; holding ones do not give way). A primary and its shadow with goals more than
// SHADOW_FIGHT_RAD apart fight each other and both go into an overload alarm, as real ones would.

import { nominalRange } from '../../calibration/aloha-nominal-ranges.js';
import type { ArmCalibration } from '../../calibration/motor-calibration.js';
import {
  ALOHA_GRIPPER_CLOSED_RAD,
  ALOHA_GRIPPER_OPEN_RAD,
  type AlohaMotor,
  type AlohaRole,
  type AlohaSide,
  alohaMotors,
} from '../../protocols/aloha/motor-map.js';
import { CENTRE_TICKS, TICKS_PER_REV } from '../../protocols/dynamixel/control-table.js';
import { alohaArms } from '../robots/aloha.js';
import type { SimArmState, SimEnv } from '../sim-env.js';
import { EmulatedServo } from './servo.js';

const TICKS_PER_RAD = TICKS_PER_REV / (2 * Math.PI);
const SHADOW_FIGHT_RAD = 0.35;
const OVERLOAD = 0x20;

/**
 * Mounting offsets (ticks) of the emulated motors, by ID: how far each horn sits from the ideal zero.
 * Fixed so that the shipped calibration (calibration/aloha/) matches the emulator exactly.
 */
const MOUNT_OFFSET_TICKS: Record<AlohaRole, Record<AlohaSide, number[]>> = {
  follower: {
    //      ID: 1     2    3     4    5    6     7    8     9
    left: [0, 113, -87, 64, -142, 38, 205, -61, 92, -120],
    right: [0, -74, 131, -45, 97, -156, -33, 118, -109, 57],
  },
  leader: {
    left: [0, -52, 77, -23, 140, -96, 11, 63, -38, 84],
    right: [0, 88, -41, 129, -67, 25, -118, 49, 70, -93],
  },
};

export interface WiredMotor {
  motor: AlohaMotor;
  servo: EmulatedServo;
  /** +1 or -1: direction of the horn relative to the sim joint. */
  mount_sign: number;
  mount_offset_ticks: number;
  /** Sim joint index within the arm, or 'gripper'. */
  joint: number | 'gripper';
}

export class EmulatedAlohaArm {
  readonly servos: EmulatedServo[];
  private readonly wired: WiredMotor[];

  constructor(
    readonly side: AlohaSide,
    readonly index: number,
  ) {
    this.wired = wireArm(side, 'follower');
    this.servos = this.wired.map((w) => w.servo);
  }

  /** Present positions from the sim state (this arm's slice). */
  sense(state: SimArmState, joints_per_arm: number): void {
    for (const w of this.wired) {
      const j = w.joint;
      const angle =
        j === 'gripper' ? gripperAngle(state.gripper[this.index]) : state.position_rad[this.index * joints_per_arm + j];
      const vel = j === 'gripper' ? 0 : state.velocity_rad_s[this.index * joints_per_arm + j];
      w.servo.setMechanical(this.ticksOf(w, angle), w.mount_sign * vel);
    }
  }

  /**
   * Write this arm's part of the sim action: torque-on joints go to their goal, the rest hold `hold`
   * (the command of the previous tick). Checks shadows against their primaries first.
   */
  command(action: Float64Array, joints_per_arm: number): void {
    this.checkShadows();
    const base = this.index * (joints_per_arm + 1);
    for (const w of this.wired) {
      if (w.motor.shadow_of !== undefined || !w.servo.torqueOn) continue;
      const angle = this.angleOf(w, w.servo.goalMechanical());
      if (w.joint === 'gripper') action[base + joints_per_arm] = gripperOpening(angle);
      else action[base + w.joint] = angle;
    }
  }

  /** Whether the servo of this joint holds it (torque on): then a hand cannot move it. */
  holds(joint: number | 'gripper'): boolean {
    return this.wired.some((w) => w.motor.shadow_of === undefined && w.joint === joint && w.servo.torqueOn);
  }

  /** Goals become the present positions (after the sim was reset under the servos). */
  goalsToPresent(): void {
    for (const s of this.servos) s.goalToPresent();
  }

  private checkShadows(): void {
    for (const w of this.wired) {
      if (w.motor.shadow_of === undefined) continue;
      const p = this.wired.find((x) => x.motor.id === w.motor.shadow_of)!;
      if (!w.servo.torqueOn || !p.servo.torqueOn) continue;
      const apart = Math.abs(this.angleOf(w, w.servo.goalMechanical()) - this.angleOf(p, p.servo.goalMechanical()));
      if (apart > SHADOW_FIGHT_RAD) {
        w.servo.raiseHardwareError(OVERLOAD);
        p.servo.raiseHardwareError(OVERLOAD);
      }
    }
  }

  private ticksOf(w: WiredMotor, angle_rad: number): number {
    return mountedTicks(w, angle_rad);
  }

  private angleOf(w: WiredMotor, mechanical_ticks: number): number {
    return ((mechanical_ticks - CENTRE_TICKS - w.mount_offset_ticks) / TICKS_PER_RAD) * w.mount_sign;
  }
}

/** One arm's 9 servos as mounted, in factory state (drive mode 0, no homing offset; shadows' Secondary_ID set). */
export function wireArm(side: AlohaSide, role: AlohaRole): WiredMotor[] {
  const motors = alohaMotors(role);
  return motors.map((m) => {
    const primary = m.shadow_of !== undefined ? motors.find((p) => p.id === m.shadow_of)! : m;
    // reversed-drive motors are mounted backwards; a shadow is mounted mirrored to its primary
    const primarySign = primary.drive_mode === 1 ? -1 : 1;
    return {
      motor: m,
      servo: new EmulatedServo({ id: m.id, model: m.model, operating_mode: 3, secondary_id: m.shadow_of }),
      mount_sign: m.shadow_of !== undefined ? -primarySign : primarySign,
      mount_offset_ticks: MOUNT_OFFSET_TICKS[role][side][m.id],
      joint: primary.joint!,
    };
  });
}

/** A joint angle (rad) -> the mechanical ticks its motor reads through its mounting. */
export function mountedTicks(w: WiredMotor, angle_rad: number): number {
  return CENTRE_TICKS + w.mount_offset_ticks + w.mount_sign * angle_rad * TICKS_PER_RAD;
}

/** Sim gripper opening (0 closed .. 1 open) -> gripper motor angle. */
export function gripperAngle(opening: number): number {
  return ALOHA_GRIPPER_CLOSED_RAD + opening * (ALOHA_GRIPPER_OPEN_RAD - ALOHA_GRIPPER_CLOSED_RAD);
}

function gripperOpening(angle_rad: number): number {
  return Math.min(
    1,
    Math.max(0, (angle_rad - ALOHA_GRIPPER_CLOSED_RAD) / (ALOHA_GRIPPER_OPEN_RAD - ALOHA_GRIPPER_CLOSED_RAD)),
  );
}

/** Both follower arms on the sim: one step of the coupling per control tick. */
export class EmulatedAlohaRig {
  readonly arms: EmulatedAlohaArm[];
  private readonly state: SimArmState;
  private readonly action: Float64Array;
  private readonly jointsPerArm: number;

  constructor(readonly env: SimEnv) {
    if (env.robot.name !== 'aloha')
      throw new Error(`the Dynamixel emulator needs the ALOHA sim, got '${env.robot.name}'`);
    this.arms = (['left', 'right'] as const).map((side, i) => new EmulatedAlohaArm(side, i));
    this.state = env.newState();
    this.action = new Float64Array(env.action_dim);
    this.jointsPerArm = env.robot.arms[0].links.length;
    this.reset(0);
  }

  /** New episode: the sim resets, the servos find themselves at home and hold it. */
  reset(seed: number): void {
    this.env.reset(seed);
    this.env.readState(this.state);
    this.holdAction();
    for (const a of this.arms) {
      a.sense(this.state, this.jointsPerArm);
      a.goalsToPresent();
    }
  }

  /** One control tick: goals -> sim action, physics, sim state -> present positions. */
  tick(): void {
    for (const a of this.arms) a.command(this.action, this.jointsPerArm);
    this.env.applyAction(this.action);
    this.env.step();
    this.env.readState(this.state);
    for (const a of this.arms) a.sense(this.state, this.jointsPerArm);
  }

  /**
   * An operator takes one arm by hand towards `position_rad` (its 6 joints) and `gripper` (0 closed .. 1 open):
   * the limp joints (torque off) go there and stay; joints whose servo holds do not give way.
   */
  moveByHand(side: AlohaSide, position_rad: readonly number[], gripper?: number): void {
    const a = this.armIndex(side);
    const base = a * (this.jointsPerArm + 1);
    for (let j = 0; j < this.jointsPerArm; j++) if (!this.arms[a].holds(j)) this.action[base + j] = position_rad[j];
    if (gripper !== undefined && !this.arms[a].holds('gripper')) this.action[base + this.jointsPerArm] = gripper;
  }

  /** Where one arm is now: its 6 joints (rad) and gripper (0 closed .. 1 open). */
  armPose(side: AlohaSide): { position_rad: number[]; gripper: number } {
    const a = this.armIndex(side);
    const j0 = a * this.jointsPerArm;
    return {
      position_rad: Array.from(this.state.position_rad.subarray(j0, j0 + this.jointsPerArm)),
      gripper: this.state.gripper[a],
    };
  }

  private armIndex(side: string): number {
    const a = this.arms.findIndex((x) => x.side === side);
    if (a < 0) throw new Error(`no arm '${side}' (valid: ${this.arms.map((x) => x.side).join(', ')})`);
    return a;
  }

  /** The action that keeps everything where it is (what torque-off servos do). */
  private holdAction(): void {
    let k = 0;
    for (let a = 0; a < this.arms.length; a++) {
      for (let j = 0; j < this.jointsPerArm; j++) this.action[k++] = this.state.position_rad[a * this.jointsPerArm + j];
      this.action[k++] = this.state.gripper[a];
    }
  }
}

/**
 * The exact calibration of an emulated arm (what vla-calibrate --yes measures, without the few ticks the
 * arm settles by): shipped as calibration/aloha/<side>_<role>.json. The emulated leader's gripper handle has
 * the follower gripper's travel (a real handle's differs; its calibration's range says by how much).
 */
export function emulatorCalibration(side: AlohaSide, role: AlohaRole = 'follower'): ArmCalibration {
  const motors = alohaMotors(role);
  const limits = alohaArms()[0].links.map((l) => l.range_rad);
  const cal: ArmCalibration = {};
  for (const m of motors) {
    // reversed motors are mounted backwards, so drive mode and mounting cancel: present = 2048 + angle
    const driveSign = m.drive_mode === 1 ? -1 : 1;
    const [range_min, range_max] = nominalRange(m, motors, limits);
    cal[m.name] = {
      id: m.id,
      drive_mode: m.drive_mode,
      homing_offset: CENTRE_TICKS - driveSign * (CENTRE_TICKS + MOUNT_OFFSET_TICKS[role][side][m.id]),
      range_min,
      range_max,
    };
  }
  return cal;
}
