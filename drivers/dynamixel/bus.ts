// A Dynamixel Protocol 2.0 bus on one serial port (one ALOHA arm). Requests are serialised (the bus is
// half duplex), each waits a bounded time for its status packets (timeout_ms for the per-tick sync
// instructions, setup_timeout_ms for the unicast ones that set a robot up) and is retried a bounded number
// of times; a sync read is retried for the missing IDs only. Counters tell a user how healthy the cable is.
import { isMainThread } from 'node:worker_threads';
import { SerialPort } from 'serialport';
import { WorkerSerialPort, type SerialLink } from './worker-serial-port.js';
import { PacketFramer } from '../../protocols/dynamixel/framer.js';
import { InstructionWriter, type BulkReadEntry } from '../../protocols/dynamixel/instructions.js';
import { BROADCAST_ID, readIntLE, type Packet } from '../../protocols/dynamixel/packet.js';
import { Transaction } from './transaction.js';
import { AbandonedReplies, MAX_READ_PAD } from './reply-tags.js';
import { BusClosedError, DynamixelDeadlineError, DynamixelStatusError, DynamixelTimeoutError, PortOpenError } from './errors.js';
import { CONTROL_TABLE_SIZE, REG, type Register } from '../../protocols/dynamixel/control-table.js';
import { monotonicMs } from '../../src/util/clock.js';

/**
 * Wait for the replies of one attempt of a per-tick request (SYNC_READ, BULK_READ). 9 replies take
 * ~1.5 ms at 1 Mbps; 15 ms is the most that still lets one retry of a lost reply fit in a 20 ms (50 Hz)
 * tick, and waiting longer than needed costs nothing: a corrupted reply is retried at once, without
 * waiting for the timeout. Shorter (10 ms) only re-asked servos whose replies were merely late (a loaded
 * machine, an emulator process) and the retry did not make them come sooner.
 */
export const DEFAULT_BUS_TIMEOUT_MS = 15;
/**
 * Wait for the reply of one attempt of a set-up request (PING, READ, WRITE: connect, configure, torque).
 * Not on the control clock, so generous: a 10 ms hiccup of a loaded machine (or of a USB adapter's
 * 16 ms latency timer) must not turn into "no reply from ID n" while connecting.
 */
export const DEFAULT_BUS_SETUP_TIMEOUT_MS = 100;
/** Attempts after the first. */
export const DEFAULT_BUS_RETRIES = 2;
/** A retry with less time than this before its deadline could not get an answer: the request is abandoned. */
const MIN_ATTEMPT_MS = 1;
/** A barrier read may ask this many extra bytes to find a reply length nobody is owed. */
const BARRIER_MAX_PAD = 16;

export interface BusOptions {
  path: string;
  /** Shown in every error, e.g. "left arm". */
  name: string;
  baud_rate?: number;
  /** Per-tick requests: wait for the replies of one attempt (default DEFAULT_BUS_TIMEOUT_MS). */
  timeout_ms?: number;
  /** Set-up requests (PING, READ, WRITE); default DEFAULT_BUS_SETUP_TIMEOUT_MS, or timeout_ms when that is given. */
  setup_timeout_ms?: number;
  /** Attempts after the first (default 2). */
  retries?: number;
}

export interface BusCounters {
  requests: number;
  retries: number;
  timeouts: number;
  /** Packets dropped for a bad CRC, ours (seen by the framer) or the servo's (ERR = CRC error). */
  crc_errors: number;
  /** Status packets with the hardware alert bit (ERR bit 7). */
  hardware_alerts: number;
  /** Replies nobody waited for (late replies of an abandoned request, duplicates of a retry): dropped. */
  stale_replies: number;
  /** Requests abandoned at their deadline (the end of their control tick). */
  deadline_misses: number;
  /** Barrier reads sent because every reply tag was still owed (see reply-tags.ts). */
  barriers: number;
}

/** One request: what it asks, which replies it expects, how long it may take. */
interface RequestSpec {
  what: string;
  ids: readonly number[];
  /** Data bytes each reply carries before any tag pad (by index into ids). */
  replyBytes: (i: number) => number;
  /** For a read: the control-table address just past what it reads (bounds the tag pad). Absent: cannot be tagged. */
  readEnd?: number;
  build: (missing: readonly number[], pad: number) => Buffer;
  timeout_ms: number;
  /** monotonicMs() after which the request is abandoned; absent: none. */
  deadline_ms?: number;
  onReply?: (index: number, p: Packet) => void;
}

