// vla-calibrate: calibrate the ALOHA follower arms over their serial ports and write LeRobot-compatible
// calibration files (one per arm) atomically. Prompts go to stderr and wait for Enter on stdin, while the
// joints' readings are shown live (src/calibrate/readout.ts); --yes accepts every step at once (the arms
// are already in the calibration pose, e.g. the emulator's).
// Calibrating needs torque off (EEPROM registers), and an arm whose torque goes off falls: when any motor
// holds its arm, the user is told to support it and the tool waits for Enter before switching it off
// (with --yes the instruction is still printed; --yes says the arms are resting).
// Nothing is written unless every arm's result is plausible (src/calibrate/plausibility.ts): a refusal
// names arm, joint, motor ID, value and expected range, and exits 1 (the command was right, the arm was
// not: fix the pose and run again); bad usage and bad input (ports, --out, an arm that does not answer,
// swapped ports) exit 2 before anything moves. --accept-implausible writes a refused result anyway.
// --reboot is the other job: recover servos from a hardware alert (calibrate-reboot.ts).
import { Command } from 'commander';
import {
  type ArmCalibration,
  loadArmCalibration,
  validateArmCalibration,
  writeArmCalibrationAtomic,
} from '../../calibration/motor-calibration.js';
import { PortsArgError, parseArmPorts } from '../../drivers/aloha/ports-arg.js';
import { DynamixelBus } from '../../drivers/dynamixel/bus.js';
import { PortOpenError } from '../../drivers/dynamixel/errors.js';
import { ALOHA_ARM_SIDES, type AlohaSide, alohaMotors } from '../../protocols/aloha/motor-map.js';
import { AlohaCalibrator, CALIBRATION_POSE_TEXT } from '../calibrate/aloha-calibrator.js';
import { ArmInputError, probeArm, readHeldCalibration, swappedPorts } from '../calibrate/arm-check.js';
import {
  type Finding,
  formatFinding,
  MIN_SPAN_FRACTION,
  OFFSET_TOLERANCE_DEG,
  RANGE_SLACK_DEG,
  refusalText,
} from '../calibrate/plausibility.js';
import { loadRobot } from '../robot/index.js';
import { fsReason, makeOutputDir, type OutputPlan, planOutput } from './calibrate-output.js';
import { calibrationPrompts, type Say } from './calibrate-prompts.js';
import { rebootAlarmed } from './calibrate-reboot.js';
import { choice, EXIT, intArg, runProgram, UsageError } from './common.js';

const MOTORS = alohaMotors('follower');

interface Options {
  robot?: string;
  ports?: string;
  out: string;
  yes?: boolean;
  force?: boolean;
  acceptImplausible?: boolean;
  timeoutMs: string;
  json?: boolean;
  reboot?: boolean;
  arm?: string;
  id?: string;
  calibration?: string;
}

/** --id 4 or --id 2,3: motor IDs of the follower arm. */
function idsArg(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const ids = value.split(',').map((v) => intArg('--id', v.trim(), MOTORS[0].id, MOTORS[MOTORS.length - 1].id));
  return [...new Set(ids)];
}

function portsArg(value: string | undefined): Partial<Record<AlohaSide, string>> {
  try {
    return parseArmPorts(value);
  } catch (err) {
    if (err instanceof PortsArgError) throw new UsageError(err.message);
    throw err;
  }
}

/** Open every port and check its arm (reads only): a port or an arm that is wrong is bad input. */
async function openArms(
  ports: Partial<Record<AlohaSide, string>>,
  timeout_ms: number,
  buses: [AlohaSide, DynamixelBus][],
): Promise<void> {
  for (const side of ALOHA_ARM_SIDES) {
    const path = ports[side];
    if (!path) continue;
    try {
      const bus = await DynamixelBus.open({ path, name: `${side} follower`, timeout_ms });
      buses.push([side, bus]);
      await probeArm(bus, MOTORS);
    } catch (err) {
      // serialport's binding words its errors 'Error: No such file or directory, cannot open ...'
      if (err instanceof PortOpenError || err instanceof ArmInputError)
        throw new UsageError(err.message.replace(/: Error: /, ': '));
      throw err;
    }
  }
}

