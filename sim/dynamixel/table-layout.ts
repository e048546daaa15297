// The control-table layout of one X-series model, and the checks a real servo makes before it applies a
// WRITE, in the order the emulator makes them (the first failing one is the status packet's error):
//  1. nothing to write: data length error; past the end of the table: data range error;
//  2. a register written in part (2 bytes into the 4-byte Goal_Position): data length error;
//  3. a read-only register, or an EEPROM one while torque is on: access error (also through indirect data);
//  4. a value outside the register's published range (Return_Delay_Time 255, an operating mode the model
//     does not have, an indirect address outside the table): data range error;
//  5. a goal beyond its limit register (Goal_Position outside the position limits in position mode, Goal_Current
//     beyond Current_Limit, Goal_PWM beyond PWM_Limit, Goal_Velocity beyond Velocity_Limit): data limit error.
// Nothing is written when any check fails.
import {
  INDIRECT_BLOCKS,
  indirectRegisters,
  type ModelName,
  OPERATING_MODE,
  REG,
  type Register,
  STATUS_ERROR,
} from '../../protocols/dynamixel/control-table.js';
import { readIntLE } from '../../protocols/dynamixel/packet.js';
import { MODEL_SPECS, type ModelSpec } from './x-series-models.js';

/** The RAM starts here: everything below survives a reboot. */
export const RAM_START = 64;

export interface IndirectPair {
  address_reg: Register;
  data_address: number;
}

export class TableLayout {
  readonly spec: ModelSpec;
  readonly registers: readonly Register[];
  readonly indirect: readonly IndirectPair[];
  /** The first Indirect_Data address: a read that ends before it needs no indirect byte refreshed. */
  readonly indirectFrom: number;
  /** The register that holds each address (undefined: a gap, or a register this model lacks). */
  private readonly regAt: (Register | undefined)[];

  constructor(model: ModelName) {
    this.spec = MODEL_SPECS[model];
    const absent = new Set(this.spec.absent);
    this.registers = [...Object.values(REG), ...indirectRegisters(this.spec.indirect_blocks)]
      .filter((r) => !absent.has(r))
      .sort((a, b) => a.address - b.address);
    this.regAt = new Array(this.spec.table_end);
    for (const r of this.registers) for (let a = r.address; a < r.address + r.size; a++) this.regAt[a] = r;
    this.indirect = INDIRECT_BLOCKS.slice(0, this.spec.indirect_blocks).flatMap((b) =>
      Array.from({ length: b.count }, (_, i) => ({
        address_reg: this.registers.find((r) => r.address === b.address_at + 2 * i)!,
        data_address: b.data_at + i,
      })),
    );
    this.indirectFrom = INDIRECT_BLOCKS[0].data_at;
  }

  get end(): number {
    return this.spec.table_end;
  }

  registerAt(address: number): Register | undefined {
    return this.regAt[address];
  }

  /** Factory state of the bytes from `from` on (0: the whole table; RAM_START: what a reboot resets). */
  applyDefaults(table: Uint8Array, from: number): void {
    table.fill(0, from);
    for (const [r, v] of this.spec.defaults) if (r.address >= from && this.regAt[r.address] === r) put(table, r, v);
    // each indirect address points at its own data byte until told otherwise
    for (const p of this.indirect) if (p.address_reg.address >= from) put(table, p.address_reg, p.data_address);
  }

  /** Status error code of a WRITE of data[0, length) at `address` (0: it may be applied). */
  checkWrite(table: Uint8Array, address: number, data: Uint8Array, length: number, torque_on: boolean): number {
    if (length === 0) return STATUS_ERROR.data_length;
    if (address + length > this.end) return STATUS_ERROR.data_range;
    const touched = this.touched(address, length);
    if (touched === undefined) return STATUS_ERROR.data_length;
    for (const r of touched) {
      if (r.read_only || (r.eeprom && torque_on)) return STATUS_ERROR.access;
      const target = this.indirectTarget(table, r);
      const t = target === undefined ? undefined : this.regAt[target];
      if (t && (t.read_only || (t.eeprom && torque_on))) return STATUS_ERROR.access;
    }
    const value = (r: Register) => decode(data, r.address - address, r);
    for (const r of touched) if (!this.inRange(r, value(r))) return STATUS_ERROR.data_range;
    const now = (r: Register) => (touched.includes(r) ? value(r) : decode(table, r.address, r));
    for (const r of touched) if (!withinLimit(r, value(r), now)) return STATUS_ERROR.data_limit;
    return 0;
  }

  /** Where Indirect_Data register `r` points, if it is one. */
  indirectTarget(table: Uint8Array, r: Register): number | undefined {
    if (r.address < this.indirectFrom) return undefined;
    const p = this.indirect.find((x) => x.data_address === r.address);
    return p && readIntLE(table, p.address_reg.address, 2);
  }

  /** The registers [address, address + length) covers, or undefined if it covers one only in part. */
  private touched(address: number, length: number): Register[] | undefined {
    const out: Register[] = [];
    const end = address + length;
    const first = this.regAt[address];
    if (first && first.address !== address) return undefined;
    const last = this.regAt[end - 1];
    if (last && last.address + last.size !== end) return undefined;
    for (let a = address; a < end; a++) {
      const r = this.regAt[a];
      if (r && r.address === a) out.push(r);
    }
    return out;
  }

  private inRange(r: Register, v: number): boolean {
    if (r === REG.operating_mode) return this.spec.operating_modes.includes(v);
    if (this.indirect.some((p) => p.address_reg === r)) return v >= RAM_START && v < this.end;
    const range = this.spec.ranges.get(r);
    return range === undefined || (v >= range[0] && v <= range[1]);
  }
}

/** A goal within the limit register that bounds it (read as it will be after this write). */
function withinLimit(r: Register, v: number, now: (r: Register) => number): boolean {
  if (r === REG.goal_position && now(REG.operating_mode) === OPERATING_MODE.position)
    return v >= now(REG.min_position_limit) && v <= now(REG.max_position_limit);
  if (r === REG.goal_current) return Math.abs(v) <= now(REG.current_limit);
  if (r === REG.goal_pwm) return Math.abs(v) <= now(REG.pwm_limit);
  if (r === REG.goal_velocity) return Math.abs(v) <= now(REG.velocity_limit);
  return true;
}

export function decode(bytes: Uint8Array, at: number, r: Register): number {
  const v = readIntLE(bytes, at, r.size);
  if (r.size === 2 && r.signed && v >= 0x8000) return v - 0x10000;
  if (r.size === 1 && r.signed && v >= 0x80) return v - 0x100;
  return v;
}

function put(table: Uint8Array, r: Register, v: number): void {
  for (let i = 0; i < r.size; i++) table[r.address + i] = (v >> (8 * i)) & 0xff;
}
