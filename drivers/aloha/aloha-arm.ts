// One ALOHA arm on its own Dynamixel bus. Per control tick a follower costs one SYNC_READ of
// Present_Position (all 9 motors, shadows included so their alarms are seen) and one SYNC_WRITE of
// Goal_Position (the 7 primaries; shadows follow through Secondary_ID). Ticks <-> radians through the
// calibration: 2048 ticks is a joint's zero; the gripper is normalised 0 closed .. 1 open over its range.
// A follower gets its calibration into the motors' EEPROM so that the shadows, which take the same goal
// bytes as their primaries, agree; only registers that differ are written, and never by switching off
// the torque of an arm that may be holding itself up (eeprom-plan.ts). A leader is only read: its
// registers are read once and the calibration is applied in software. No goal is ever computed from a
// failed read.

import type { ArmCalibration } from '../../calibration/motor-calibration.js';
import {
  ALOHA_GRIPPER_ID,
  ALOHA_JOINT_IDS,
  ALOHA_READ_IDS,
  ALOHA_WRITE_IDS,
  type AlohaMotor,
  type AlohaRole,
  type AlohaSide,
  alohaMotors,
} from '../../protocols/aloha/motor-map.js';
import {
  CENTRE_TICKS,
  describeHardwareError,
  MODEL_NUMBER,
  type ModelName,
  REG,
  type Register,
  TICKS_PER_REV,
} from '../../protocols/dynamixel/control-table.js';
import { DynamixelBus, type PreparedRequest } from '../dynamixel/bus.js';
import type { BusOptions } from '../dynamixel/bus-options.js';
import { DynamixelError } from '../dynamixel/errors.js';
import {
  changesNeedingTorqueOff,
  EEPROM_REGISTERS_READ,
  type EepromApplied,
  type EepromPlan,
  type EepromReadings,
  planEepromChanges,
  TorqueOffRefused,
  torqueOffIds,
} from './eeprom-plan.js';

const TICKS_PER_RAD = TICKS_PER_REV / (2 * Math.PI);

export interface AlohaArmOptions {
  side: AlohaSide;
  role?: AlohaRole;
  port: string;
  /** Already validated (calibration/motor-calibration.ts). */
  calibration: ArmCalibration;
  bus?: Pick<BusOptions, 'baud_rate' | 'timeout_ms' | 'retries'>;
}

export interface ArmReading {
  /** 6 joints (rad), in ALOHA_JOINT_NAMES order. */
  position_rad: Float64Array;
  /** 0 closed .. 1 open. */
  gripper: number;
  /** Calibrated ticks of all 9 motors, ALOHA_READ_IDS order. */
  ticks: Int32Array;
}

export interface HardwareAlert {
  arm: string;
  id: number;
  motor: string;
  bits: number;
  message: string;
}

export class ArmFault extends DynamixelError {
  override name = 'ArmFault';
}

/** How a per-tick request ended: no error, or why (then nothing from it is used). */
export type TickDone = (err: Error | undefined) => void;

/** motor ticks -> calibrated ticks: sign * (p - motor_offset) + cal_offset (identity once configured). */
interface TickMap {
  sign: 1 | -1;
  motor_offset: number;
  cal_offset: number;
}

export class AlohaArm {
  readonly name: string;
  readonly role: AlohaRole;
  readonly motors: readonly AlohaMotor[];
  private readonly raw = new Int32Array(ALOHA_READ_IDS.length);
  private readonly goals = new Int32Array(ALOHA_WRITE_IDS.length);
  private readonly maps: TickMap[];
  private readonly last: ArmReading = {
    position_rad: new Float64Array(6),
    gripper: 0,
    ticks: new Int32Array(ALOHA_READ_IDS.length),
  };
  /** The per-tick SYNC_READ and SYNC_WRITE, prepared once (no allocation per tick); who hears how they end. */
  private readonly tickRead: PreparedRequest;
  private readonly tickWrite: PreparedRequest;
  private readDone: TickDone = () => {};
  private writeDone: TickDone = () => {};

