// One emulated X-series servo: its control table, and the register semantics a driver can observe.
//  - the whole table of its model (x-series-models.ts), from factory defaults; writes are checked as a real
//    servo checks them (table-layout.ts: access, length, range and limit errors; nothing written on error);
//  - EEPROM registers (address < 64) are writable only with torque off (else access error);
//  - computed registers (Realtime_Tick, Moving, Moving_Status, Position_Trajectory, Indirect_Data) are
//    brought up to date when read;
//  - REBOOT: RAM back to its defaults (torque off, Hardware_Error_Status cleared, the goal where the motor
//    is), EEPROM kept, and no answer at all for BOOT_TIME_MS;
//  - Present_Position = (reversed ? -mechanical : mechanical) + Homing_Offset, Goal_Position the inverse;
//  - in position mode (3) a goal outside Min/Max_Position_Limit is a data limit error;
//  - a hardware error (Hardware_Error_Status != 0) switches torque off, keeps it off and sets the alert
//    bit (ERR bit 7) of every status packet, as on the real servo until it is rebooted.
// Counters record what a real arm would feel: EEPROM writes, torque switched off by a driver (a real arm
// that is not resting drops), and how far the goal was from the present position when torque came on
// (a real servo would jump there; this one holds where it is, see write()).
import {
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
import { monotonicMs } from '../../src/util/clock.js';
import { decode, RAM_START, TableLayout } from './table-layout.js';

export interface ServoSpec {
  id: number;
  model: ModelName;
  baud_rate_code?: number;
  drive_mode?: number;
  operating_mode?: number;
  secondary_id?: number;
}

/**
 * How long a rebooted servo does not answer. The emulator's choice: a real X-series blinks its LED and is
 * back within a fraction of a second; a driver must wait for it, which is what this makes it do.
 */
export const BOOT_TIME_MS = 150;
/** Moving_Status bit 0 (in position) within this many ticks of the goal (the emulator's threshold). */
const IN_POSITION_TICKS = 20;
const layouts = new Map<ModelName, TableLayout>();
function layoutOf(model: ModelName): TableLayout {
  const known = layouts.get(model);
  if (known) return known;
  const made = new TableLayout(model);
  layouts.set(model, made);
  return made;
}

export interface ServoSafetyCounters {
  /** Accepted writes that touched an EEPROM register. */
  eeprom_writes: number;
  /** Writes that switched torque from on to off (an alarm switching it off is not counted). */
  torque_off_writes: number;
  torque_on_writes: number;
  /** Largest |Goal_Position - Present_Position| (ticks) at the moment torque was switched on. */
  max_goal_jump_at_torque_on_ticks: number;
  /** Accepted writes that touched Goal_Position: the fault matrix checks none come after a driver stopped. */
  goal_writes: number;
  /**
   * Writes of a Goal_Position outside Min/Max_Position_Limit, refused with a data limit error as a real servo
   * does (in a sync write nobody hears it): the soak's outside count of out-of-limit commands.
   */
  goal_limit_errors: number;
}
/** Present_Velocity unit: 0.229 rev/min. */
const VELOCITY_UNIT_RAD_S = (0.229 * 2 * Math.PI) / 60;

export class EmulatedServo {
  readonly table: Uint8Array;
  readonly model: ModelName;
  private readonly layout: TableLayout;
  /** monotonicMs() before which the servo is booting (deaf and mute). */
  private booting_until_ms = -Infinity;
  readonly counters: ServoSafetyCounters = {
    eeprom_writes: 0,
    torque_off_writes: 0,
    torque_on_writes: 0,
    max_goal_jump_at_torque_on_ticks: 0,
    goal_writes: 0,
    goal_limit_errors: 0,
  };
  private mechanical_ticks = 2048;
  private mechanical_velocity_rad_s = 0;

  constructor(spec: ServoSpec) {
    this.model = spec.model;
    this.layout = layoutOf(spec.model);
    this.table = new Uint8Array(this.layout.end);
    this.layout.applyDefaults(this.table, 0);
    this.set(REG.model_number, MODEL_NUMBER[spec.model]);
    this.set(REG.id, spec.id);
    // set once when the rig was assembled: 1 Mbps, no return delay (a factory servo has 57600 and 500 us)
    this.set(REG.baud_rate, spec.baud_rate_code ?? 3);
    this.set(REG.return_delay_time, 0);
    this.set(REG.drive_mode, spec.drive_mode ?? 0);
    this.set(REG.operating_mode, spec.operating_mode ?? OPERATING_MODE.position);
    this.set(REG.secondary_id, spec.secondary_id ?? 255);
  }

  /** One past the last control-table address of this model. */
  get tableEnd(): number {
    return this.layout.end;
  }

  /** Whether the servo answers and obeys now (not while it boots after a REBOOT). */
  awake(now_ms = monotonicMs()): boolean {
    return now_ms >= this.booting_until_ms;
  }

  /**
   * REBOOT: RAM back to its defaults (torque off, alarm cleared, gains, indirect addresses...), EEPROM
   * kept; the goal is where the motor is; deaf and mute for BOOT_TIME_MS.
   */
  reboot(now_ms = monotonicMs()): void {
    // a holding servo that reboots lets its joint go, as a driver switching torque off would
    if (this.torqueOn) this.counters.torque_off_writes++;
    this.layout.applyDefaults(this.table, RAM_START);
    this.refreshPresent();
    this.goalToPresent();
    this.booting_until_ms = now_ms + BOOT_TIME_MS;
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
    return decode(this.table, reg.address, reg);
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
    if (address + length > this.layout.end || length === 0) return STATUS_ERROR.data_range;
    this.refreshComputed(address, address + length);
    out.set(this.table.subarray(address, address + length), at);
    return 0;
  }

  /**
   * The registers a real servo updates on its own, as they would read now: those in [from, to) (the
   * control tick reads Present_Position 9 times every 20 ms, and has no need of the rest).
   */
  private refreshComputed(from: number, to: number): void {
    if (to > this.layout.indirectFrom) {
      // an indirect byte may point at a computed register: bring those up to date first
      this.refreshComputed(REG.realtime_tick.address, REG.position_trajectory.address + 4);
      for (const p of this.layout.indirect)
        this.table[p.data_address] = this.table[readIntLE(this.table, p.address_reg.address, 2)] ?? 0;
    }
    if (from >= REG.position_trajectory.address + 4 || to <= REG.realtime_tick.address) return;
    this.set(REG.realtime_tick, Math.floor(monotonicMs()) % 32_768);
    const moving = Math.abs(this.get(REG.present_velocity)) > this.get(REG.moving_threshold);
    this.set(REG.moving, moving ? 1 : 0);
    const goal = this.get(REG.goal_position);
    const inPosition = this.torqueOn && Math.abs(goal - this.get(REG.present_position)) <= IN_POSITION_TICKS;
    this.set(REG.moving_status, (inPosition ? 1 : 0) | (moving ? 2 : 0));
    // no profile here: the trajectory is the goal itself
    this.set(REG.position_trajectory, this.torqueOn ? goal : this.get(REG.present_position));
  }

  /** Applies a write of data[0, length) at `address`; returns a status error code (0 = fine). */
  write(address: number, data: Uint8Array, length = data.length): number {
    const err = this.layout.checkWrite(this.table, address, data, length, this.torqueOn);
    const goalAt = REG.goal_position.address - address;
    const touchesGoal = goalAt > -REG.goal_position.size && goalAt < length;
    if (err === STATUS_ERROR.data_limit && touchesGoal) this.counters.goal_limit_errors++;
    if (err) return err;
    const eeprom = address < RAM_START;
    const torqueAt = REG.torque_enable.address - address;
    const enabling = torqueAt >= 0 && torqueAt < length && data[torqueAt] === 1 && !this.torqueOn;
    const disabling = torqueAt >= 0 && torqueAt < length && data[torqueAt] === 0 && this.torqueOn;
    this.store(address, data, length);
    this.refreshPresent();
    if (eeprom) this.counters.eeprom_writes++;
    if (touchesGoal) this.counters.goal_writes++;
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

  /** Copy checked bytes in: gaps keep their 0, indirect data go on to the byte they point at. */
  private store(address: number, data: Uint8Array, length: number): void {
    for (let i = 0; i < length; i++) {
      const r = this.layout.registerAt(address + i);
      if (!r) continue;
      const target = this.layout.indirectTarget(this.table, r);
      this.table[address + i] = data[i];
      if (target !== undefined && this.layout.registerAt(target)) this.table[target] = data[i];
    }
  }
}
