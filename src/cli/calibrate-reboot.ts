// vla-calibrate --reboot: the guided recovery after a servo's hardware alert (calibrate/servo-recovery.ts).
// It lists each alarmed servo (arm, ID, joint, alarm bits), asks for confirmation (--yes for scripts; no
// terminal and no --yes: exit 2 with nothing done), reboots them, waits for them, re-applies the driver's
// connect-time settings, reads back and reports. Torque stays off: a run's own start-up switches it on.
// Exit codes: 0 recovered (or nothing alarmed), 1 a servo did not come back clean, 2 bad usage or input.
import { createInterface } from 'node:readline/promises';
import { type ArmCalibration, CalibrationError, loadArmCalibration } from '../../calibration/motor-calibration.js';
import { DynamixelBus } from '../../drivers/dynamixel/bus.js';
import { PortOpenError } from '../../drivers/dynamixel/errors.js';
import { ALOHA_ARM_SIDES, type AlohaSide, alohaMotors } from '../../protocols/aloha/motor-map.js';
import { ArmInputError, probeArm } from '../calibrate/arm-check.js';
import {
  type ArmRecovery,
  alarmText,
  findAlarms,
  type RebootedServo,
  reapplySettings,
  rebootServos,
  type ServoAlarm,
} from '../calibrate/servo-recovery.js';
import type { Say } from './calibrate-prompts.js';
import { EXIT, UsageError } from './common.js';

const MOTORS = alohaMotors('follower');

export interface RebootOptions {
  ports: Partial<Record<AlohaSide, string>>;
  /** --calibration DIR: holds <arm>_follower.json, the files vla-run uses. */
  calibration_dir: string | undefined;
  arm?: string;
  ids?: number[];
  yes: boolean;
  json: boolean;
  timeout_ms: number;
}

export const TORQUE_NOTE =
  'torque stays OFF on the rebooted servos (the arm is limp there) until a run starts: vla-run reads the arms ' +
  'fresh and switches torque on holding where they are';

/** Which arms: --arm, or every arm in --ports. */
function chosenArms(o: RebootOptions): AlohaSide[] {
  const given = ALOHA_ARM_SIDES.filter((s) => o.ports[s]);
  if (o.arm === undefined) return given;
  if (!(ALOHA_ARM_SIDES as readonly string[]).includes(o.arm))
    throw new UsageError(`unknown --arm '${o.arm}' (valid: ${ALOHA_ARM_SIDES.join(', ')})`);
  if (!o.ports[o.arm as AlohaSide]) throw new UsageError(`--arm ${o.arm}: --ports gives no port for that arm`);
  return [o.arm as AlohaSide];
}

async function loadCalibrations(o: RebootOptions, arms: AlohaSide[]): Promise<Record<string, ArmCalibration>> {
  if (o.calibration_dir === undefined)
    throw new UsageError(
      '--reboot needs --calibration DIR (the directory with <arm>_follower.json that vla-run uses): the ' +
        'rebooted servos get those settings again',
    );
  const out: Record<string, ArmCalibration> = {};
  for (const arm of arms) {
    try {
      out[arm] = await loadArmCalibration(`${o.calibration_dir}/${arm}_follower.json`, MOTORS);
    } catch (err) {
      if (err instanceof CalibrationError || (err as NodeJS.ErrnoException).code)
        throw new UsageError((err as Error).message);
      throw err;
    }
  }
  return out;
}

/** Open and check each arm (reads only), then list what is alarmed. A wrong port or arm is bad input. */
async function survey(o: RebootOptions, arms: AlohaSide[], buses: Map<AlohaSide, DynamixelBus>) {
  const alarmed: ServoAlarm[] = [];
  for (const arm of arms) {
    try {
      const bus = await DynamixelBus.open({ path: o.ports[arm]!, name: `${arm} follower`, timeout_ms: o.timeout_ms });
      buses.set(arm, bus);
      await probeArm(bus, MOTORS);
      alarmed.push(...(await findAlarms(bus, arm, MOTORS, o.ids)));
    } catch (err) {
      if (err instanceof PortOpenError || err instanceof ArmInputError)
        throw new UsageError(err.message.replace(/: Error: /, ': '));
      throw err;
    }
  }
  return alarmed;
}