  static async open(opts: AlohaArmOptions): Promise<AlohaArm> {
    const role = opts.role ?? 'follower';
    const name = `${opts.side} ${role}`;
    const bus = await DynamixelBus.open({ path: opts.port, name, ...opts.bus });
    try {
      const arm = new AlohaArm(bus, name, role, opts.calibration);
      await arm.checkMotors();
      await arm.loadTickMaps();
      return arm;
    } catch (err) {
      await bus.close();
      throw err;
    }
  }

  private constructor(
    readonly bus: DynamixelBus,
    name: string,
    role: AlohaRole,
    private readonly cal: ArmCalibration,
  ) {
    this.name = name;
    this.role = role;
    this.motors = alohaMotors(role);
    this.maps = this.motors.map(() => ({ sign: 1, motor_offset: 0, cal_offset: 0 }));
    this.tickRead = bus.prepareSyncRead(REG.present_position, ALOHA_READ_IDS, this.raw, (err) => {
      if (err === undefined) this.decodeReading();
      this.readDone(err);
    });
    this.tickWrite = bus.prepareSyncWrite(REG.goal_position, ALOHA_WRITE_IDS, this.goals, (err) => this.writeDone(err));
  }

  /**
   * Read the EEPROM registers the calibration sets (operating mode, drive mode, homing offset, a shadow's
   * Secondary_ID) and the torque of every motor, and list what differs. Reads only. Follower only.
   */
  async planConfiguration(): Promise<EepromPlan> {
    this.requireFollower('configure');
    const read: EepromReadings = new Map();
    for (const m of this.motors) {
      const values = new Map<Register, number>();
      for (const reg of EEPROM_REGISTERS_READ) values.set(reg, await this.bus.readRegister(m.id, reg));
      read.set(m.id, { torque_on: (await this.bus.readRegister(m.id, REG.torque_enable)) !== 0, values });
    }
    return {
      arm: this.name,
      path: this.bus.path,
      changes: planEepromChanges(this.motors, this.cal, read),
      torque_on_ids: new Set([...read].filter(([, r]) => r.torque_on).map(([id]) => id)),
      final: this.motors.map((m) => ({
        drive_mode: this.cal[m.name].drive_mode,
        homing_offset: this.cal[m.name].homing_offset,
      })),
    };
  }

  /**
   * Write what the plan found different, nothing else, then read the registers back. A motor whose
   * torque is on is switched off first only with `allow_torque_off` (the user rested the arm); otherwise
   * TorqueOffRefused, with nothing written. Motors switched off stay off until setTorque(true).
   */
  async applyConfiguration(plan: EepromPlan, opts: { allow_torque_off: boolean }): Promise<EepromApplied> {
    const risky = changesNeedingTorqueOff(plan);
    if (risky.length && !opts.allow_torque_off)
      throw new TorqueOffRefused(risky.map((change) => ({ arm: plan.arm, path: plan.path, change })));
    if (plan.changes.length === 0) {
      plan.final.forEach((f, i) => {
        this.setTickMap(i, f.drive_mode, f.homing_offset);
      });
      return { arm: this.name, eeprom_writes: 0, torque_off_ids: [] };
    }
    const torque_off_ids = torqueOffIds(plan);
    for (const id of torque_off_ids) await this.bus.writeRegister(id, REG.torque_enable, 0);
    for (const c of plan.changes) await this.bus.writeRegister(c.motor.id, c.reg, c.want);
    const left = (await this.planConfiguration()).changes;
    if (left.length)
      throw new ArmFault(
        `${this.name}: EEPROM registers did not take the calibration: ${left
          .map((c) => `ID ${c.motor.id} (${c.motor.name}) ${c.reg.name} is ${c.have}, wanted ${c.want}`)
          .join('; ')}`,
      );
    plan.final.forEach((f, i) => {
      this.setTickMap(i, f.drive_mode, f.homing_offset);
    });
    return { arm: this.name, eeprom_writes: plan.changes.length, torque_off_ids };
  }

