// Nothing moves a real robot from a recording without a person saying so: on a terminal the plan is shown and a
// "y" is asked for; without a terminal (a script, a pipe) only --yes says it, and anything else is refused
// before the robot is even connected.
import { createInterface } from 'node:readline';
import { ReplayInputError } from '../sim/replay-input.js';

export interface ConfirmOptions {
  yes: boolean;
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream;
}

/** Resolves when the move is confirmed; throws ReplayInputError (nothing moved) when it is not. */
export async function confirmMotion(plan: string, o: ConfirmOptions): Promise<void> {
  const input = o.input ?? process.stdin;
  const output = o.output ?? process.stderr;
  if (o.yes) {
    output.write(`${plan}\n(--yes: confirmed)\n`);
    return;
  }
  if (input.isTTY !== true) {
    throw new ReplayInputError(
      'refusing to move the robot without a confirmation: stdin is not a terminal; add --yes to confirm from a script',
    );
  }
  const rl = createInterface({ input, output });
  try {
    const answer = await new Promise<string | undefined>((resolve) => {
      rl.once('close', () => resolve(undefined));
      // Ctrl-C at the prompt (a terminal in raw mode sends it here, not as a signal) is a "no"
      rl.once('SIGINT', () => rl.close());
      rl.question(`${plan}\nMove the robot? [y/N] `, resolve);
    });
    if (!/^\s*y(es)?\s*$/i.test(answer ?? '')) throw new ReplayInputError('not confirmed: nothing moved');
  } finally {
    rl.close();
  }
}