async function confirm(o: RebootOptions, servos: ServoAlarm[], say: Say): Promise<boolean> {
  const holding = servos.filter((s) => s.torque_on);
  if (holding.length) {
    const who = holding.map((s) => `${s.arm} ID ${s.id} (${s.motor})`).join(', ');
    say(
      `WARNING: ${who} hold${holding.length > 1 ? '' : 's'} its joint now (torque on) and lets go when it ` +
        'reboots: support the arm (or rest it on its stops) first',
    );
  }
  const n = servos.length;
  const question = `Reboot ${n} servo${n > 1 ? 's' : ''}? Each restarts with its torque off`;
  if (o.yes) {
    say(`${question} (--yes: confirmed)`);
    return true;
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

function report(o: RebootOptions, rebooted: RebootedServo[], arms: ArmRecovery[], say: Say): void {
  const servos = arms.flatMap((a) => a.servos);
  const bad = servos.filter((s) => s.hardware_error_status !== 0 || s.torque_on);
  for (const s of servos)
    say(
      `${s.arm} follower: ID ${s.id} (${s.motor}) reads back: ${alarmText(s.hardware_error_status)}, torque ` +
        `${s.torque_on ? 'ON' : 'off'}, at ${s.position_ticks} ticks`,
    );
  for (const a of arms) say(`${a.arm} follower: settings re-applied (${a.eeprom_writes} EEPROM register(s) rewritten)`);
  say(TORQUE_NOTE);
  if (bad.length) process.exitCode = EXIT.check_failed;
  const cleared = bad.length === 0;
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ robot: 'aloha', cleared, rebooted, arms, note: TORQUE_NOTE })}\n`);
    return;
  }
  for (const s of servos)
    process.stdout.write(
      `${s.arm} ID ${s.id} (${s.motor}): ${s.hardware_error_status === 0 ? 'alarm cleared' : 'STILL ALARMED'}, ` +
        `torque ${s.torque_on ? 'on' : 'off'}\n`,
    );
}

export async function rebootAlarmed(o: RebootOptions): Promise<void> {
  const say: Say = (s) => process.stderr.write(`${s}\n`);
  if (!o.yes && !process.stdin.isTTY)
    throw new UsageError(
      '--reboot asks before it reboots anything: run it on a terminal, or add --yes; nothing was done',
    );
  const arms = chosenArms(o);
  const calibration = await loadCalibrations(o, arms);
  const buses = new Map<AlohaSide, DynamixelBus>();
  let alarmed: ServoAlarm[];
  try {
    alarmed = await survey(o, arms, buses);
    if (alarmed.length === 0) {
      say(`no servo in alarm on the ${arms.join(' and ')} arm${arms.length > 1 ? 's' : ''}: nothing to do`);
      if (o.json)
        process.stdout.write(`${JSON.stringify({ robot: 'aloha', cleared: true, rebooted: [], arms: [] })}\n`);
      return;
    }
    for (const s of alarmed) say(`${s.arm} follower on ${o.ports[s.arm]}: ID ${s.id} (${s.motor}): ${s.alarms}`);
    if (!(await confirm(o, alarmed, say))) throw new UsageError('not confirmed: nothing was rebooted');
    const rebooted: RebootedServo[] = [];
    for (const [arm, bus] of buses) {
      const mine = alarmed.filter((s) => s.arm === arm);
      for (const s of await rebootServos(bus, mine)) {
        say(`${arm} follower: ID ${s.id} (${s.motor}) rebooted, answered again after ${s.boot_ms} ms`);
        rebooted.push(s);
      }
    }
    for (const bus of buses.values()) await bus.close();
    buses.clear();
    const recovered: ArmRecovery[] = [];
    for (const arm of arms) {
      const mine = rebooted.filter((s) => s.arm === arm);
      if (mine.length) recovered.push(await reapplySettings(arm, o.ports[arm]!, calibration[arm], mine, o.timeout_ms));
    }
    report(o, rebooted, recovered, say);
  } finally {
    for (const bus of buses.values()) await bus.close();
  }
}
