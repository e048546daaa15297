// A Dynamixel Protocol 2.0 bus on one serial port (one ALOHA arm). Requests are serialised (the bus is
// half duplex), each waits a bounded time for its status packets (timeout_ms for the per-tick sync
// instructions, setup_timeout_ms for the unicast ones that set a robot up) and is retried a bounded number
// of times; a sync read is retried for the missing IDs only. Counters tell a user how healthy the cable is.
// Options, defaults and counters: bus-options.ts.
import { CONTROL_TABLE_SIZE, REG, type Register } from '../../protocols/dynamixel/control-table.js';
import { PacketFramer } from '../../protocols/dynamixel/framer.js';
import { type BulkReadEntry, InstructionWriter } from '../../protocols/dynamixel/instructions.js';
import { BROADCAST_ID, type Packet, readIntLE } from '../../protocols/dynamixel/packet.js';
import { monotonicMs } from '../../src/util/clock.js';
import {
  type BusCounters,
  type BusOptions,
  DEFAULT_BUS_RETRIES,
  DEFAULT_BUS_SETUP_TIMEOUT_MS,
  DEFAULT_BUS_TIMEOUT_MS,
  newBusCounters,
  type RequestSpec,
} from './bus-options.js';
import { BusClosedError, DynamixelDeadlineError, DynamixelStatusError, DynamixelTimeoutError } from './errors.js';
import { openSerialLink } from './open-port.js';
import { AbandonedReplies, MAX_READ_PAD } from './reply-tags.js';
import { Transaction } from './transaction.js';
import type { SerialLink } from './worker-serial-port.js';

/** A retry with less time than this before its deadline could not get an answer: the request is abandoned. */
const MIN_ATTEMPT_MS = 1;
/** A barrier read may ask this many extra bytes to find a reply length nobody is owed. */
const BARRIER_MAX_PAD = 16;

const NO_REPLY = () => {};

export class DynamixelBus {
  readonly name: string;
  readonly path: string;
  readonly timeout_ms: number;
  readonly setup_timeout_ms: number;
  readonly retries: number;
  readonly counters: BusCounters = newBusCounters();
  /** IDs that have reported a hardware alert since the last clearAlerts(). */
  readonly alerts = new Set<number>();
  private readonly writer = new InstructionWriter();
  private readonly framer: PacketFramer;
  private current: Transaction | undefined;
  /** The one transaction, reused by every request (they go one at a time). */
  private readonly tx = new Transaction((id) => {
    this.counters.hardware_alerts++;
    this.alerts.add(id);
  });
  /** Every request with replies gets the next generation; late replies are told apart by it (reply-tags.ts). */
  private generation = 0;
  private currentGeneration = 0;
  private readonly abandoned = new AbandonedReplies();
  private queue: Promise<unknown> = Promise.resolve();
  /** No more requests: close() was called or the port failed. */
  private closed = false;
  /** The port's descriptor is open (and locked) until close() or the port's own 'close' event. */
  private portOpen = true;
  private closeError: Error | undefined;

  static async open(opts: BusOptions): Promise<DynamixelBus> {
    return new DynamixelBus(await openSerialLink(opts.name, opts.path, opts.baud_rate ?? 1_000_000), opts);
  }

