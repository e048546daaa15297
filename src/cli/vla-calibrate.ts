// vla-calibrate: calibrate the ALOHA follower arms over their serial ports and write LeRobot-compatible
// calibration files (one per arm) atomically. Prompts go to stderr and wait for Enter on stdin;
// --yes accepts every step at once (the arms are already in the calibration pose, e.g. the emulator's).
// Calibrating needs torque off (EEPROM registers), and an arm whose torque goes off falls: when any motor
// holds its arm, the user is told to support it and the tool waits for Enter before switching it off
// (with --yes the instruction is still printed; --yes says the arms are resting).
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { writeArmCalibrationAtomic } from '../../calibration/motor-calibration.js';
import { PortsArgError, parseArmPorts } from '../../drivers/aloha/ports-arg.js';
import { DynamixelBus } from '../../drivers/dynamixel/bus.js';
import { PortOpenError } from '../../drivers/dynamixel/errors.js';
import { ALOHA_ARM_SIDES, type AlohaSide, alohaMotors } from '../../protocols/aloha/motor-map.js';
import { REG } from '../../protocols/dynamixel/control-table.js';
import { AlohaCalibrator, CALIBRATION_POSE_TEXT } from '../calibrate/aloha-calibrator.js';
import { loadRobot } from '../robot/index.js';
import { choice, intArg, runProgram, UsageError } from './common.js';

function portsArg(value: string | undefined): Partial<Record<AlohaSide, string>> {
  try {
    return parseArmPorts(value);
  } catch (err) {
    if (err instanceof PortsArgError) throw new UsageError(err.message);
    throw err;
  }
}

const program = new Command('vla-calibrate')
  .description('Calibrate the ALOHA follower arms (Dynamixel) and write LeRobot-compatible calibration files.')
  .showHelpAfterError('(add --help for usage)')
  .option('--robot <name>', 'aloha')
  .option(
    '--ports <arm=path,...>',
    'serial port of each follower arm to calibrate, e.g. left=/dev/ttyUSB0,right=/dev/ttyUSB1',
  )
  .option('--out <dir>', 'where to write <arm>_follower.json', 'aloha-calibration')
  .option(
    '--yes',
    'accept every step without waiting (arms resting, already in the calibration pose; nominal ranges); torque goes ' +
      'off without waiting',
  )
  .option('--timeout-ms <ms>', 'reply timeout per request', '20')
  .option('--json', 'print one JSON object on stdout')
  .addHelpText(
    'after',
    `
Steps, per arm: (0) if its torque is on: support the arm (torque goes off next and it would fall), Enter;
(1) torque off, modes set; (2) put the arm in the calibration pose, Enter; (3) move every joint from end to
end, Enter. Pose: ${CALIBRATION_POSE_TEXT}.
--yes confirms every step, including (0): only for arms that rest on their stops (or the emulator).
Example against the emulator (vla-sim dynamixel --robot aloha --json prints the ports):
  vla-calibrate --robot aloha --ports left=/dev/pts/3,right=/dev/pts/5 --yes --out cal/`,
  )
  .action(
    async (o: { robot?: string; ports?: string; out: string; yes?: boolean; timeoutMs: string; json?: boolean }) => {
      if (o.robot === undefined) throw new UsageError('--robot is required (valid: aloha)');
      choice('robot', o.robot, ['aloha'] as const);
      const ports = portsArg(o.ports);
      const timeout_ms = intArg('--timeout-ms', o.timeoutMs, 1, 10_000);
      const outDir = resolve(o.out);
      const say = (s: string) => process.stderr.write(`${s}\n`);
      // lines are consumed in order even when they all arrive at once (a script piping answers)
      const rl = o.yes ? undefined : createInterface({ input: process.stdin });
      const answers = rl?.[Symbol.asyncIterator]();
      const step = async (text: string) => {
        if (!answers) {
          say(`${text} (--yes: accepted)`);
          return;
        }
        process.stderr.write(`${text} [Enter]${process.stdin.isTTY ? ' ' : '\n'}`);
        if ((await answers.next()).done)
          throw new UsageError('stdin closed before every step was confirmed (use --yes to accept all steps)');
      };

      // open every port first: a port that cannot be opened is bad input and nothing has been written
      const buses: [AlohaSide, DynamixelBus][] = [];
      try {
        for (const side of ALOHA_ARM_SIDES) {
          const path = ports[side];
          if (!path) continue;
          try {
            buses.push([side, await DynamixelBus.open({ path, name: `${side} follower`, timeout_ms })]);
          } catch (err) {
            if (err instanceof PortOpenError) throw new UsageError(err.message);
            throw err;
          }
        }
        await mkdir(outDir, { recursive: true });
        // both arms alike: the nominal ranges are the profile's limits of the left arm's joints
        const limits = (await loadRobot('aloha')).position_limits_rad.slice(0, 6);
        const files: Partial<Record<AlohaSide, string>> = {};
        for (const [side, bus] of buses) {
          const motors = alohaMotors('follower');
          // every motor answers, or the error names it
          for (const m of motors) await bus.readRegister(m.id, REG.model_number);
          say(`${side} follower arm on ${bus.path}: ${motors.length} motors found`);
          const cal = await new AlohaCalibrator(bus, limits).run({
            support: (holding) =>
              step(
                `Torque is on for ${holding.length} motor${holding.length > 1 ? 's' : ''} of the ${side} arm ` +
                  `(${holding.map((m) => `ID ${m.id} ${m.name}`).join(', ')}) ` +
                  'and goes OFF next: the arm will drop unless it rests on its stops. Support the arm with your hand ' +
                  '(or lower it onto its stops) before you continue',
              ),
            pose: () => step(`Move the ${side} arm to the calibration pose (${CALIBRATION_POSE_TEXT})`),
            ranges: () =>
              step(`Move every joint of the ${side} arm slowly from end to end (gripper: closed and open), then stop`),
            nominal_ranges: o.yes === true,
          });
          const file = join(outDir, `${side}_follower.json`);
          await writeArmCalibrationAtomic(file, cal, motors);
          files[side] = file;
          say(`${side}: wrote ${file} (torque stays off: the arm is limp)`);
        }
        if (o.json) process.stdout.write(`${JSON.stringify({ robot: 'aloha', files })}\n`);
        else
          for (const [side, file] of Object.entries(files))
            process.stdout.write(`${side} follower calibration: ${file}\n`);
      } finally {
        rl?.close();
        for (const [, bus] of buses) await bus.close();
      }
    },
  );

await runProgram(program, process.argv, 'vla-calibrate');
