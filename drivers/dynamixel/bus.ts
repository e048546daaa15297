// A Dynamixel Protocol 2.0 bus on one serial port (one ALOHA arm): the instructions, on top of the request
// engine (request-engine.ts: one request at a time, bounded waits and retries, deadlines, late replies told
// apart). Set-up code awaits promises (timeout_ms for the per-tick sync instructions, setup_timeout_ms for
// the unicast ones that set a robot up); the control tick prepares its SYNC_READ and SYNC_WRITE once and
// sends them every tick without allocating. Counters tell a user how healthy the cable is.
// Options, defaults and counters: bus-options.ts.
import type { Register } from '../../protocols/dynamixel/control-table.js';
import { type BulkReadEntry, InstructionWriter } from '../../protocols/dynamixel/instructions.js';
import { BROADCAST_ID, readIntLE } from '../../protocols/dynamixel/packet.js';
import { monotonicMs } from '../../src/util/clock.js';
import {
  type BusCounters,
  type BusOptions,
  DEFAULT_BUS_RETRIES,
  DEFAULT_BUS_SETUP_TIMEOUT_MS,
  DEFAULT_BUS_TIMEOUT_MS,
  type RequestSpec,
} from './bus-options.js';
import { RequestEngine } from './request-engine.js';
import { SerialLink } from './serial-link.js';

/** A request prepared once and sent every control tick; its `done` was given when it was prepared. */
export interface PreparedRequest {
  /** Default: no deadline, the per-tick timeout. */
  send(deadline_ms?: number, timeout_ms?: number): void;
}

export class DynamixelBus {
  readonly name: string;
  readonly path: string;
  readonly timeout_ms: number;
  readonly setup_timeout_ms: number;
  readonly retries: number;
  private readonly writer = new InstructionWriter();
  private readonly engine: RequestEngine;

  static async open(opts: BusOptions): Promise<DynamixelBus> {
    return new DynamixelBus(await SerialLink.open(opts.name, opts.path, opts.baud_rate ?? 1_000_000), opts);
  }

  private constructor(port: SerialLink, opts: BusOptions) {
    this.name = opts.name;
    this.path = opts.path;
    this.timeout_ms = opts.timeout_ms ?? DEFAULT_BUS_TIMEOUT_MS;
    this.setup_timeout_ms = opts.setup_timeout_ms ?? opts.timeout_ms ?? DEFAULT_BUS_SETUP_TIMEOUT_MS;
    this.retries = opts.retries ?? DEFAULT_BUS_RETRIES;
    this.engine = new RequestEngine(port, this.writer, { name: this.name, path: this.path, retries: this.retries });
  }

  get counters(): BusCounters {
    return this.engine.counters;
  }

  /** IDs that have reported a hardware alert since the last clearAlerts(). */
  get alerts(): ReadonlySet<number> {
    return this.engine.alerts;
  }

  get isOpen(): boolean {
    return this.engine.isOpen;
  }

  /** Abandoned requests whose replies may still come (0 when the bus is in step). */
  get abandonedRequests(): number {
    return this.engine.abandonedRequests;
  }

  clearAlerts(): void {
    this.engine.alerts.clear();
  }

  /** Forget one ID's alert (after it was rebooted and reads back without one). */
  clearAlert(id: number): void {
    this.engine.alerts.delete(id);
  }

  /**
   * REBOOT one servo: resolves on its answer, which it sends before it restarts (RAM to defaults, alarm
   * cleared, torque off). While it boots it answers nothing: wait for it with waitForServo().
   */
  async reboot(id: number): Promise<void> {
    await this.request({
      what: 'REBOOT',
      ids: [id],
      replyBytes: () => 0,
      build: () => this.writer.reboot(id),
      timeout_ms: this.setup_timeout_ms,
    });
  }

  /** PING `id` until it answers (a servo that boots); throws the last error once `within_ms` has passed. */
  async waitForServo(id: number, within_ms: number): Promise<{ model_number: number; firmware: number }> {
    const until = monotonicMs() + within_ms;
    for (;;) {
      try {
        return await this.ping(id);
      } catch (err) {
        if (monotonicMs() >= until) throw err;
      }
    }
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
   * passes setup_timeout_ms; past `deadline_ms` (monotonicMs()) the read is abandoned
   * (DynamixelDeadlineError), however many retries are left, and `out` may hold part of this read.
   */
  async syncRead(
    reg: Register,
    ids: readonly number[],
    out: Int32Array,
    timeout_ms = this.timeout_ms,
    deadline_ms = Infinity,
  ): Promise<void> {
    await this.request({ ...this.syncReadSpec(reg, ids, out), timeout_ms, deadline_ms });
  }

  /** SYNC_WRITE one integer register: values[i] to ids[i]. No replies (broadcast). */
  async syncWrite(reg: Register, ids: readonly number[], values: ArrayLike<number>): Promise<void> {
    await this.request(this.syncWriteSpec(reg, ids, values));
  }

  /**
   * The per-tick SYNC_READ, prepared once: each send(deadline_ms) reads `ids` into `out` with the
   * per-tick timeout and calls `done` (with the error, if any; `out` is then not to be used).
   */
  prepareSyncRead(
    reg: Register,
    ids: readonly number[],
    out: Int32Array,
    done: (err: Error | undefined) => void,
  ): PreparedRequest {
    const spec: RequestSpec = { ...this.syncReadSpec(reg, ids, out), timeout_ms: this.timeout_ms, done };
    return {
      send: (deadline_ms = Infinity, timeout_ms = this.timeout_ms) => {
        spec.deadline_ms = deadline_ms;
        spec.timeout_ms = timeout_ms;
        this.engine.submit(spec);
      },
    };
  }

  /** The per-tick SYNC_WRITE of values[i] to ids[i], prepared once (the values are read when it goes out). */
  prepareSyncWrite(
    reg: Register,
    ids: readonly number[],
    values: ArrayLike<number>,
    done: (err: Error | undefined) => void,
  ): PreparedRequest {
    const spec: RequestSpec = { ...this.syncWriteSpec(reg, ids, values), done };
    return { send: () => this.engine.submit(spec) };
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

  /**
   * Close the port (also after an I/O error ended the bus: the port is still open then, holding its lock,
   * and the next open of the device would be refused).
   */
  close(): Promise<void> {
    return this.engine.close();
  }

  private syncReadSpec(reg: Register, ids: readonly number[], out: Int32Array) {
    return {
      what: `SYNC_READ ${reg.name}`,
      ids,
      replyBytes: () => reg.size,
      readEnd: reg.address + reg.size,
      build: (missing: readonly number[], pad: number) => this.writer.syncRead(reg.address, reg.size + pad, missing),
      onReply: (i: number, p: { data: Uint8Array }) => {
        out[i] = readIntLE(p.data, 0, reg.size);
      },
    };
  }

  private syncWriteSpec(reg: Register, ids: readonly number[], values: ArrayLike<number>) {
    return {
      what: `SYNC_WRITE ${reg.name}`,
      ids: [] as number[],
      replyBytes: () => 0,
      build: () => this.writer.syncWrite(reg.address, reg.size, ids, values),
      timeout_ms: this.timeout_ms,
    };
  }

  private request(spec: Omit<RequestSpec, 'done'>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.engine.submit({ ...spec, done: (err) => (err ? reject(err) : resolve()) });
    });
  }
}
