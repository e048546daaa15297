// vla-replay eval (being built).
import type { Command } from 'commander';

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('not built yet')
    .action(() => {
      throw new Error('vla-replay eval is not built yet');
    });
}
