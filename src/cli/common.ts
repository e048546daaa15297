// What every command line tool shares: exit codes, usage errors that list the valid values, and
// running a command so that a user sees one clear line instead of a stack trace.
import { type Command, CommanderError } from 'commander';
import { parseCpuWakeLatency } from '../runtime/cpu-wake-latency.js';

/** 0 success, 1 a check failed, 2 bad usage or bad input (design.md). */
export const EXIT = { ok: 0, check_failed: 1, usage: 2 } as const;

/** Bad usage or bad input: printed as one line, exit code 2. */
export class UsageError extends Error {}

export function choice<T extends string>(what: string, value: string, valid: readonly T[]): T {
  if (!(valid as readonly string[]).includes(value)) {
    throw new UsageError(`unknown ${what} '${value}' (valid: ${valid.join(', ')})`);
  }
  return value as T;
}

export function intArg(what: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${what} must be an integer in [${min}, ${max}], got '${value}'`);
  return n;
}

/** Hidden layer sizes written as "256,256": one to four layers of 1 to 4096 units. */
export function layersArg(what: string, value: string): number[] {
  const sizes = value.split(',').map((s) => Number(s.trim()));
  if (sizes.length < 1 || sizes.length > 4 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 4096))
    throw new UsageError(`${what} must be 1 to 4 layer sizes in [1, 4096], e.g. 256,256; got '${value}'`);
  return sizes;
}

export function numArg(what: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`${what} must be a number in [${min}, ${max}], got '${value}'`);
  return n;
}

/**
 * Parse argv and run the chosen action. Usage errors exit 2 with one line on stderr; any other error
 * exits 1 with its message (the stack only with VLA_DEBUG=1). With --json, stdout still gets exactly one
 * JSON object: {"error": ..., "exit_code": ...}.
 */
export async function runProgram(program: Command, argv: string[], tool: string): Promise<void> {
  // `vla-run --help | head`: the reader left; what it did not read is not an error of ours
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  program.exitOverride();
  const json = argv.includes('--json');
  let commanderMessage = '';
  program.configureOutput({
    outputError: (str, write) => {
      commanderMessage = str.trim().replace(/^error: /, '');
      write(`${tool}: ${commanderMessage}\n`); // as every other error of ours: the tool, then what is wrong
    },
  });
  // piped help (`| less`, a CI log) wraps too, at 100 columns; a terminal's own width otherwise
  const width = process.stdout.isTTY ? process.stdout.columns : 100;
  const wrapHelp = (c: Command): void => {
    c.configureHelp({ ...c.configureHelp(), helpWidth: width });
    for (const sub of c.commands) wrapHelp(sub);
  };
  wrapHelp(program);
  const fail = (code: number, message: string): void => {
    process.exitCode = code;
    if (json) process.stdout.write(`${JSON.stringify({ error: message, exit_code: code })}\n`);
  };
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version arrive here too, with exit code 0
      if (err.exitCode === 0) process.exitCode = EXIT.ok;
      else fail(EXIT.usage, commanderMessage || err.message);
      return;
    }
    const debug = process.env.VLA_DEBUG === '1';
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof UsageError) {
      process.stderr.write(`${tool}: ${message}\n`);
      fail(EXIT.usage, message);
      return;
    }
    process.stderr.write(`${tool}: ${debug && err instanceof Error ? err.stack : message}\n`);
    fail(EXIT.check_failed, message);
  }
}

/** --cpu-wake-latency-us of the simulators: they stand in for hardware, which answers at once. */
export const SIMULATOR_CPU_WAKE_HELP =
  'while running, cap how long a CPU takes to wake (Linux PM QoS, /dev/cpu_dma_latency; needs root), so replies go ' +
  "out at once as real hardware's do; off: no cap";

/** A --cpu-wake-latency-us value: µs, or null for 'off'; anything else is a UsageError. */
export function cpuWakeLatencyArg(spec: string): number | null {
  try {
    return parseCpuWakeLatency(spec);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