export class DynamixelBus {
  readonly name: string;
  readonly path: string;
  readonly timeout_ms: number;
  readonly setup_timeout_ms: number;
  readonly retries: number;
  readonly counters: BusCounters = { requests: 0, retries: 0, timeouts: 0, crc_errors: 0, hardware_alerts: 0, stale_replies: 0, deadline_misses: 0, barriers: 0 };
  /** IDs that have reported a hardware alert since the last clearAlerts(). */
  readonly alerts = new Set<number>();
  private readonly writer = new InstructionWriter();
  private readonly framer: PacketFramer;
  private current: Transaction | undefined;
  /** Every request with replies gets the next generation; late replies are told apart by it (reply-tags.ts). */
  private generation = 0;
  private currentGeneration = 0;
  private readonly abandoned = new AbandonedReplies();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private closeError: Error | undefined;

  static async open(opts: BusOptions): Promise<DynamixelBus> {
    // serialport's reader runs on the main thread's event loop: a worker (the control loop) needs its own
    if (!isMainThread) {
      const link = await WorkerSerialPort.open(opts.path, opts.baud_rate ?? 1_000_000).catch((err: Error) => {
        throw new PortOpenError(`${opts.name}: cannot open serial port ${opts.path}: ${err.message}`);
      });
      return new DynamixelBus(link, opts);
    }
    const port = new SerialPort({ path: opts.path, baudRate: opts.baud_rate ?? 1_000_000, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new PortOpenError(
      `${opts.name}: cannot open serial port ${opts.path}: ${err.message}`)) : resolve())));
    return new DynamixelBus(port, opts);
  }

  private constructor(private readonly port: SerialLink, opts: BusOptions) {
    this.name = opts.name;
    this.path = opts.path;
    this.timeout_ms = opts.timeout_ms ?? DEFAULT_BUS_TIMEOUT_MS;
    this.setup_timeout_ms = opts.setup_timeout_ms ?? opts.timeout_ms ?? DEFAULT_BUS_SETUP_TIMEOUT_MS;
    this.retries = opts.retries ?? DEFAULT_BUS_RETRIES;
    this.framer = new PacketFramer((p) => this.onPacket(p), () => {
      this.counters.crc_errors++;
      this.current?.crcError();
    });
    port.on('data', (chunk: Buffer) => this.framer.push(chunk));
    port.on('close', () => this.onClosed(new BusClosedError(`${this.name}: serial port ${this.path} closed`)));
    port.on('error', (err: Error) => this.onClosed(new BusClosedError(`${this.name}: serial port ${this.path}: ${err.message}`)));
  }

  get isOpen(): boolean { return !this.closed; }

  clearAlerts(): void { this.alerts.clear(); }

  /** PING: model number and firmware version. */
  async ping(id: number): Promise<{ model_number: number; firmware: number }> {
    let model_number = 0, firmware = 0;
    await this.request({
      what: 'PING', ids: [id], replyBytes: () => 3, build: () => this.writer.ping(id), timeout_ms: this.setup_timeout_ms,
      onReply: (_, p) => { model_number = readIntLE(p.data, 0, 2); firmware = p.data[2]; },
    });
    return { model_number, firmware };
  }

  /** READ `length` bytes from `address` (a copy). */
  async read(id: number, address: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.request({
      what: `READ ${address}+${length}`, ids: [id], replyBytes: () => length, readEnd: address + length,
      build: (_, pad) => this.writer.read(id, address, length + pad), timeout_ms: this.setup_timeout_ms, onReply: (_, p) => out.set(p.data.subarray(0, length)),
    });
    return out;
  }

  async readRegister(id: number, reg: Register): Promise<number> {
    let v = 0;
    await this.request({
      what: `READ ${reg.name}`, ids: [id], replyBytes: () => reg.size, readEnd: reg.address + reg.size,
      build: (_, pad) => this.writer.read(id, reg.address, reg.size + pad), timeout_ms: this.setup_timeout_ms, onReply: (_, p) => { v = readIntLE(p.data, 0, reg.size); },
    });
    return v;
  }

  /** WRITE raw bytes; waits for the servo's status unless `id` is the broadcast ID. */
  async write(id: number, address: number, data: ArrayLike<number>): Promise<void> {
    await this.request({
      what: `WRITE ${address}+${data.length}`, ids: id === BROADCAST_ID ? [] : [id], replyBytes: () => 0, build: () => this.writer.write(id, address, data),
      timeout_ms: this.setup_timeout_ms,
    });
  }

  async writeRegister(id: number, reg: Register, value: number): Promise<void> {
    await this.request({
      what: `WRITE ${reg.name}=${value}`, ids: id === BROADCAST_ID ? [] : [id], replyBytes: () => 0, build: () => this.writer.writeValue(id, reg.address, reg.size, value),
      timeout_ms: this.setup_timeout_ms,
    });
  }

  /**
   * SYNC_READ one integer register of `ids` into out[i] (signed for 4-byte registers). One packet out,
   * one status packet back per ID; on a retry only the IDs still missing are asked again. Set-up code
   * passes setup_timeout_ms; the per-tick read keeps the default and passes its tick's deadline
   * (monotonicMs()): past it the read is abandoned (DynamixelDeadlineError), however many retries are
   * left, and `out` may hold part of this read (use none of it).
   */
  async syncRead(reg: Register, ids: readonly number[], out: Int32Array, timeout_ms = this.timeout_ms, deadline_ms = Infinity): Promise<void> {
    await this.request({
      what: `SYNC_READ ${reg.name}`, ids, replyBytes: () => reg.size, readEnd: reg.address + reg.size,
      build: (missing, pad) => this.writer.syncRead(reg.address, reg.size + pad, missing), timeout_ms, deadline_ms,
      onReply: (i, p) => { out[i] = readIntLE(p.data, 0, reg.size); },
    });
  }

  /** SYNC_WRITE one integer register: values[i] to ids[i]. No replies (broadcast). */
  async syncWrite(reg: Register, ids: readonly number[], values: ArrayLike<number>): Promise<void> {
    await this.request({ what: `SYNC_WRITE ${reg.name}`, ids: [], replyBytes: () => 0, build: () => this.writer.syncWrite(reg.address, reg.size, ids, values), timeout_ms: this.timeout_ms });
  }

  /** BULK_READ: a different register range per ID; returns a copy of each reply's data. */
  async bulkRead(entries: readonly BulkReadEntry[]): Promise<Uint8Array[]> {
    const out = entries.map((e) => new Uint8Array(e.length));
    const ids = entries.map((e) => e.id);
    if (new Set(ids).size !== ids.length) throw new Error(`${this.name}: BULK_READ lists an ID twice (${ids.join(', ')})`);
    await this.request({
      what: 'BULK_READ', ids, replyBytes: (i) => entries[i].length, readEnd: Math.max(...entries.map((e) => e.address + e.length)),
      build: (missing, pad) => this.writer.bulkRead(entries.filter((e) => missing.includes(e.id)).map((e) => ({ ...e, length: e.length + pad }))),
      timeout_ms: this.timeout_ms, onReply: (i, p) => out[i].set(p.data.subarray(0, entries[i].length)),
    });
    return out;
  }

  /** Abandoned requests whose replies may still come (0 when the bus is in step). */
  get abandonedRequests(): number { return this.abandoned.pending; }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.current?.cancel();
    // the last SYNC_WRITE may still be queued (not awaited): let it reach the servos first
    await new Promise<void>((resolve) => this.port.drain(() => resolve()));
    await new Promise<void>((resolve) => this.port.close(() => resolve()));
  }

  // ---- request engine ----

  private request(spec: RequestSpec): Promise<void> {
    const run = this.queue.then(() => this.run(spec));
    this.queue = run.catch(() => {});
    return run;
  }

  private async run(spec: RequestSpec, max_pad = MAX_READ_PAD): Promise<void> {
    if (this.closed) throw this.closeError ?? new BusClosedError(`${this.name}: bus is closed`);
    const deadline_ms = spec.deadline_ms ?? Infinity;
    // queued behind a request that used up this one's tick: give up before sending anything
    if (monotonicMs() >= deadline_ms) {
      this.counters.deadline_misses++;
      throw new DynamixelDeadlineError(this.name, [...spec.ids], spec.what);
    }
    this.counters.requests++;
    const { ids } = spec;
    if (ids.length === 0) {
      // nothing comes back, so nothing to wait for: the serialport stream keeps writes in order (the next
      // request's bytes follow these), and a failed write closes the bus through the 'error' event. Not
      // waiting for the write's completion (a thread-pool round trip) keeps it off the control cycle.
      // A copy: the packet is a view of the writer's buffer, which the next request overwrites while
      // this one may still be queued in the stream.
      this.port.write(Buffer.from(spec.build(ids, 0)));
      return;
    }
    let pad = this.freePad(spec, max_pad);
    if (pad === undefined) {
      if (max_pad > MAX_READ_PAD) throw new BusClosedError(`${this.name}: out of step with its servos (no reply length is free for ${spec.what})`);
      await this.barrier(spec);
      pad = this.freePad(spec, max_pad) ?? 0;
    }
    const generation = ++this.generation;
    const tx = new Transaction(ids, ids.map((_, i) => spec.replyBytes(i) + pad), spec.onReply ?? (() => {}), (id) => {
      this.counters.hardware_alerts++;
      this.alerts.add(id);
    });
    const attempts = this.retries + 1;
    try {
      for (let attempt = 1; ; attempt++) {
        this.current = tx;
        this.currentGeneration = generation;
        const missing = attempt === 1 ? ids : tx.missingIds();
        const outcome = tx.attempt(Math.ceil(Math.min(spec.timeout_ms, deadline_ms - monotonicMs())));
        await this.send(spec.build(missing, pad));
        const o = await outcome;
        // replies handled after the tick ended (this process was stalled) are that late reading: unused
        if (o === 'complete' && monotonicMs() > deadline_ms) {
          this.counters.deadline_misses++;
          throw new DynamixelDeadlineError(this.name, [], spec.what);
        }
        if (o === 'complete') return;
        if (o === 'refused') throw new DynamixelStatusError(this.name, tx.refusal!.id, tx.refusal!.status, spec.what);
        if (this.closed) throw this.closeError ?? new BusClosedError(`${this.name}: bus closed during ${spec.what}`);
        if (o === 'timeout') this.counters.timeouts++;
        // a retry (even the immediate one after a CRC error) must finish inside the tick too; timers
        // keep whole milliseconds, so less than one left is none
        if (monotonicMs() > deadline_ms - MIN_ATTEMPT_MS) {
          this.counters.deadline_misses++;
          throw new DynamixelDeadlineError(this.name, tx.missingIds(), spec.what);
        }
        if (attempt === attempts) throw new DynamixelTimeoutError(this.name, tx.missingIds(), spec.what, attempts, spec.timeout_ms);
        this.counters.retries++;
        // drop what is left of a broken packet so it cannot hold up the retry's replies. The OS input
        // queue is not flushed: on a busy machine a "timeout" is mostly a late reply, still welcome
        // within this request (the transaction takes it for any ID still missing).
        this.framer.reset();
      }
    } finally {
      this.current = undefined;
      // whatever is still owed may come later; it must never pass for another request's reply
      this.abandoned.abandon(generation, tx.owed());
    }
  }

  /** The smallest tag pad (extra bytes read) for which no abandoned request is owed a reply this request would take. */
  private freePad(spec: RequestSpec, max_pad: number): number | undefined {
    const last = spec.readEnd === undefined ? 0 : Math.min(max_pad, CONTROL_TABLE_SIZE - spec.readEnd);
    for (let pad = 0; pad <= last; pad++) {
      if (!this.abandoned.collides(spec.ids, (i) => spec.replyBytes(i) + pad)) return pad;
    }
    return undefined;
  }

  /**
   * Every tag is taken by replies still owed: read Model_Number from the request's first ID with a length
   * nobody is owed. The link is ordered, so once its reply is here every older reply has arrived or never
   * will, and the records are settled (AbandonedReplies.heard).
   */
  private async barrier(spec: RequestSpec): Promise<void> {
    const id = spec.ids[0];
    this.counters.barriers++;
    await this.run({
      what: `READ Model_Number (a barrier before ${spec.what})`, ids: [id], replyBytes: () => REG.model_number.size, readEnd: REG.model_number.size,
      build: (_, pad) => this.writer.read(id, REG.model_number.address, REG.model_number.size + pad), timeout_ms: spec.timeout_ms, deadline_ms: spec.deadline_ms,
    }, BARRIER_MAX_PAD);
  }

  private send(packet: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.port.write(packet, (err) => (err ? reject(new BusClosedError(`${this.name}: write to ${this.path} failed: ${err.message}`)) : resolve()));
    });
  }

  private onPacket(p: Packet): void {
    if (p.instruction !== 0x55) return; // our own echo on a bus that loops back
    if (this.current?.offer(p)) {
      this.abandoned.heard(this.currentGeneration);
      return;
    }
    // a reply to an abandoned request (or a duplicate): counted and dropped, never used
    this.counters.stale_replies++;
    this.abandoned.settle(p.id, p.data.length);
  }

  private onClosed(err: Error): void {
    if (!this.closeError) this.closeError = err;
    this.closed = true;
    this.current?.cancel();
  }
}