/** Ports that hold the other side's arm, judged by the previous files in --out (arm-check.ts). */
async function checkSwap(buses: [AlohaSide, DynamixelBus][], plan: OutputPlan, o: Options, say: Say): Promise<void> {
  const previous: Partial<Record<AlohaSide, { file: string; cal: ArmCalibration }>> = {};
  for (const side of ALOHA_ARM_SIDES) {
    const file = plan.existing[side];
    // a malformed previous file says nothing about the arms (and is replaced)
    if (file) previous[side] = { file, cal: await loadArmCalibration(file, MOTORS).catch(() => ({})) };
  }
  if (!previous.left && !previous.right) return;
  const held: Parameters<typeof swappedPorts>[0] = {};
  for (const [side, bus] of buses) held[side] = { path: bus.path, held: await readHeldCalibration(bus, MOTORS) };
  const swaps = swappedPorts(held, previous, MOTORS);
  if (swaps.length === 0) return;
  if (!o.acceptImplausible)
    throw new UsageError(
      `${swaps.join('; ')}: swap the two paths in --ports (nothing moved; --accept-implausible goes on anyway)`,
    );
  for (const s of swaps) say(`WARNING (--accept-implausible): ${s}; calibrating it as given`);
}

async function writeAll(
  results: [AlohaSide, ArmCalibration][],
  plan: OutputPlan,
  say: Say,
): Promise<Partial<Record<AlohaSide, string>>> {
  // every arm fits the file format before the first file is written (an accepted implausible value may not)
  for (const [side, cal] of results) validateArmCalibration(cal, MOTORS, `${side} arm`);
  await makeOutputDir(plan);
  const files: Partial<Record<AlohaSide, string>> = {};
  for (const [side, cal] of results) {
    const file = plan.files[side]!;
    try {
      await writeArmCalibrationAtomic(file, cal, MOTORS);
    } catch (err) {
      throw new UsageError(`cannot write ${file}: ${fsReason(err)}`);
    }
    files[side] = file;
    say(`${side}: wrote ${file} (torque stays off: the arm is limp)`);
  }
  return files;
}

/**
 * Refuse (exit 1: the command was right, the arms were not), or with --accept-implausible say loudly what is
 * wrong and go on. A refusal is reported here, not thrown, so that under --json stdout's one object carries
 * the findings beside the error and exit code that every tool's error object has (common.ts).
 */
function refused(findings: Finding[], o: Options, say: Say): boolean {
  if (findings.length === 0) return false;
  if (!o.acceptImplausible) {
    const error = refusalText(findings, CALIBRATION_POSE_TEXT);
    process.stderr.write(`vla-calibrate: ${error}\n`);
    process.exitCode = EXIT.check_failed;
    if (o.json)
      process.stdout.write(
        `${JSON.stringify({ error, exit_code: EXIT.check_failed, robot: 'aloha', written: false, findings })}\n`,
      );
    return true;
  }
  say(`WARNING: writing an IMPLAUSIBLE calibration (--accept-implausible), ${findings.length} problem(s):`);
  for (const f of findings) say(`WARNING:   ${formatFinding(f)}`);
  say('WARNING: a run with it may command the arm somewhere else than the policy means');
  return false;
}

