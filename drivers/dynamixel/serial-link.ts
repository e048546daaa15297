// The serial port under a Dynamixel bus, the same in any thread. serialport's binding only opens and
// configures the device (baud rate, raw mode, lock) and closes it; serialport's own stream is not used,
// because its native reader registers with the main thread's event loop and crashes a worker thread
// ("Entering the V8 API without proper locking", serialport/node-serialport#2748), and because it
// allocates a buffer per read. Bytes come in through a tty.ReadStream on a second descriptor of the
// device, on this thread's own event loop, into one user buffer (net.Socket's `onread`: no allocation
// per read); they go out with non-blocking writes, in order, copied only when the OS buffer is full.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
// the binding's promisified native calls; open/close are N-API async work, safe in any thread
import { asyncClose, asyncOpen } from '@serialport/bindings-cpp/dist/load-bindings.js';
import { PortOpenError } from './errors.js';

/** Where a link's bytes and its end go (the bus). `bytes` is only valid during the call. */
export interface SerialLinkListener {
  bytes(bytes: Uint8Array, length: number): void;
  /** The link failed (an I/O error) or was closed; called once. */
  closed(err: Error | undefined): void;
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
const READ_BUFFER_BYTES = 4096;

export class SerialLink {
  private readonly reader: ReadStream;
  private readonly readBuffer = Buffer.alloc(READ_BUFFER_BYTES);
  /** Bytes the OS would not take yet, in order: [0, queued). */
  private overflow = new Uint8Array(1024);
  private queued = 0;
  private retry: NodeJS.Timeout | undefined;
  private drainWaiters: (() => void)[] = [];
  /** No more writes: the link failed or close() was called. */
  private ended = false;
  /** close() was called (the descriptors are closed or closing). */
  private released = false;
  private reported = false;
  private listener: SerialLinkListener | undefined;
  /** The tty stream has closed: on close(), or by itself after a hang-up or an I/O error. */
  private readonly readerClosed: Promise<void>;

  /** Open `path` at `baud_rate`, or throw PortOpenError naming `name` (the arm) and the path. */
  static async open(name: string, path: string, baud_rate: number): Promise<SerialLink> {
    const refused = (err: Error) => new PortOpenError(`${name}: cannot open serial port ${path}: ${err.message}`);
    const fd = (await asyncOpen(path, { ...OPEN_DEFAULTS, path, baudRate: baud_rate }).catch((err: Error) => {
      throw refused(err);
    })) as number;
    let readFd: number;
    try {
      readFd = openSync(path, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
    } catch (err) {
      await asyncClose(fd).catch(() => undefined);
      throw refused(err as Error);
    }
    return new SerialLink(fd, readFd);
  }

  private constructor(
    private readonly fd: number,
    readFd: number,
  ) {
    const onread = { buffer: this.readBuffer, callback: (n: number) => this.listener?.bytes(this.readBuffer, n) };
    this.reader = new ReadStream(readFd, { onread } as ConstructorParameters<typeof ReadStream>[1]);
    // libuv reopens a terminal by its path and reads from the new descriptor; the one it was given
    // stays ours to close. If it kept it instead, it closes it itself.
    const used = (this.reader as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (used !== readFd) closeSync(readFd);
    this.readerClosed = new Promise((resolve) => this.reader.once('close', () => resolve()));
    this.reader.on('error', (err: Error) => this.fail(err));
    // a hang-up (the adapter unplugged) ends the stream
    this.reader.on('end', () => this.fail(new Error('the device hung up')));
    // with `onread` no 'data' listener starts the stream
    this.reader.resume();
  }

  listen(listener: SerialLinkListener): void {
    this.listener = listener;
  }

  /** Send `data` after what was sent before. Never keeps a reference to it. A failure closes the link. */
  write(data: Uint8Array): void {
    if (this.ended) return;
    let offset = 0;
    if (this.queued === 0) {
      offset = this.writeNow(data, 0);
      if (offset < 0 || offset === data.length) return;
    }
    this.enqueue(data, offset);
    this.retry ??= setTimeout(() => this.flush(), EAGAIN_RETRY_MS);
  }

  /** `cb` once every byte written so far is with the OS. */
  drain(cb: () => void): void {
    if (this.queued === 0 || this.ended) queueMicrotask(cb);
    else this.drainWaiters.push(cb);
  }

  close(cb: () => void): void {
    if (this.released) {
      queueMicrotask(cb);
      return;
    }
    this.released = true;
    this.end();
    // the binding opened the descriptor, so the binding closes it (fs would warn about a descriptor it
    // never opened); callers must let this finish before the thread is terminated
    // after a hang-up the stream has destroyed itself already: its 'close' came and went
    void this.readerClosed.then(() =>
      asyncClose(this.fd)
        .catch(() => undefined)
        .then(() => {
          this.report(undefined);
          cb();
        }),
    );
    this.reader.destroy();
  }

  /** Write from `offset`; returns how far it got, or -1 after an error (the link is then failed). */
  private writeNow(data: Uint8Array, offset: number): number {
    try {
      while (offset < data.length) offset += writeSync(this.fd, data, offset, data.length - offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return offset;
      this.fail(err as Error);
      return -1;
    }
    return offset;
  }

  private enqueue(data: Uint8Array, offset: number): void {
    const n = data.length - offset;
    if (this.queued + n > this.overflow.length) {
      const grown = new Uint8Array(2 * (this.queued + n));
      grown.set(this.overflow.subarray(0, this.queued));
      this.overflow = grown;
    }
    this.overflow.set(data.subarray(offset), this.queued);
    this.queued += n;
  }

  /** Write what is queued; a full output buffer (EAGAIN) is retried a moment later. */
  private flush(): void {
    this.retry = undefined;
    if (this.ended) return;
    const done = this.writeNow(this.overflow.subarray(0, this.queued), 0);
    if (done < 0) return;
    this.overflow.copyWithin(0, done, this.queued);
    this.queued -= done;
    if (this.queued > 0) this.retry = setTimeout(() => this.flush(), EAGAIN_RETRY_MS);
    else this.finishDrain();
  }

  /** An I/O error: no more writes. The descriptors stay open (and the device locked) until close(). */
  private fail(err: Error): void {
    if (this.ended) return;
    this.end();
    this.report(err);
  }

  private end(): void {
    this.ended = true;
    clearTimeout(this.retry);
    this.queued = 0;
    this.finishDrain();
  }

  private report(err: Error | undefined): void {
    if (this.reported) return;
    this.reported = true;
    this.listener?.closed(err);
  }

  private finishDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const cb of waiters) queueMicrotask(cb);
  }
}
