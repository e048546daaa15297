// Which EEPROM registers of a follower arm must change to match its calibration, and whether that can be
// done safely. A servo accepts EEPROM writes only with torque off, and a follower arm whose torque goes
// off falls unless it is resting (on its stops, or held). So the driver reads the registers first and
// writes only those that differ; a motor that must change while its torque is on is refused unless the
// user said the arm is resting (--allow-torque-off). Nothing is written before every arm was checked.

import type { ArmCalibration } from '../../calibration/motor-calibration.js';
import type { AlohaMotor } from '../../protocols/aloha/motor-map.js';
import type { Register } from '../../protocols/dynamixel/control-table.js';
import { REG } from '../../protocols/dynamixel/control-table.js';
import { DynamixelError } from '../dynamixel/errors.js';

/** One EEPROM register of one motor that differs from what the calibration and motor map want. */
export interface EepromChange {
  motor: AlohaMotor;
  reg: Register;
  have: number;
  want: number;
  /**
   * Shadows that take this write too: a servo obeys writes to its Secondary_ID, so writing a primary's
   * register writes its shadows' (which are written again afterwards when they need another value).
   */
  also_written: number[];
}

/** Every motor's EEPROM registers as read (and its torque), by ID. */
export type EepromReadings = Map<number, { torque_on: boolean; values: Map<Register, number> }>;

/** The EEPROM registers (and torque) of one arm as read, and what must change. */
export interface EepromPlan {
  arm: string;
  path: string;
  changes: EepromChange[];
  /** IDs whose torque is on now. */
  torque_on_ids: Set<number>;
  /** Drive_Mode and Homing_Offset of every motor once the plan is applied (motor map order). */
  final: { drive_mode: number; homing_offset: number }[];
}

/** What applying a plan did, for reports and tests. */
export interface EepromApplied {
  arm: string;
  eeprom_writes: number;
  /** IDs whose torque this switched off (only with allow_torque_off). */
  torque_off_ids: number[];
}

/** The EEPROM registers a follower needs, in the order they are written. */
export function wantedEeprom(m: AlohaMotor, cal: ArmCalibration): [Register, number][] {
  const c = cal[m.name];
  const out: [Register, number][] = [
    [REG.operating_mode, m.operating_mode],
    [REG.drive_mode, c.drive_mode],
    [REG.homing_offset, c.homing_offset],
  ];
  if (m.shadow_of !== undefined) out.push([REG.secondary_id, m.shadow_of]);
  return out;
}

/**
 * The writes that bring `read` to what the calibration wants, in order (by ID: primaries before their
 * shadows), following each write to the shadows that obey it through Secondary_ID: a shadow whose value
 * a primary's write changed is written again when it needs its own.
 */
export function planEepromChanges(
  motors: readonly AlohaMotor[],
  cal: ArmCalibration,
  read: EepromReadings,
): EepromChange[] {
  const now = new Map([...read].map(([id, r]) => [id, new Map(r.values)]));
  const changes: EepromChange[] = [];
  for (const m of [...motors].sort((a, b) => a.id - b.id)) {
    for (const [reg, want] of wantedEeprom(m, cal)) {
      const have = now.get(m.id)!.get(reg)!;
      if (have === want) continue;
      const also_written = motors
        .filter((s) => s.id !== m.id && now.get(s.id)!.get(REG.secondary_id) === m.id)
        .map((s) => s.id);
      for (const id of [m.id, ...also_written]) now.get(id)!.set(reg, want);
      changes.push({ motor: m, reg, have, want, also_written });
    }
  }
  return changes;
}

/** The registers planEepromChanges() needs read. */
export const EEPROM_REGISTERS_READ: readonly Register[] = [
  REG.operating_mode,
  REG.drive_mode,
  REG.homing_offset,
  REG.secondary_id,
];

/** IDs a plan writes (directly or through Secondary_ID) whose torque is on: each change needing torque off. */
export function changesNeedingTorqueOff(plan: EepromPlan): EepromChange[] {
  return plan.changes.filter((c) => [c.motor.id, ...c.also_written].some((id) => plan.torque_on_ids.has(id)));
}

/** The motors whose torque must go off for the plan: every ID it writes that has torque on. */
export function torqueOffIds(plan: EepromPlan): number[] {
  const ids = new Set(plan.changes.flatMap((c) => [c.motor.id, ...c.also_written]));
  return [...ids].filter((id) => plan.torque_on_ids.has(id)).sort((a, b) => a - b);
}

/**
 * Refused: an EEPROM register must change on a motor with torque on, and switching it off would drop the
 * arm. Nothing was written on any arm. A DynamixelError, so vla-run exits 2 ("nothing was commanded").
 */
export class TorqueOffRefused extends DynamixelError {
  override name = 'TorqueOffRefused';
  constructor(readonly changes: { arm: string; path: string; change: EepromChange }[]) {
    const lines = changes.map(
      ({ arm, path, change: c }) =>
        `${arm} on ${path}: ID ${c.motor.id} (${c.motor.name}) ${c.reg.name} is ${c.have}, the calibration needs ` +
        `${c.want}` +
        (c.also_written.length ? ` (a write its shadow ID ${c.also_written.join(', ')} takes too)` : ''),
    );
    super(
      `these EEPROM registers can only be written with torque off, and torque is on: ${lines.join('; ')}. ` +
        'Switching torque off now would drop the arm, so nothing ' +
        'was written. Rest the arm (on its stops, or hold it), ' +
        'then run again with --allow-torque-off.',
    );
  }
}
