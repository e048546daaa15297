// vla-replay: look back at recorded episodes before risking the arm. `eval` runs a policy on the recorded
// observations and compares its chunks with what was done (open-loop); `sim` plays an episode again in the
// embedded sim (its recorded actions, or a policy from the same start); `robot` plays recorded actions on a
// real robot, safely; `export` writes recordings as a LeRobot dataset.
import { Command } from 'commander';
import { runProgram } from './common.js';
import { registerEvalCommand } from './replay/eval-command.js';
import { registerExportCommand } from './replay/export-command.js';
import { registerRobotCommand } from './replay/robot-command.js';
import { registerSimCommand } from './replay/sim-command.js';

const program = new Command('vla-replay')
  .description(
    'Evaluate a policy on recorded episodes (open loop), replay them in the sim, play them on a robot, or export ' +
      'them as a LeRobot dataset. Episodes: MCAP files, folders of them, or a LeRobot dataset folder.',
  )
  .showHelpAfterError('(add --help for usage)')
  .addHelpText(
    'after',
    `
Examples:
  vla-replay eval demos/ --policy models/ur5e-pick-place.onnx --out report/
  vla-replay sim demos/ur5e-pick-place-seed3.mcap --actions recorded
  vla-replay sim demos/ --policy models/ur5e-pick-place.onnx --out report/
  vla-replay export --to lerobot demos/ datasets/ur5e-pick-place
  vla-replay robot demos/ur5e-pick-place-seed3.mcap --rosbridge ws://ur-host:9090

Exit codes: 0 done, 1 a fault or failed check, 2 bad usage or input (nothing moved), 130/143 interrupted.`,
  );

registerEvalCommand(program);
registerSimCommand(program);
registerRobotCommand(program);
registerExportCommand(program);

await runProgram(program, process.argv, 'vla-replay');
