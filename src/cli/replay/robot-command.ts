// vla-replay robot (being built).
import type { Command } from 'commander';

export function registerRobotCommand(program: Command): void {
  program
    .command('robot')
    .description('not built yet')
    .action(() => {
      throw new Error('vla-replay robot is not built yet');
    });
}
