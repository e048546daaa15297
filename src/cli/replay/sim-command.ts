// vla-replay sim (being built).
import type { Command } from 'commander';

export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('not built yet')
    .action(() => {
      throw new Error('vla-replay sim is not built yet');
    });
}