  private constructor(
    private readonly port: SerialLink,
    opts: BusOptions,
  ) {
    this.name = opts.name;
    this.path = opts.path;
    this.timeout_ms = opts.timeout_ms ?? DEFAULT_BUS_TIMEOUT_MS;
    this.setup_timeout_ms = opts.setup_timeout_ms ?? opts.timeout_ms ?? DEFAULT_BUS_SETUP_TIMEOUT_MS;
    this.retries = opts.retries ?? DEFAULT_BUS_RETRIES;
    this.framer = new PacketFramer(
      (p) => this.onPacket(p),
      () => {
        this.counters.crc_errors++;
        this.current?.crcError();
      },
    );
    port.on('data', (chunk: Buffer) => this.framer.push(chunk));
    port.on('close', () => {
      this.portOpen = false;
      this.onClosed(new BusClosedError(`${this.name}: serial port ${this.path} closed`));
    });
    port.on('error', (err: Error) =>
      this.onClosed(new BusClosedError(`${this.name}: serial port ${this.path}: ${err.message}`)),
    );
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  clearAlerts(): void {
    this.alerts.clear();
  }

  /** PING: model number and firmware version. */
  async ping(id: number): Promise<{ model_number: number; firmware: number }> {
    let model_number = 0,
      firmware = 0;
    await this.request({
      what: 'PING',
      ids: [id],
      replyBytes: () => 3,
      build: () => this.writer.ping(id),
      timeout_ms: this.setup_timeout_ms,
      onReply: (_, p) => {
        model_number = readIntLE(p.data, 0, 2);
        firmware = p.data[2];
      },
    });
    return { model_number, firmware };
  }

  /** READ `length` bytes from `address` (a copy). */
  async read(id: number, address: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.request({
      what: `READ ${address}+${length}`,
      ids: [id],
      replyBytes: () => length,
      readEnd: address + length,
      build: (_, pad) => this.writer.read(id, address, length + pad),
      timeout_ms: this.setup_timeout_ms,
      onReply: (_, p) => out.set(p.data.subarray(0, length)),
    });
    return out;
  }

  async readRegister(id: number, reg: Register): Promise<number> {
    let v = 0;
    await this.request({
      what: `READ ${reg.name}`,
      ids: [id],
      replyBytes: () => reg.size,
      readEnd: reg.address + reg.size,
      build: (_, pad) => this.writer.read(id, reg.address, reg.size + pad),
      timeout_ms: this.setup_timeout_ms,
      onReply: (_, p) => {
        v = readIntLE(p.data, 0, reg.size);
      },
    });
    return v;
  }

  /** WRITE raw bytes; waits for the servo's status unless `id` is the broadcast ID. */
  async write(id: number, address: number, data: ArrayLike<number>): Promise<void> {
    await this.request({
      what: `WRITE ${address}+${data.length}`,
      ids: id === BROADCAST_ID ? [] : [id],
      replyBytes: () => 0,
      build: () => this.writer.write(id, address, data),
      timeout_ms: this.setup_timeout_ms,
    });
  }

  async writeRegister(id: number, reg: Register, value: number): Promise<void> {
    await this.request({
      what: `WRITE ${reg.name}=${value}`,
      ids: id === BROADCAST_ID ? [] : [id],
      replyBytes: () => 0,
      build: () => this.writer.writeValue(id, reg.address, reg.size, value),
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
  async syncRead(
    reg: Register,
    ids: readonly number[],
    out: Int32Array,
    timeout_ms = this.timeout_ms,
    deadline_ms = Infinity,
  ): Promise<void> {
    await this.request({
      what: `SYNC_READ ${reg.name}`,
      ids,
      replyBytes: () => reg.size,
      readEnd: reg.address + reg.size,
      build: (missing, pad) => this.writer.syncRead(reg.address, reg.size + pad, missing),
      timeout_ms,
      deadline_ms,
      onReply: (i, p) => {
        out[i] = readIntLE(p.data, 0, reg.size);
      },
    });
  }

  /** SYNC_WRITE one integer register: values[i] to ids[i]. No replies (broadcast). */
  async syncWrite(reg: Register, ids: readonly number[], values: ArrayLike<number>): Promise<void> {
    await this.request({
      what: `SYNC_WRITE ${reg.name}`,
      ids: [],
      replyBytes: () => 0,
      build: () => this.writer.syncWrite(reg.address, reg.size, ids, values),
      timeout_ms: this.timeout_ms,
    });
  }

  /** BULK_READ: a different register range per ID; returns a copy of each reply's data. */
  async bulkRead(entries: readonly BulkReadEntry[]): Promise<Uint8Array[]> {
    const out = entries.map((e) => new Uint8Array(e.length));
    const ids = entries.map((e) => e.id);
    if (new Set(ids).size !== ids.length)
      throw new Error(`${this.name}: BULK_READ lists an ID twice (${ids.join(', ')})`);
    await this.request({
      what: 'BULK_READ',
      ids,
      replyBytes: (i) => entries[i].length,
      readEnd: Math.max(...entries.map((e) => e.address + e.length)),
      build: (missing, pad) =>
        this.writer.bulkRead(
          entries.filter((e) => missing.includes(e.id)).map((e) => ({ ...e, length: e.length + pad })),
        ),
      timeout_ms: this.timeout_ms,
      onReply: (i, p) => out[i].set(p.data.subarray(0, entries[i].length)),
    });
    return out;
  }

  /** Abandoned requests whose replies may still come (0 when the bus is in step). */
  get abandonedRequests(): number {
    return this.abandoned.pending;
  }

  /**
   * Close the port (also after an I/O error ended the bus: the port is still open then, holding its lock,
   * and the next open of the device would be refused).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.current?.cancel();
    if (!this.portOpen) return;
    this.portOpen = false;
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
    // queued behind a request that used up this one's tick: give up before sending anything
    if (monotonicMs() >= (spec.deadline_ms ?? Infinity)) {
      this.counters.deadline_misses++;
      throw new DynamixelDeadlineError(this.name, [...spec.ids], spec.what);
    }
    this.counters.requests++;
    if (spec.ids.length === 0) {
      // nothing comes back, so nothing to wait for: the serialport stream keeps writes in order (the next
      // request's bytes follow these), and a failed write closes the bus through the 'error' event. Not
      // waiting for the write's completion (a thread-pool round trip) keeps it off the control cycle.
      // A copy: the packet is a view of the writer's buffer, which the next request overwrites while
      // this one may still be queued in the stream.
      this.port.write(Buffer.from(spec.build(spec.ids, 0)));
      return;
    }
    const pad = await this.tagPad(spec, max_pad);
    const generation = ++this.generation;
    const tx = this.tx.begin(spec.ids, spec.replyBytes, pad, spec.onReply ?? NO_REPLY);
    try {
      await this.attempts(tx, spec, pad, generation);
    } finally {
      this.current = undefined;
      // whatever is still owed may come later; it must never pass for another request's reply
      if (tx.owesAny()) this.abandoned.abandon(generation, tx.owed());
    }
  }

  /** A pad (extra bytes read) no abandoned request is owed a reply for, after a barrier read if every one is. */
  private async tagPad(spec: RequestSpec, max_pad: number): Promise<number> {
    const pad = this.freePad(spec, max_pad);
    if (pad !== undefined) return pad;
    if (max_pad > MAX_READ_PAD) {
      throw new BusClosedError(`${this.name}: out of step with its servos (no reply length is free for ${spec.what})`);
    }
    await this.barrier(spec);
    return this.freePad(spec, max_pad) ?? 0;
  }

  /** Send and wait, retrying the IDs still missing, until complete, refused, out of retries or past the deadline. */
  private async attempts(tx: Transaction, spec: RequestSpec, pad: number, generation: number): Promise<void> {
    const deadline_ms = spec.deadline_ms ?? Infinity;
    const attempts = this.retries + 1;
    for (let attempt = 1; ; attempt++) {
      this.current = tx;
      this.currentGeneration = generation;
      const missing = attempt === 1 ? spec.ids : tx.missingIds();
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
      if (attempt === attempts)
        throw new DynamixelTimeoutError(this.name, tx.missingIds(), spec.what, attempts, spec.timeout_ms);
      this.counters.retries++;
      // drop what is left of a broken packet so it cannot hold up the retry's replies. The OS input
      // queue is not flushed: on a busy machine a "timeout" is mostly a late reply, still welcome
      // within this request (the transaction takes it for any ID still missing).
      this.framer.reset();
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
    await this.run(
      {
        what: `READ Model_Number (a barrier before ${spec.what})`,
        ids: [id],
        replyBytes: () => REG.model_number.size,
        readEnd: REG.model_number.size,
        build: (_, pad) => this.writer.read(id, REG.model_number.address, REG.model_number.size + pad),
        timeout_ms: spec.timeout_ms,
        deadline_ms: spec.deadline_ms,
      },
      BARRIER_MAX_PAD,
    );
  }

  private send(packet: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.port.write(packet, (err) =>
        err ? reject(new BusClosedError(`${this.name}: write to ${this.path} failed: ${err.message}`)) : resolve(),
      );
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
