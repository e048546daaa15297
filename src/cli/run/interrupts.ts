// Ctrl-C and SIGTERM for a run, from the moment vla-run starts: the first stops the robot (it holds) and
// lets the run end with its summary; a second says the stop is under way; a third prints what is known and
// exits at once. A signal before the robot was ready skips the episodes, and the summary is still printed.
// Exit codes follow the shell's convention: 128 + the signal's number (SIGINT 130, SIGTERM 143).
import type { Logger } from '../../telemetry/log.js';

export type StopSignal = 'SIGINT' | 'SIGTERM';

const EXIT_CODE = { SIGINT: 130, SIGTERM: 143 } as const;

/** The exit code of a command a signal stopped. */
export const signalExitCode = (signal: StopSignal): 130 | 143 => EXIT_CODE[signal];

export class Interrupts {
  /** The first signal received, if any. */
  signal: StopSignal | undefined;
  private count = 0;
  private stop: ((signal: StopSignal) => void) | undefined;
  private readonly handlers: Record<StopSignal, () => void>;

  /** `lastWords` prints what is known when the user insists (third signal), just before the process exits. */
  constructor(
    private readonly log: Logger,
    private readonly lastWords: (signal: StopSignal) => void,
  ) {
    this.handlers = { SIGINT: () => this.received('SIGINT'), SIGTERM: () => this.received('SIGTERM') };
    process.on('SIGINT', this.handlers.SIGINT);
    process.on('SIGTERM', this.handlers.SIGTERM);
  }

  /** What a signal does to the running robot (hold it); at once if one came already. */
  onStop(stop: (signal: StopSignal) => void): void {
    this.stop = stop;
    if (this.signal) stop(this.signal);
  }

  get exitCode(): number | undefined {
    return this.signal ? EXIT_CODE[this.signal] : undefined;
  }

  dispose(): void {
    process.off('SIGINT', this.handlers.SIGINT);
    process.off('SIGTERM', this.handlers.SIGTERM);
  }

  private received(signal: StopSignal): void {
    this.count++;
    if (this.count === 1) {
      this.signal = signal;
      this.log.warn(`${signal}: holding the robot, then stopping (the summary follows)`);
      this.stop?.(signal);
    } else if (this.count === 2) {
      this.log.warn(`${signal}: still stopping, the robot holds; once more exits at once`);
    } else {
      this.lastWords(this.signal ?? signal);
      process.exit(EXIT_CODE[this.signal ?? signal]);
    }
  }
}
