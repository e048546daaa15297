// Guided recovery after a servo's hardware alert (overload, overheating, input voltage, electrical shock,
// encoder): a real X-series servo keeps its alarm, and its torque off, until it is rebooted. The steps,
// each one its own function so the command line tool (cli/calibrate-reboot.ts) can ask between them:
//  1. findAlarms: read Hardware_Error_Status of an arm's motors (reads only);
//  2. rebootServos: REBOOT each named servo and wait until it answers again (it is deaf while it boots);
//  3. reapplySettings: the connect-time configuration of the ALOHA driver itself (AlohaArm.configure: the
//     calibration's EEPROM registers, written only where they differ, never by switching off a motor that
//     holds), then a fresh read of the arm and of each rebooted servo's alarm and torque.
// Torque stays off on a rebooted servo: only a run's own start-up switches it on, holding where it is.
import type { ArmCalibration } from '../../calibration/motor-calibration.js';
import { AlohaArm } from '../../drivers/aloha/aloha-arm.js';
import type { DynamixelBus } from '../../drivers/dynamixel/bus.js';
import type { AlohaMotor, AlohaSide } from '../../protocols/aloha/motor-map.js';
import { describeHardwareError, REG } from '../../protocols/dynamixel/control-table.js';
import { monotonicMs } from '../util/clock.js';

/** How long a rebooted servo may take to answer again (a real one is back well within this). */
export const BOOT_WAIT_MS = 3000;

export interface ServoAlarm {
  arm: AlohaSide;
  id: number;
  motor: string;
  /** Hardware_Error_Status as read (0: no alarm; the servo was named with --id). */
  bits: number;
  /** The alarm bits in words ('overload', 'overheating, input voltage', or 'no alarm'). */
  alarms: string;
  /** It holds its joint now (only a servo named without an alarm can): a reboot lets the joint go. */
  torque_on: boolean;
}

export interface RebootedServo extends ServoAlarm {
  /** How long it took to answer again after its REBOOT was answered. */
  boot_ms: number;
}

export interface ServoReadBack {
  arm: AlohaSide;
  id: number;
  motor: string;
  hardware_error_status: number;
  /** After the reboot: off, until a run's start-up switches it on. */
  torque_on: boolean;
  /** Present position in calibrated ticks (2048 = the joint's zero). */
  position_ticks: number;
}

export interface ArmRecovery {
  arm: AlohaSide;
  /** EEPROM registers the calibration needed rewritten (usually 0: a reboot keeps the EEPROM). */
  eeprom_writes: number;
  servos: ServoReadBack[];
}

export function alarmText(bits: number): string {
  return bits === 0 ? 'no alarm' : describeHardwareError(bits);
}

/**
 * The servos of one arm to recover: those in `only_ids` whatever their state (the user named them),
 * otherwise every one whose Hardware_Error_Status is nonzero.
 */
export async function findAlarms(
  bus: DynamixelBus,
  arm: AlohaSide,
  motors: readonly AlohaMotor[],
  only_ids?: readonly number[],
): Promise<ServoAlarm[]> {
  const out: ServoAlarm[] = [];
  for (const m of motors) {
    if (only_ids && !only_ids.includes(m.id)) continue;
    const bits = await bus.readRegister(m.id, REG.hardware_error_status);
    if (bits === 0 && !only_ids) continue;
    const torque_on = (await bus.readRegister(m.id, REG.torque_enable)) !== 0;
    out.push({ arm, id: m.id, motor: m.name, bits, alarms: alarmText(bits), torque_on });
  }
  return out;
}

/** REBOOT each servo in turn and wait until it answers again; throws naming the one that does not. */
export async function rebootServos(
  bus: DynamixelBus,
  servos: readonly ServoAlarm[],
  boot_wait_ms = BOOT_WAIT_MS,
): Promise<RebootedServo[]> {
  const out: RebootedServo[] = [];
  const named = (s: ServoAlarm) => `${bus.name} on ${bus.path}: ID ${s.id} (${s.motor})`;
  for (const s of servos) {
    try {
      await bus.reboot(s.id);
    } catch (err) {
      throw new Error(`${named(s)} did not answer its REBOOT: ${(err as Error).message}`);
    }
    const t0 = monotonicMs();
    try {
      await bus.waitForServo(s.id, boot_wait_ms);
    } catch {
      throw new Error(`${named(s)} did not answer within ${boot_wait_ms} ms of its reboot: check its power and cable`);
    }
    bus.clearAlert(s.id);
    out.push({ ...s, boot_ms: Math.round(monotonicMs() - t0) });
  }
  return out;
}

/**
 * The driver's connect-time configuration of one arm (nothing switched off that holds), then a fresh read:
 * the arm's pose and each rebooted servo's alarm and torque. Torque is not switched on.
 */
export async function reapplySettings(
  arm: AlohaSide,
  port: string,
  calibration: ArmCalibration,
  rebooted: readonly ServoAlarm[],
  bus_timeout_ms: number,
): Promise<ArmRecovery> {
  const a = await AlohaArm.open({ side: arm, port, calibration, bus: { timeout_ms: bus_timeout_ms } });
  try {
    const applied = await a.configure({ allow_torque_off: false });
    const reading = await a.read(a.bus.setup_timeout_ms);
    const servos: ServoReadBack[] = [];
    for (const s of rebooted) {
      servos.push({
        arm,
        id: s.id,
        motor: s.motor,
        hardware_error_status: await a.bus.readRegister(s.id, REG.hardware_error_status),
        torque_on: (await a.bus.readRegister(s.id, REG.torque_enable)) !== 0,
        position_ticks: reading.ticks[s.id - 1],
      });
    }
    return { arm, eeprom_writes: applied.eeprom_writes, servos };
  } finally {
    await a.close();
  }
}
