// A serial port that works inside a worker thread (the control loop's). serialport's native reader
// registers with the main thread's event loop (uv_default_loop), so a port read from a worker crashes
// the process ("Entering the V8 API without proper locking", serialport/node-serialport#2748). Here
// serialport's binding only opens and configures the port (baud rate, raw mode, lock) and closes it;
// bytes come in through a tty.ReadStream on a second descriptor of the same device, which lives on the
// worker's own event loop, and go out with non-blocking writes in order.
import { EventEmitter } from 'node:events';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
// the binding's promisified native calls; open/close are N-API async work, safe in any thread
import { asyncClose, asyncOpen } from '@serialport/bindings-cpp/dist/load-bindings.js';

/** What DynamixelBus needs of a port: serialport's SerialPort and this class both have it. */
export interface SerialLink {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  write(data: Uint8Array, cb?: (err: Error | null | undefined) => void): unknown;
  drain(cb: () => void): unknown;
  close(cb: () => void): unknown;
}

/** The options serialport's Linux binding opens with (bindings-cpp linux.js), at our baud rate. */
const OPEN_DEFAULTS = {
  vmin: 1,
  vtime: 0,
  dataBits: 8,
  lock: true,
  stopBits: 1,
  parity: 'none',
  rtscts: false,
  xon: false,
  xoff: false,
  xany: false,
  hupcl: true,
};
const EAGAIN_RETRY_MS = 1;

interface PendingWrite {
  data: Uint8Array;
  offset: number;
  cb?: (err: Error | null | undefined) => void;
}

export class WorkerSerialPort extends EventEmitter implements SerialLink {
  private readonly reader: ReadStream;
  private readonly pending: PendingWrite[] = [];
  private retry: NodeJS.Timeout | undefined;
  private drainWaiters: (() => void)[] = [];
  private closed = false;

  /** Open `path` at `baud_rate`; rejects with the binding's error (e.g. no such file) like SerialPort.open. */
  static async open(path: string, baud_rate: number): Promise<WorkerSerialPort> {
    const fd = (await asyncOpen(path, { ...OPEN_DEFAULTS, path, baudRate: baud_rate })) as number;
    let readFd: number;
    try {
      readFd = openSync(path, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
    } catch (err) {
      await asyncClose(fd).catch(() => undefined);
      throw err;
    }
    return new WorkerSerialPort(fd, readFd);
  }

  private constructor(
    private readonly fd: number,
    readFd: number,
  ) {
    super();
    this.reader = new ReadStream(readFd);
    // libuv reopens a terminal by its path and reads from the new descriptor; the one it was given
    // stays ours to close. If it kept it instead, it closes it itself.
    const used = (this.reader as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (used !== readFd) closeSync(readFd);
    this.reader.on('data', (chunk: Buffer) => this.emit('data', chunk));
    this.reader.on('error', (err: Error) => this.emit('error', err));
  }

  write(data: Uint8Array, cb?: (err: Error | null | undefined) => void): boolean {
    if (this.closed) {
      const err = new Error('port is closed');
      queueMicrotask(() => (cb ? cb(err) : this.emit('error', err)));
      return false;
    }
    this.pending.push({ data, offset: 0, cb });
    if (this.pending.length === 1) this.flush();
    return true;
  }

  drain(cb: () => void): void {
    if (this.pending.length === 0) queueMicrotask(cb);
    else this.drainWaiters.push(cb);
  }

  close(cb: () => void): void {
    if (this.closed) {
      queueMicrotask(cb);
      return;
    }
    this.closed = true;
    clearTimeout(this.retry);
    for (const w of this.pending.splice(0)) w.cb?.(new Error('port closed before the write'));
    this.finishDrain();
    // the binding opened the descriptor, so the binding closes it (fs would warn about a descriptor it
    // never opened); callers must let this finish before the thread is terminated
    this.reader.once('close', () => {
      void asyncClose(this.fd)
        .catch(() => undefined)
        .then(() => {
          this.emit('close');
          cb();
        });
    });
    this.reader.destroy();
  }

  /** Write what is queued, in order; a full output buffer (EAGAIN) is retried a moment later. */
  private flush(): void {
    this.retry = undefined;
    while (this.pending.length) {
      const w = this.pending[0];
      try {
        w.offset += writeSync(this.fd, w.data, w.offset, w.data.length - w.offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.retry = setTimeout(() => this.flush(), EAGAIN_RETRY_MS);
          return;
        }
        this.pending.shift();
        queueMicrotask(() => (w.cb ? w.cb(err as Error) : this.emit('error', err)));
        continue;
      }
      if (w.offset < w.data.length) continue;
      this.pending.shift();
      if (w.cb) queueMicrotask(() => w.cb!(null));
    }
    this.finishDrain();
  }

  private finishDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const cb of waiters) queueMicrotask(cb);
  }
}