  /** planConfiguration() then applyConfiguration(): for one arm on its own (the driver checks both arms first). */
  async configure(opts: { allow_torque_off: boolean } = { allow_torque_off: false }): Promise<EepromApplied> {
    return this.applyConfiguration(await this.planConfiguration(), opts);
  }

  /**
   * Torque on holds the measured pose: every motor's Goal_Position is first set to its own
   * Present_Position, in motor ticks, so nothing moves when torque comes on (no calibration round trip,
   * no clamping into the calibrated range for a joint resting outside it). Off lets the arm go limp:
   * only for a resting arm.
   */
  async setTorque(on: boolean): Promise<void> {
    this.requireFollower('set torque');
    if (on) {
      await this.read(this.bus.setup_timeout_ms);
      // the shadows are listed after their primaries, so a shadow's own goal overrides the one it took
      // from its primary through Secondary_ID
      await this.bus.syncWrite(REG.goal_position, ALOHA_READ_IDS, this.raw);
    }
    for (const m of this.motors) await this.bus.writeRegister(m.id, REG.torque_enable, on ? 1 : 0);
  }

  /**
   * One SYNC_READ of Present_Position. Throws (and forgets the last pose) if any motor does not answer.
   * `timeout_ms`: per attempt, the bus's per-tick timeout unless set-up code asks for its own;
   * `deadline_ms` (monotonicMs()): the end of the control tick, past which the read is abandoned.
   */
  async read(timeout_ms = this.bus.timeout_ms, deadline_ms = Infinity): Promise<ArmReading> {
    await this.bus.syncRead(REG.present_position, ALOHA_READ_IDS, this.raw, timeout_ms, deadline_ms);
    return this.decodeReading();
  }

  /**
   * read() for the control tick, without allocating: `done` hears how it ended; then reading() is the pose.
   * `timeout_ms`: per attempt, as for read().
   */
  sendRead(deadline_ms: number, done: TickDone, timeout_ms = this.bus.timeout_ms): void {
    this.readDone = done;
    this.tickRead.send(deadline_ms, timeout_ms);
  }

  /** The pose the last successful read decoded (reused: copy what must be kept). */
  reading(): ArmReading {
    return this.last;
  }

  private decodeReading(): ArmReading {
    const r = this.last;
    for (let i = 0; i < ALOHA_READ_IDS.length; i++) r.ticks[i] = this.toCalibrated(i, this.raw[i]);
    for (let j = 0; j < ALOHA_JOINT_IDS.length; j++)
      r.position_rad[j] = (r.ticks[ALOHA_JOINT_IDS[j] - 1] - CENTRE_TICKS) / TICKS_PER_RAD;
    const g = this.cal.gripper;
    r.gripper = clamp01((r.ticks[ALOHA_GRIPPER_ID - 1] - g.range_min) / (g.range_max - g.range_min));
    return r;
  }

  /**
   * One SYNC_WRITE of Goal_Position: 6 joint targets (rad) and the gripper (0 closed .. 1 open). Goals come
   * from the runtime's safety filter, within the calibrated travel (calibrated-limits.ts); one outside it
   * is refused with nothing sent.
   */
  async write(position_rad: ArrayLike<number>, gripper: number): Promise<void> {
    this.setGoals(position_rad, gripper);
    await this.bus.syncWrite(REG.goal_position, ALOHA_WRITE_IDS, this.goals);
  }

  /**
   * write() for the control tick, without allocating: the joints are position_rad[at, at + 6). A goal
   * outside the calibrated travel throws ArmFault here, with nothing sent; a failure on the wire reaches `done`.
   */
  sendWrite(position_rad: ArrayLike<number>, gripper: number, done: TickDone, at = 0): void {
    this.setGoals(position_rad, gripper, at);
    this.writeDone = done;
    this.tickWrite.send();
  }

  /** Goals from position_rad[at, at + 6) and the gripper. */
  private setGoals(position_rad: ArrayLike<number>, gripper: number, at = 0): void {
    this.requireFollower('write goals');
    for (let j = 0; j < ALOHA_JOINT_IDS.length; j++) {
      this.goals[j] = this.goalTicks(ALOHA_JOINT_IDS[j], CENTRE_TICKS + position_rad[at + j] * TICKS_PER_RAD);
    }
    const g = this.cal.gripper;
    this.goals[6] = this.goalTicks(ALOHA_GRIPPER_ID, g.range_min + gripper * (g.range_max - g.range_min));
  }

