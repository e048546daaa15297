// A linked pair of pseudo-terminals: what the driver writes to one end the emulator reads from the other,
// like the two ends of a USB-serial cable. The driver opens the slave (/dev/pts/N) with serialport; the
// emulator reads and writes the master. Made with node-pty's prebuilt openpty binding (no process, no
// system package); Debian's socat is the fallback where that binding cannot load.
// Either way the pair outlives the driver's connection, so a driver may connect again (calibrate, then run).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, write } from 'node:fs';
import { realpath, symlink, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ReadStream } from 'node:tty';
import { autoDetect, type BindingPortInterface } from '@serialport/bindings-cpp';
import { SerialPort } from 'serialport';

/** The emulator's end of a pair. */
export interface PtyPair {
  /** The end a driver opens (/dev/pts/N). */
  readonly user_path: string;
  /** How the pair was made. */
  readonly via: 'node-pty' | 'socat';
  /** Bytes the driver wrote, in order, as they arrive. */
  onData(listener: (bytes: Buffer) => void): void;
  /** Bytes for the driver to read. */
  write(bytes: Uint8Array): void;
  close(): Promise<void>;
}

/** Create a pair; `dir` gets a stable symlink `<dir>/<name>` to the driver's end. */
export async function createPtyPair(dir: string, name: string): Promise<PtyPair> {
  const open = loadOpenpty();
  const pair = open ? await openNodePty(open) : await openSocat(dir, name);
  if (pair.via === 'node-pty') await replaceSymlink(pair.user_path, join(dir, name));
  return pair;
}

interface OpenptyResult {
  master: number;
  slave: number;
  pty: string;
}
type Openpty = (cols: number, rows: number) => OpenptyResult;

let openptyLoadError: string | undefined;

/** node-pty's native openpty, or null (with the reason kept) where its binary does not load. */
function loadOpenpty(): Openpty | null {
  try {
    const require = createRequire(import.meta.url);
    const binding = require('@lydell/node-pty/requireBinary').requireBinary('pty.node') as { open: Openpty };
    return binding.open;
  } catch (err) {
    openptyLoadError = (err as Error).message.split('\n')[0];
    return null;
  }
}

async function openNodePty(openpty: Openpty): Promise<PtyPair> {
  const t = openpty(80, 24);
  // The pair's line discipline is set as a serial port's: serialport's own binding opens the driver's end
  // once (raw: no echo, no line buffering, no signal characters, no CR/LF translation either way). That
  // handle stays open, never read, so the master sees no hang-up between two driver connections; it takes
  // no lock, so the driver's serialport can still lock the port for itself.
  let keepOpen: BindingPortInterface;
  try {
    keepOpen = await autoDetect().open({ path: t.pty, baudRate: 1_000_000, lock: false, hupcl: false });
  } finally {
    closeSync(t.slave);
  }
  const master = new ReadStream(t.master);
  const pending: Uint8Array[] = [];
  let writing = false;
  const flush = (): void => {
    const bytes = pending.shift();
    if (!bytes) {
      writing = false;
      return;
    }
    writing = true;
    write(t.master, bytes, (err) => {
      // EAGAIN: the driver is not reading and the pty buffer is full; the reply is lost, as on a real bus.
      if (err && err.code !== 'EAGAIN' && err.code !== 'EIO') master.emit('error', err);
      flush();
    });
  };
  master.on('error', () => {
    /* the emulator is closing the pair */
  });
  return {
    user_path: t.pty,
    via: 'node-pty',
    onData: (listener) => {
      master.on('data', listener);
    },
    write: (bytes) => {
      pending.push(bytes);
      if (!writing) flush();
    },
    close: async () => {
      master.destroy();
      if (keepOpen.isOpen) await keepOpen.close();
    },
  };
}

const SOCAT_READY_TIMEOUT_MS = 5000;

async function openSocat(dir: string, name: string): Promise<PtyPair> {
  const userLink = join(dir, name);
  const deviceLink = join(dir, `${name}.device`);
  const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${userLink}`, `pty,raw,echo=0,link=${deviceLink}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const fail = (err: Error) => {
      clearTimeout(timer);
      proc.kill();
      reject(err);
    };
    const timer = setTimeout(
      () =>
        fail(new Error(`socat did not create the pseudo-terminals within ${SOCAT_READY_TIMEOUT_MS} ms: ${log.trim()}`)),
      SOCAT_READY_TIMEOUT_MS,
    );
    proc.once('error', (err: NodeJS.ErrnoException) =>
      fail(
        new Error(
          err.code === 'ENOENT'
            ? `no pseudo-terminals: node-pty's prebuilt binary did not load (${openptyLoadError}) and socat is not ` +
                `installed`
            : `socat failed: ${err.message}`,
        ),
      ),
    );
    proc.once('exit', (code) =>
      fail(new Error(`socat exited (code ${code}) before the pseudo-terminals were ready: ${log.trim()}`)),
    );
    const onLog = (d: Buffer) => {
      log += d.toString();
      if (!log.includes('starting data transfer loop')) return;
      clearTimeout(timer);
      proc.removeAllListeners('exit');
      proc.stderr!.off('data', onLog);
      resolve();
    };
    proc.stderr!.on('data', onLog);
  });
  proc.stderr!.resume(); // keep draining socat's log so it never blocks on a full pipe
  return socatPair(proc, await realpath(userLink), await realpath(deviceLink));
}

async function socatPair(proc: ChildProcess, userPath: string, devicePath: string): Promise<PtyPair> {
  const port = new SerialPort({ path: devicePath, baudRate: 1_000_000, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  return {
    user_path: userPath,
    via: 'socat',
    onData: (listener) => {
      port.on('data', listener);
    },
    write: (bytes) => {
      port.write(Buffer.from(bytes));
    },
    close: async () => {
      if (port.isOpen) await new Promise<void>((r) => port.close(() => r()));
      if (proc.exitCode === null) proc.kill();
    },
  };
}

async function replaceSymlink(target: string, link: string): Promise<void> {
  await unlink(link).catch(() => undefined);
  await symlink(target, link);
}
