// LeRobot-compatible per-motor calibration of a Dynamixel arm: one JSON object per arm,
// `{ "<motor name>": { id, drive_mode, homing_offset, range_min, range_max }, ... }`.
// Meaning here (vla-runtime):
//  - drive_mode and homing_offset are written to the motor (Drive_Mode, Homing_Offset) at connect, so
//    that Present_Position reads 2048 + angle * 4096 / 2pi: 2048 ticks is the joint's zero;
//  - range_min..range_max (ticks, after the offset) is the travel recorded during calibration; for a
//    gripper range_min is closed and range_max open (normalised 0..1 between them).
// A file that is malformed, misses a motor or holds an out-of-range value is refused as a whole, with
// every offending motor named: a bad calibration must never produce a motion.

import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { HOMING_OFFSET_LIMIT } from '../protocols/dynamixel/control-table.js';

/** One turn of ticks: the range LeRobot records and that position mode accepts. */
export const RANGE_MIN_TICKS = 0;
export const RANGE_MAX_TICKS = 4095;

export const MotorCalibrationSchema = z
  .object({
    id: z.number().int().min(0).max(252),
    drive_mode: z.number().int().min(0).max(1),
    homing_offset: z.number().int().min(-HOMING_OFFSET_LIMIT).max(HOMING_OFFSET_LIMIT),
    range_min: z.number().int().min(RANGE_MIN_TICKS).max(RANGE_MAX_TICKS),
    range_max: z.number().int().min(RANGE_MIN_TICKS).max(RANGE_MAX_TICKS),
  })
  .strict()
  .refine((m) => m.range_min < m.range_max, { message: 'must be below range_max', path: ['range_min'] });

export type MotorCalibration = z.infer<typeof MotorCalibrationSchema>;
export type ArmCalibration = Record<string, MotorCalibration>;

export class CalibrationError extends Error {
  override name = 'CalibrationError';
}

/** What the arm expects: motor names and IDs. */
export interface ExpectedMotor {
  name: string;
  id: number;
}

/**
 * Check a parsed JSON value against the schema and the arm's motor list. Throws a CalibrationError that
 * names every missing, unknown or invalid motor; returns the calibration otherwise.
 */
export function validateArmCalibration(
  json: unknown,
  motors: readonly ExpectedMotor[],
  source: string,
): ArmCalibration {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CalibrationError(
      `${source}: a calibration must be a JSON object of motors (got ` +
        `${Array.isArray(json) ? 'an array' : typeof json})`,
    );
  }
  const problems: string[] = [];
  const obj = json as Record<string, unknown>;
  const missing = motors.filter((m) => !(m.name in obj)).map((m) => m.name);
  if (missing.length) problems.push(`missing motor${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`);
  const unknown = Object.keys(obj).filter((k) => !motors.some((m) => m.name === k));
  if (unknown.length)
    problems.push(
      `unknown motor${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (expected: ` +
        `${motors.map((m) => m.name).join(', ')})`,
    );
  for (const m of motors) {
    if (!(m.name in obj)) continue;
    const r = MotorCalibrationSchema.safeParse(obj[m.name]);
    if (!r.success) {
      const what = r.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join(', ');
      problems.push(`motor '${m.name}' (ID ${m.id}): ${what}`);
    } else if (r.data.id !== m.id) {
      problems.push(`motor '${m.name}': id is ${r.data.id}, this arm has it at ID ${m.id}`);
    }
  }
  if (problems.length) throw new CalibrationError(`${source}: invalid calibration: ${problems.join('; ')}`);
  return obj as ArmCalibration;
}

export async function loadArmCalibration(path: string, motors: readonly ExpectedMotor[]): Promise<ArmCalibration> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CalibrationError(
      `${path}: cannot read calibration (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CalibrationError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return validateArmCalibration(json, motors, path);
}

/**
 * Validate, then write through a temporary file in the same directory and rename it over `path`, so a
 * reader sees the old file or the new one, never half of one (a crash mid-write leaves the old file).
 */
export async function writeArmCalibrationAtomic(
  path: string,
  cal: ArmCalibration,
  motors: readonly ExpectedMotor[],
): Promise<void> {
  validateArmCalibration(cal, motors, path);
  // motors in ID order, fields in LeRobot's order
  const ordered: ArmCalibration = {};
  for (const m of [...motors].sort((a, b) => a.id - b.id)) {
    const c = cal[m.name];
    ordered[m.name] = {
      id: c.id,
      drive_mode: c.drive_mode,
      homing_offset: c.homing_offset,
      range_min: c.range_min,
      range_max: c.range_max,
    };
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${JSON.stringify(ordered, null, 4)}\n`);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The calibration shipped for the Dynamixel emulator's arms (calibration/aloha/<side>_<role>.json). */
export function builtinAlohaCalibrationPath(side: string, role: 'follower' | 'leader' = 'follower'): string {
  // this file runs from dist/calibration/; the JSON stays in the package's calibration/aloha/
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, '..', '..', 'calibration', 'aloha', `${side}_${role}.json`);
}