  /** Motors that raised a hardware alert, with their Hardware_Error_Status decoded. */
  async hardwareAlerts(): Promise<HardwareAlert[]> {
    const out: HardwareAlert[] = [];
    for (const id of [...this.bus.alerts].sort((a, b) => a - b)) {
      const motor = this.motors.find((m) => m.id === id)?.name ?? `ID ${id}`;
      let bits = -1;
      try {
        bits = await this.bus.readRegister(id, REG.hardware_error_status);
      } catch {
        /* reported below with unknown bits */
      }
      const what = bits < 0 ? 'status unreadable' : describeHardwareError(bits);
      out.push({
        arm: this.name,
        id,
        motor,
        bits,
        message: `${this.name}: hardware alert on ID ${id} (${motor}): ${what}`,
      });
    }
    return out;
  }

  get hasAlert(): boolean {
    return this.bus.alerts.size > 0;
  }

  async close(): Promise<void> {
    await this.bus.close();
  }

  private async checkMotors(): Promise<void> {
    const missing: number[] = [];
    for (const m of this.motors) {
      try {
        const { model_number } = await this.bus.ping(m.id);
        if (model_number !== MODEL_NUMBER[m.model]) {
          const found =
            (Object.keys(MODEL_NUMBER) as ModelName[]).find((k) => MODEL_NUMBER[k] === model_number) ??
            `model ${model_number}`;
          throw new ArmFault(
            `${this.name}: ID ${m.id} (${m.name}) is a ${found}, expected ${m.model} (is ${this.bus.path} ` +
              `the ${this.role} arm's port?)`,
          );
        }
      } catch (err) {
        if (err instanceof ArmFault) throw err;
        missing.push(m.id);
      }
    }
    if (missing.length)
      throw new ArmFault(
        `${this.name} on ${this.bus.path}: no reply from ID${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ` +
          `(${missing.map((id) => this.motors[id - 1].name).join(', ')})`,
      );
  }

  /** Read each motor's drive mode and homing offset, to map its ticks onto the calibration's. */
  private async loadTickMaps(): Promise<void> {
    for (let i = 0; i < this.motors.length; i++) {
      const m = this.motors[i];
      this.setTickMap(
        i,
        await this.bus.readRegister(m.id, REG.drive_mode),
        await this.bus.readRegister(m.id, REG.homing_offset),
      );
    }
  }

  private setTickMap(i: number, drive_mode: number, homing_offset: number): void {
    const c = this.cal[this.motors[i].name];
    this.maps[i] = {
      sign: (drive_mode & 1) === (c.drive_mode & 1) ? 1 : -1,
      motor_offset: homing_offset,
      cal_offset: c.homing_offset,
    };
  }

  private toCalibrated(i: number, motorTicks: number): number {
    const t = this.maps[i];
    return t.sign * (motorTicks - t.motor_offset) + t.cal_offset;
  }

  /** Calibrated target -> motor goal; a target that is not finite or leaves the calibrated travel is refused. */
  private goalTicks(id: number, calibrated: number): number {
    const m = this.motors[id - 1];
    const c = this.cal[m.name];
    const ticks = Math.round(calibrated);
    if (!(ticks >= c.range_min && ticks <= c.range_max)) {
      throw new ArmFault(
        `${this.name}: goal ${calibrated} ticks for ID ${id} (${m.name}) is outside its calibrated travel ` +
          `${c.range_min}..${c.range_max}; nothing sent`,
      );
    }
    const t = this.maps[id - 1];
    return t.sign * (ticks - t.cal_offset) + t.motor_offset;
  }

  private requireFollower(what: string): void {
    if (this.role !== 'follower') throw new ArmFault(`${this.name}: a leader arm is read-only (cannot ${what})`);
  }
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}
