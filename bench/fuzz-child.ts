// A server under fuzz as a child process, as a user runs it: the first stdout line is its JSON ready line,
// stderr is kept (pino JSON), and stop() sends a signal and waits for the exit, so a crash shows as an exit
// code and a stack trace rather than as a hung test.
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const BIN = resolve(import.meta.dirname, '../../bin');

export interface FuzzChild {
  ready: Record<string, unknown>;
  readonly child: ChildProcess;
  /** Whether it is still running. */
  alive(): boolean;
  stderr(): string;
  /** Signal it (SIGINT by default) and wait for the exit; SIGKILL after timeout_ms. */
  stop(signal?: NodeJS.Signals, timeout_ms?: number): Promise<{ code: number | null; stderr: string }>;
}

export async function startChild(bin: string, args: string[], ready_timeout_ms = 60_000): Promise<FuzzChild> {
  const child = spawn(process.execPath, [resolve(BIN, bin), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`${bin} printed no ready line in ${ready_timeout_ms} ms`)),
      ready_timeout_ms,
    );
    lines.once('line', (l) => {
      clearTimeout(timer);
      res(l);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`${bin} ${args.join(' ')} exited with ${code} before it was ready: ${stderr.slice(-2000)}`));
    });
  });
  let ready: Record<string, unknown>;
  try {
    ready = JSON.parse(first) as Record<string, unknown>;
  } catch {
    child.kill('SIGKILL'); // never leave a server behind a failed start
    throw new Error(`${bin} ${args.join(' ')}: the ready line is not JSON: ${first.slice(0, 200)}`);
  }
  return {
    ready,
    child,
    alive: () => child.exitCode === null && child.signalCode === null,
    stderr: () => stderr,
    async stop(signal = 'SIGINT', timeout_ms = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeout_ms);
      const code = await exited;
      clearTimeout(timer);
      return { code, stderr };
    },
  };
}

/** The fields of the last pino line of stderr whose message is `msg` (or starts with it, `prefix`). */
export function logRecord(stderr: string, msg: string, prefix = false): Record<string, unknown> | undefined {
  let found: Record<string, unknown> | undefined;
  for (const line of stderr.split('\n')) {
    if (!line.includes(msg)) continue;
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (rec.msg === msg || (prefix && String(rec.msg).startsWith(msg))) found = rec;
    } catch {
      // a line that is not JSON (a stack trace) is not the record
    }
  }
  return found;
}
