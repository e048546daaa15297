// vla-sim: the embedded MuJoCo simulation on its own: run and record scripted episodes, render camera
// snapshots, benchmark the sim, print the generated MuJoCo model, inspect recordings.
import { Command } from 'commander';
import { SimEnv } from '../../sim/sim-env.js';
import { runProgram } from './common.js';
import { robotArg, TASK_HELP, taskArg } from './sim/args.js';
import { benchCommand } from './sim/bench.js';
import { inspectCommand } from './sim/inspect.js';
import { runCommand } from './sim/run.js';
import { snapshotCommand } from './sim/snapshot.js';

const program = new Command('vla-sim')
  .description('The embedded MuJoCo simulation of vla-runtime: UR5/UR5e and ALOHA cells with scripted experts.')
  // before the subcommands are defined, so they inherit it: a usage error is one line and exit 2 (runProgram)
  .exitOverride()
  .configureOutput({
    outputError: (str, write) => write(`vla-sim: ${str.replace(/^error: /, '').trimEnd()} (see --help)\n`),
  })
  .addHelpText(
    'after',
    `
Examples:
  vla-sim run --robot ur5                                   one pick-place episode in real time
  vla-sim run --robot aloha --episodes 20 --clock fast --record demos/
  vla-sim snapshot --robot ur5e --camera wrist --tick 120 --out wrist.png
  vla-sim bench --robot ur5e --task pick-place --episodes 100 --json
  vla-sim inspect demos/aloha-transfer-cube-seed0.mcap
  vla-sim model --robot ur5e > ur5e.xml
Every command has --help with more examples. Exit codes: 0 done (the servers: also when stopped), 1 a check
failed, 2 bad usage or input, 130 Ctrl-C and 143 SIGTERM (run).`,
  );

runCommand(program);
snapshotCommand(program);
benchCommand(program);
inspectCommand(program);
(await import('./sim/dynamixel.js')).dynamixelCommand(program);
(await import('./sim/serve.js')).serveCommand(program);
program
  .command('model')
  .description("print the generated MuJoCo XML of a robot + task (open it in MuJoCo's viewer)")
  .option('--robot <name>', 'ur5 | ur5e | aloha (required)')
  .option('--task <name>', TASK_HELP)
  .addHelpText(
    'after',
    '\nExamples:\n  vla-sim model --robot ur5e > ur5e.xml\n  vla-sim model --robot aloha --task transfer-cube',
  )
  .action(async (o: Record<string, string | undefined>) => {
    const robot = robotArg(o.robot);
    const env = await SimEnv.create({ robot, task: taskArg(robot, o.task) });
    process.stdout.write(env.xml);
    env.dispose();
  });

await runProgram(program, process.argv, 'vla-sim');
