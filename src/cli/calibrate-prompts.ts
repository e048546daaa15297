// The prompts of vla-calibrate: each step is confirmed with Enter on stdin (or at once with --yes), and
// while the pose and range steps wait, the joints' readings are shown live (calibrate/readout.ts; nothing
// under --json). On a terminal a pose that reads implausible is asked for again; a script (stdin not a
// terminal) gets the refusal at the end instead.
import { createInterface } from 'node:readline/promises';
import type { ArmJointLimits } from '../../calibration/aloha-nominal-ranges.js';
import type { AlohaMotor, AlohaSide } from '../../protocols/aloha/motor-map.js';
import { CALIBRATION_POSE_TEXT, type CalibratorSteps } from '../calibrate/aloha-calibrator.js';
import { type Finding, formatFinding } from '../calibrate/plausibility.js';
import { CalibrationReadout } from '../calibrate/readout.js';
import { liveLines } from '../telemetry/live-lines.js';
import { UsageError } from './common.js';

export type Say = (s: string) => void;

export interface PromptOptions {
  yes?: boolean;
  json?: boolean;
  acceptImplausible?: boolean;
}

export function calibrationPrompts(o: PromptOptions, say: Say) {
  // lines are consumed in order even when they all arrive at once (a script piping answers)
  const rl = o.yes ? undefined : createInterface({ input: process.stdin });
  const answers = rl?.[Symbol.asyncIterator]();
  const step = async (text: string) => {
    if (!answers) {
      say(`${text} (--yes: accepted)`);
      return;
    }
    say(`${text} [Enter]`);
    if ((await answers.next()).done)
      throw new UsageError('stdin closed before every step was confirmed (use --yes to accept all steps)');
  };
  const askAgain = answers !== undefined && process.stdin.isTTY === true && !o.acceptImplausible;

  return {
    steps(side: AlohaSide, limits: ArmJointLimits): CalibratorSteps {
      const readout = new CalibrationReadout(side, limits, liveLines({ json: o.json }));
      const waiting = async (text: string) => {
        try {
          await step(text);
        } finally {
          readout.end();
        }
      };
      return {
        support: (holding: readonly AlohaMotor[]) =>
          step(
            `Torque is on for ${holding.length} motor${holding.length > 1 ? 's' : ''} of the ${side} arm ` +
              `(${holding.map((m) => `ID ${m.id} ${m.name}`).join(', ')}) ` +
              'and goes OFF next: the arm will drop unless it rests on its stops. Support the arm with your hand ' +
              '(or lower it onto its stops) before you continue',
          ),
        pose: () => waiting(`Move the ${side} arm to the calibration pose (${CALIBRATION_POSE_TEXT})`),
        poseRejected: askAgain
          ? async (findings: readonly Finding[]) => {
              say(`The ${side} arm is not in the calibration pose:`);
              for (const f of findings) say(`  ${formatFinding(f)}`);
              say('Move those joints into the pose (the live readout marks them with !), then confirm again.');
              return true;
            }
          : undefined,
        ranges: () =>
          waiting(`Move every joint of the ${side} arm slowly from end to end (gripper: closed and open), then stop`),
        observe: (s) => readout.observe(s),
        nominal_ranges: o.yes === true,
      };
    },
    close(): void {
      rl?.close();
    },
  };
}
