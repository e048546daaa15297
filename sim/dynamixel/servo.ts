// One emulated X-series servo: its control table, and the register semantics a driver can observe.
//  - EEPROM registers (address < 64) are writable only with torque off (else access error);
//  - read-only registers refuse writes (access error); a write past the table is a data range error;
//  - Present_Position = (reversed ? -mechanical : mechanical) + Homing_Offset, Goal_Position the inverse;
//  - in position mode (3) a goal outside Min/Max_Position_Limit is a data limit error;
//  - a hardware error (Hardware_Error_Status != 0) switches torque off, keeps it off and sets the alert
//    bit (ERR bit 7) of every status packet, as on the real servo until it is rebooted.
// Counters record what a real arm would feel: EEPROM writes, torque switched off by a driver (a real arm
// that is not resting drops), and how far the goal was from the present position when torque came on
// (a real servo would jump there; this one holds where it is, see write()).
import {
  CONTROL_TABLE_SIZE,
  DRIVE_MODE_REVERSE,
  MODEL_NUMBER,
  type ModelName,
  OPERATING_MODE,
  REG,
  type Register,
  STATUS_ALERT_BIT,
  STATUS_ERROR,
} from '../../protocols/dynamixel/control-table.js';
import { readIntLE, writeIntLE } from '../../protocols/dynamixel/packet.js';

export interface ServoSpec {
  id: number;
  model: ModelName;
  baud_rate_code?: number;
  drive_mode?: number;
  operating_mode?: number;
  secondary_id?: number;
}

const FIRMWARE_VERSION = 48;

export interface ServoSafetyCounters {
  /** Accepted writes that touched an EEPROM register. */
  eeprom_writes: number;
  /** Writes that switched torque from on to off (an alarm switching it off is not counted). */
  torque_off_writes: number;
  torque_on_writes: number;
  /** Largest |Goal_Position - Present_Position| (ticks) at the moment torque was switched on. */
  max_goal_jump_at_torque_on_ticks: number;
}
/** Present_Velocity unit: 0.229 rev/min. */
const VELOCITY_UNIT_RAD_S = (0.229 * 2 * Math.PI) / 60;

export class EmulatedServo {
  readonly table = new Uint8Array(CONTROL_TABLE_SIZE);
  readonly model: ModelName;
  readonly counters: ServoSafetyCounters = {
    eeprom_writes: 0,
    torque_off_writes: 0,
    torque_on_writes: 0,
    max_goal_jump_at_torque_on_ticks: 0,
  };
  private mechanical_ticks = 2048;
  private mechanical_velocity_rad_s = 0;

  constructor(spec: ServoSpec) {
    this.model = spec.model;
    this.set(REG.model_number, MODEL_NUMBER[spec.model]);
    this.set(REG.firmware_version, FIRMWARE_VERSION);
    this.set(REG.id, spec.id);
    this.set(REG.baud_rate, spec.baud_rate_code ?? 3);
    this.set(REG.return_delay_time, 0);
    this.set(REG.drive_mode, spec.drive_mode ?? 0);
    this.set(REG.operating_mode, spec.operating_mode ?? OPERATING_MODE.position);
    this.set(REG.secondary_id, spec.secondary_id ?? 255);
    this.set(REG.velocity_limit, 131);
    this.set(REG.max_position_limit, 4095);
    this.set(REG.min_position_limit, 0);
  }

  get id(): number {
    return this.get(REG.id);
  }
  /** 255 = none (values above 252 disable Secondary_ID). */
  get secondaryId(): number {
    return this.get(REG.secondary_id);
  }
  get torqueOn(): boolean {
    return this.get(REG.torque_enable) === 1;
  }
  get hardwareError(): number {
    return this.get(REG.hardware_error_status);
  }
  private get reversed(): boolean {
    return (this.get(REG.drive_mode) & DRIVE_MODE_REVERSE) !== 0;
  }

  get(reg: Register): number {
    return readIntLE(this.table, reg.address, reg.size);
  }

  set(reg: Register, value: number): void {
    writeIntLE(this.table, reg.address, reg.size, value);
  }