async function calibrate(o: Options): Promise<void> {
  if (o.robot === undefined) throw new UsageError('--robot is required (valid: aloha)');
  choice('robot', o.robot, ['aloha'] as const);
  const ports = portsArg(o.ports);
  const timeout_ms = intArg('--timeout-ms', o.timeoutMs, 1, 10_000);
  if (o.reboot) {
    const ids = idsArg(o.id);
    const common = { ports, calibration_dir: o.calibration, arm: o.arm, ids, timeout_ms };
    return rebootAlarmed({ ...common, yes: o.yes === true, json: o.json === true });
  }
  if (o.arm !== undefined || o.id !== undefined || o.calibration !== undefined)
    throw new UsageError('--arm, --id and --calibration go with --reboot');
  const sides = ALOHA_ARM_SIDES.filter((s) => ports[s]);
  const plan = await planOutput(o.out, sides, o.force === true);
  const say: Say = (s) => process.stderr.write(`${s}\n`);
  const prompts = calibrationPrompts(o, say);
  const buses: [AlohaSide, DynamixelBus][] = [];
  try {
    await openArms(ports, timeout_ms, buses);
    await checkSwap(buses, plan, o, say);
    // both arms alike: the nominal ranges are the profile's limits of the left arm's joints
    const limits = (await loadRobot('aloha')).position_limits_rad.slice(0, 6);
    const results: [AlohaSide, ArmCalibration][] = [];
    const findings: Finding[] = [];
    for (const [side, bus] of buses) {
      say(`${side} follower arm on ${bus.path}: ${MOTORS.length} motors found`);
      const r = await new AlohaCalibrator(bus, limits, side).run(prompts.steps(side, limits));
      results.push([side, r.calibration]);
      findings.push(...r.findings);
    }
    if (refused(findings, o, say)) return;
    const files = await writeAll(results, plan, say);
    if (o.json) {
      const out = { robot: 'aloha', written: true, files, ...(findings.length ? { implausible: findings } : {}) };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else
      for (const [side, file] of Object.entries(files)) process.stdout.write(`${side} follower calibration: ${file}\n`);
  } finally {
    prompts.close();
    for (const [, bus] of buses) await bus.close();
  }
}

const program = new Command('vla-calibrate')
  .description('Calibrate the ALOHA follower arms (Dynamixel) and write LeRobot-compatible calibration files.')
  .showHelpAfterError('(add --help for usage)')
  .option('--robot <name>', 'aloha (required)')
  .option(
    '--ports <arm=path,...>',
    '(required) serial port of each follower arm to calibrate, e.g. left=/dev/ttyUSB0,right=/dev/ttyUSB1',
  )
  .option('--out <dir>', 'directory to write <arm>_follower.json into', 'aloha-calibration')
  .option('--force', 'replace calibration files that exist in --out (without it: exit 2, nothing done)')
  .option(
    '--yes',
    'accept every step without waiting (arms resting, already in the calibration pose; nominal ranges); torque goes ' +
      'off without waiting',
  )
  .option(
    '--accept-implausible',
    'write the calibration even if it fails the plausibility checks or the ports look swapped (loud warnings)',
  )
  .option('--timeout-ms <ms>', 'reply timeout per request', '20')
  .option('--json', 'print one JSON object on stdout; no live readout')
  .option(
    '--reboot',
    'recover from a hardware alert instead of calibrating: list the alarmed servos, confirm, reboot them, ' +
      're-apply their settings, read back (torque stays off)',
  )
  .option('--arm <arm>', 'with --reboot: only this arm (left or right; default every arm in --ports)')
  .option('--id <ids>', 'with --reboot: only these motor IDs, e.g. 4 or 2,3 (default: every servo in alarm)')
  .option('--calibration <dir>', 'with --reboot (required): the directory with <arm>_follower.json that vla-run uses')
  .addHelpText(
    'after',
    `
Steps, per arm: (0) if its torque is on: support the arm (torque goes off next and it would fall), Enter;
(1) torque off, modes set; (2) put the arm in the calibration pose, Enter; (3) move every joint from end to
end, Enter. Steps 2 and 3 show each joint's reading live (degrees; step 3 also the range recorded so far).
Calibration pose:
  ${CALIBRATION_POSE_TEXT}.
Checks before anything is written: each joint within ${OFFSET_TOLERANCE_DEG}° of the pose (horn at its nominal
place); each range at least ${100 * MIN_SPAN_FRACTION}% of the joint's travel and within it +-${RANGE_SLACK_DEG}°; the
gripper reads lower as it closes; shadows follow their primaries; ports not swapped (seen against the previous
files in --out). A failed check writes nothing and exits 1, naming arm, joint, motor ID, value and expected range.
Exit codes: 0 written, 1 refused (implausible) or a bus fault, 2 bad usage or input (nothing moved).
--yes confirms every step, including (0): only for arms that rest on their stops (or the emulator).
Example against the emulator (vla-sim dynamixel --robot aloha --json prints the ports):
  vla-calibrate --robot aloha --ports left=/dev/pts/3,right=/dev/pts/5 --yes --out cal/

--reboot, after a servo's hardware alert (overload, overheating, input voltage, electrical shock, encoder): a
servo keeps its alarm, and its torque off, until it is rebooted. Lists each alarmed servo (arm, ID, joint,
alarm), asks (--yes confirms; without a terminal and without --yes: exit 2, nothing done), reboots it, waits
for it, re-applies the settings vla-run applies at connect (from --calibration) and reads it back. Torque
stays OFF until the next run's start-up switches it on, holding where the arm is. Exit 0 cleared (or nothing
in alarm), 1 a servo still alarmed or not answering, 2 bad usage or input.
  vla-calibrate --robot aloha --ports left=/dev/ttyUSB0,right=/dev/ttyUSB1 --reboot --calibration cal/
  vla-calibrate --robot aloha --ports left=/dev/pts/3 --reboot --arm left --id 4 --yes --calibration cal/`,
  )
  .action(calibrate);

await runProgram(program, process.argv, 'vla-calibrate');
