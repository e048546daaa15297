// A linked pair of pseudo-terminals made by Debian's socat: what one side writes the other reads, like
// the two ends of a USB-serial cable. The emulator opens one end; the user's driver opens the other.
// socat keeps running when the user's end is closed, so a driver may connect again (calibrate, then run).
import { spawn, type ChildProcess } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';

export interface PtyPair {
  /** The end a driver opens (/dev/pts/N). */
  user_path: string;
  /** The end the emulator opens. */
  device_path: string;
  close(): void;
}

const READY_TIMEOUT_MS = 5000;

/** Create a pair; `dir` holds the stable symlinks `<name>` and `<name>.device`. */
export async function createPtyPair(dir: string, name: string): Promise<PtyPair> {
  const userLink = join(dir, name);
  const deviceLink = join(dir, `${name}.device`);
  let proc: ChildProcess;
  try {
    proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${userLink}`, `pty,raw,echo=0,link=${deviceLink}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`cannot start socat: ${(err as Error).message} (install it: apt-get install socat)`);
  }
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => fail(new Error(`socat did not create the pseudo-terminals within ${READY_TIMEOUT_MS} ms: ${log.trim()}`)), READY_TIMEOUT_MS);
    const fail = (err: Error) => { clearTimeout(timer); proc.kill(); reject(err); };
    proc.once('error', (err: NodeJS.ErrnoException) => fail(new Error(err.code === 'ENOENT'
      ? 'socat is not installed (Debian: apt-get install socat); the Dynamixel emulator needs it for its pseudo-terminals'
      : `socat failed: ${err.message}`)));
    proc.once('exit', (code) => fail(new Error(`socat exited (code ${code}) before the pseudo-terminals were ready: ${log.trim()}`)));
    const onLog = (d: Buffer) => {
      log += d.toString();
      if (log.includes('starting data transfer loop')) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        proc.stderr!.off('data', onLog);
        resolve();
      }
    };
    proc.stderr!.on('data', onLog);
  });
  // keep draining socat's log so it never blocks on a full pipe
  proc.stderr!.resume();
  return {
    user_path: await realpath(userLink),
    device_path: await realpath(deviceLink),
    close: () => { if (proc.exitCode === null) proc.kill(); },
  };
}
