// Runs bin/vla-run.js as a child process without blocking this one (the simulated endpoints the tests
// start may live in this process and must keep running), with a way to wait for a log line.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const VLA_RUN = resolve(import.meta.dirname, '../../../bin/vla-run.js');

export interface VlaRunChild {
  /** The vla-run process (its own children: cameras' ffmpeg). */
  pid: number;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves when stderr has printed a line matching `re`. */
  stderrMatch(re: RegExp): Promise<void>;
}

/** `bin`: another of the project's commands (default bin/vla-run.js). */
export function vlaRunChild(args: string[], timeout_ms: number, bin = VLA_RUN): VlaRunChild {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '',
    stderr = '';
  const watchers: { re: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of [...watchers])
      if (w.re.test(stderr)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout_ms);
  return {
    pid: child.pid!,
    done: new Promise((res) =>
      child.on('close', (code) => {
        clearTimeout(timer);
        res({ code, stdout, stderr });
      }),
    ),
    stderrMatch: (re) =>
      new Promise((res) => {
        if (re.test(stderr)) res();
        else watchers.push({ re, resolve: res });
      }),
  };
}
