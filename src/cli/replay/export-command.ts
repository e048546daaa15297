// vla-replay export (being built).
import type { Command } from 'commander';

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('not built yet')
    .action(() => {
      throw new Error('vla-replay export is not built yet');
    });
}
