// What can be checked on a port before the calibration moves anything (reads only):
//  - the arm: every motor of the follower answers, as the model the motor map says (a leader arm, or
//    another robot, on the port is refused by ID and model);
//  - left/right: an arm that was configured from a calibration file (vla-run writes the file's drive modes
//    and homing offsets into the motors' EEPROM, vla-calibrate writes them while it measures) carries that
//    file's exact values. When the previous files of both arms are known (--out holds them), an arm whose
//    9 motors carry exactly the other side's values, and not its own side's, is on the other side's port:
//    USB serial ports are numbered in the order they are found, which can change between boots. Arms that
//    were never configured, or files that agree, show nothing: a swap is only seen where it can be.
import type { ArmCalibration } from '../../calibration/motor-calibration.js';
import type { DynamixelBus } from '../../drivers/dynamixel/bus.js';
import { ALOHA_ARM_SIDES, type AlohaMotor, type AlohaSide } from '../../protocols/aloha/motor-map.js';
import { MODEL_NUMBER, type ModelName, REG } from '../../protocols/dynamixel/control-table.js';

/** Bad input found on the bus before anything moved (the command line tool exits 2). */
export class ArmInputError extends Error {
  override name = 'ArmInputError';
}

export async function probeArm(bus: DynamixelBus, motors: readonly AlohaMotor[]): Promise<void> {
  const missing: AlohaMotor[] = [];
  const wrong: string[] = [];
  for (const m of motors) {
    let model: number;
    try {
      model = (await bus.ping(m.id)).model_number;
    } catch {
      missing.push(m);
      continue;
    }
    if (model !== MODEL_NUMBER[m.model]) {
      const found = (Object.keys(MODEL_NUMBER) as ModelName[]).find((k) => MODEL_NUMBER[k] === model);
      wrong.push(`ID ${m.id} (${m.name}) is a ${found ?? `model ${model}`}, expected ${m.model}`);
    }
  }
  const which =
    missing.length === motors.length
      ? `any of its ${motors.length} motors (IDs ${motors[0].id}-${motors[motors.length - 1].id})`
      : `ID${missing.length > 1 ? 's' : ''} ${missing.map((m) => `${m.id} (${m.name})`).join(', ')}`;
  if (missing.length)
    throw new ArmInputError(
      `${bus.name} on ${bus.path}: no reply from ${which}: is the arm powered, is this its port?`,
    );
  if (wrong.length)
    throw new ArmInputError(
      `${bus.name} on ${bus.path}: ${wrong.join('; ')}: is this a follower arm (a leader's motors are smaller)?`,
    );
}

/** The calibration registers the motors hold now (motor order). */
export interface HeldCalibration {
  drive_mode: number[];
  homing_offset: number[];
}

export async function readHeldCalibration(bus: DynamixelBus, motors: readonly AlohaMotor[]): Promise<HeldCalibration> {
  const held: HeldCalibration = { drive_mode: [], homing_offset: [] };
  for (const m of motors) {
    held.drive_mode.push(await bus.readRegister(m.id, REG.drive_mode));
    held.homing_offset.push(await bus.readRegister(m.id, REG.homing_offset));
  }
  return held;
}

const carries = (held: HeldCalibration, cal: ArmCalibration, motors: readonly AlohaMotor[]): boolean =>
  motors.every(
    (m, i) => held.homing_offset[i] === cal[m.name]?.homing_offset && held.drive_mode[i] === cal[m.name]?.drive_mode,
  );

/** One line per port that holds the other side's arm; empty when no swap is seen. */
export function swappedPorts(
  held: Partial<Record<AlohaSide, { path: string; held: HeldCalibration }>>,
  previous: Partial<Record<AlohaSide, { file: string; cal: ArmCalibration }>>,
  motors: readonly AlohaMotor[],
): string[] {
  const out: string[] = [];
  for (const side of ALOHA_ARM_SIDES) {
    const h = held[side];
    const other = ALOHA_ARM_SIDES.find((s) => s !== side)!;
    const [own, theirs] = [previous[side], previous[other]];
    if (!h || !theirs || (own && carries(h.held, own.cal, motors))) continue;
    if (carries(h.held, theirs.cal, motors))
      out.push(
        `the port given as ${side} (${h.path}) has the ${other} arm: its ${motors.length} motors carry exactly ` +
          `the drive modes and homing offsets of ${theirs.file}`,
      );
  }
  return out;
}