  /** ERR byte for a status packet with no instruction error. */
  statusByte(): number {
    return this.hardwareError ? STATUS_ALERT_BIT : 0;
  }

  /** The motor's own position (ticks, before drive mode and homing offset), from the physics. */
  setMechanical(position_ticks: number, velocity_rad_s: number): void {
    this.mechanical_ticks = position_ticks;
    this.mechanical_velocity_rad_s = velocity_rad_s;
    this.refreshPresent();
  }

  /** Present registers follow drive mode and homing offset at once, not at the next physics tick. */
  private refreshPresent(): void {
    const sign = this.reversed ? -1 : 1;
    this.set(REG.present_position, Math.round(sign * this.mechanical_ticks) + this.get(REG.homing_offset));
    this.set(REG.present_velocity, Math.round((sign * this.mechanical_velocity_rad_s) / VELOCITY_UNIT_RAD_S));
  }

  /** Where the goal asks the motor to be, in its own ticks. */
  goalMechanical(): number {
    const g = this.get(REG.goal_position) - this.get(REG.homing_offset);
    return this.reversed ? -g : g;
  }

  /** Make the goal the present position (the arm was moved there and holds it). */
  goalToPresent(): void {
    this.set(REG.goal_position, this.get(REG.present_position));
  }

  raiseHardwareError(bits: number): void {
    this.set(REG.hardware_error_status, bits);
    this.set(REG.torque_enable, 0);
  }

  /** Reads into out[at..]; returns a status error code (0 = fine). */
  read(address: number, length: number, out: Uint8Array, at: number): number {
    if (address + length > CONTROL_TABLE_SIZE || length === 0) return STATUS_ERROR.data_range;
    out.set(this.table.subarray(address, address + length), at);
    return 0;
  }

  /** Applies a write of data[0, length) at `address`; returns a status error code (0 = fine). */
  write(address: number, data: Uint8Array, length = data.length): number {
    if (length === 0) return STATUS_ERROR.data_length;
    if (address + length > CONTROL_TABLE_SIZE) return STATUS_ERROR.data_range;
    let eeprom = false;
    for (const reg of Object.values(REG)) {
      const overlaps = address < reg.address + reg.size && reg.address < address + length;
      if (!overlaps) continue;
      if (reg.read_only) return STATUS_ERROR.access;
      if (reg.eeprom && this.torqueOn) return STATUS_ERROR.access;
      eeprom ||= reg.eeprom;
    }
    const goalAt = REG.goal_position.address - address;
    if (goalAt >= 0 && goalAt + 4 <= length && this.get(REG.operating_mode) === OPERATING_MODE.position) {
      const goal = readIntLE(data, goalAt, 4);
      if (goal < this.get(REG.min_position_limit) || goal > this.get(REG.max_position_limit))
        return STATUS_ERROR.data_limit;
    }
    const torqueAt = REG.torque_enable.address - address;
    const enabling = torqueAt >= 0 && torqueAt < length && data[torqueAt] === 1 && !this.torqueOn;
    const disabling = torqueAt >= 0 && torqueAt < length && data[torqueAt] === 0 && this.torqueOn;
    this.table.set(data.subarray(0, length), address);
    this.refreshPresent();
    if (eeprom) this.counters.eeprom_writes++;
    if (disabling) this.counters.torque_off_writes++;
    if (enabling && !this.hardwareError) {
      this.counters.torque_on_writes++;
      const jump = Math.abs(this.get(REG.goal_position) - this.get(REG.present_position));
      this.counters.max_goal_jump_at_torque_on_ticks = Math.max(this.counters.max_goal_jump_at_torque_on_ticks, jump);
    }
    // a servo in alarm keeps its torque off until it is rebooted
    if (this.hardwareError) this.set(REG.torque_enable, 0);
    // enabling torque holds where the motor is rather than chasing a goal written long ago (emulator's choice)
    if (enabling && this.torqueOn && !(goalAt >= 0 && goalAt < length)) this.goalToPresent();
    return 0;
  }
}
