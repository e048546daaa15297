// How a Dynamixel bus gets its answers. Requests go out one at a time (the bus is half duplex), each waits
// a bounded time for its status packets and is retried a bounded number of times, the missing IDs only;
// a request with a deadline (the end of its control tick) is abandoned there, and its late replies are
// told apart from fresh ones (reply-tags.ts). Driven by callbacks, not promises: the control loop sends
// a SYNC_WRITE and a SYNC_READ per arm every tick, and a request it prepared once (the spec, its
// closures) goes through here without allocating. Each step is one of: the port's bytes arrived, the
// attempt's timer fired, the port failed; the transaction keeps the books, this class acts on them.
import { CONTROL_TABLE_SIZE, REG } from '../../protocols/dynamixel/control-table.js';
import { PacketFramer } from '../../protocols/dynamixel/framer.js';
import type { InstructionWriter } from '../../protocols/dynamixel/instructions.js';
import type { Packet } from '../../protocols/dynamixel/packet.js';
import { monotonicMs } from '../../src/util/clock.js';
import { ReusableTimer } from '../../src/util/reusable-timer.js';
import { type BusCounters, newBusCounters, type RequestSpec } from './bus-options.js';
import { BusClosedError, DynamixelDeadlineError, DynamixelStatusError, DynamixelTimeoutError } from './errors.js';
import { AbandonedReplies, MAX_READ_PAD } from './reply-tags.js';
import type { SerialLink } from './serial-link.js';
import { type AttemptOutcome, Transaction } from './transaction.js';

/** A retry with less time than this before its deadline could not get an answer: the request is abandoned. */
const MIN_ATTEMPT_MS = 1;
/** A barrier read may ask this many extra bytes to find a reply length nobody is owed. */
const BARRIER_MAX_PAD = 16;
/** A reply owed this long (a servo answers within a millisecond or so) is taken as never coming. */
const OWED_REPLY_GIVE_UP_MS = 200;

const NO_REPLY = () => {};

export interface EngineOptions {
  name: string;
  path: string;
  retries: number;
}

export class RequestEngine {
  readonly counters: BusCounters = newBusCounters();
  /** IDs that have reported a hardware alert since they were last cleared. */
  readonly alerts = new Set<number>();
  private readonly framer: PacketFramer;
  /** The one transaction, reused by every request (they go one at a time). */
  private readonly tx = new Transaction((id) => {
    this.counters.hardware_alerts++;
    this.alerts.add(id);
  });
  private readonly timer = new ReusableTimer(() => this.onAttemptTimeout());
  private readonly queue: RequestSpec[] = [];
  /** The request on the wire, its tag pad, attempts so far and generation (reply-tags.ts). */
  private active: RequestSpec | undefined;
  private activePad = 0;
  private activeAttempts = 0;
  private activeGeneration = 0;
  private generation = 0;
  private readonly abandoned = new AbandonedReplies();
  private readonly barriers = new Set<RequestSpec>();
  private pumping = false;
  /** No more requests: close() was called or the port failed. */
  private closed = false;
  private closeError: Error | undefined;
  private released: Promise<void> | undefined;

  constructor(
    private readonly port: SerialLink,
    private readonly writer: InstructionWriter,
    private readonly opts: EngineOptions,
  ) {
    this.framer = new PacketFramer(
      (p) => this.onPacket(p),
      () => {
        this.counters.crc_errors++;
        if (this.active) this.tx.crcError();
      },
    );
    port.listen({
      bytes: (bytes, length) => {
        this.framer.push(bytes, length);
        this.settleAttempt();
      },
      closed: (err) => this.onPortFailed(err),
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Abandoned requests whose replies may still come (0 when the bus is in step). */
  get abandonedRequests(): number {
    return this.abandoned.pending;
  }

  /** Queue a request; spec.done tells how it ended. A spec may be submitted again once it is done. */
  submit(spec: RequestSpec): void {
    if (spec === this.active || this.queue.includes(spec))
      throw new Error(`${this.opts.name}: ${spec.what} is in flight`);
    this.queue.push(spec);
    this.pump();
  }

  /** Refuse every request from now on and release the port (after what is written has gone out). */
  close(): Promise<void> {
    this.end(new BusClosedError(`${this.opts.name}: bus is closed`));
    this.settleAttempt();
    this.timer.dispose();
    // every caller waits for the same release (a second close() must not return before the device is free)
    this.released ??= (async () => {
      // the last SYNC_WRITE may still be queued (not awaited): let it reach the servos first
      await new Promise<void>((resolve) => this.port.drain(resolve));
      await new Promise<void>((resolve) => this.port.close(resolve));
    })();
    return this.released;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.active === undefined && this.queue.length > 0) this.start(this.queue.shift()!);
    } finally {
      this.pumping = false;
    }
  }

  private start(spec: RequestSpec): void {
    if (this.closed) {
      spec.done(this.closeError);
      return;
    }
    // queued behind a request that used up this one's tick: give up before sending anything
    if (monotonicMs() >= (spec.deadline_ms ?? Infinity)) {
      this.counters.deadline_misses++;
      spec.done(new DynamixelDeadlineError(this.opts.name, [...spec.ids], spec.what));
      return;
    }
    this.counters.requests++;
    if (spec.ids.length === 0) {
      // nothing comes back, so nothing to wait for: the link keeps writes in order (the next request's
      // bytes follow these), and a failed write ends the bus through the link's failure
      this.port.write(spec.build(spec.ids, 0));
      // a write that failed on the spot has ended the link (and the bus) already
      spec.done(this.closed ? this.closeError : undefined);
      return;
    }
    const isBarrier = this.barriers.has(spec);
    const pad = this.freePad(spec, isBarrier ? BARRIER_MAX_PAD : MAX_READ_PAD);
    if (pad !== undefined) {
      this.begin(spec, pad);
      return;
    }
    if (isBarrier) {
      // an arm silent for a while leaves every length owed: replies owed that long are not coming
      const forgotten = this.abandoned.forgetOlderThan(monotonicMs() - OWED_REPLY_GIVE_UP_MS);
      const retried = forgotten > 0 ? this.freePad(spec, BARRIER_MAX_PAD) : undefined;
      if (retried !== undefined) {
        this.begin(spec, retried);
        return;
      }
      const msg = `${this.opts.name}: out of step with its servos (no reply length is free for ${spec.what})`;
      spec.done(new BusClosedError(msg));
      return;
    }
    this.sendBarrier(spec);
  }

  private begin(spec: RequestSpec, pad: number): void {
    this.active = spec;
    this.activePad = pad;
    this.activeAttempts = 0;
    this.activeGeneration = ++this.generation;
    this.tx.begin(spec.ids, spec.replyBytes, pad, spec.onReply ?? NO_REPLY);
    this.sendAttempt(spec.ids);
  }

  private sendAttempt(missing: readonly number[]): void {
    const spec = this.active!;
    this.activeAttempts++;
    this.tx.attempt();
    this.timer.arm(Math.min(spec.timeout_ms, (spec.deadline_ms ?? Infinity) - monotonicMs()));
    this.port.write(spec.build(missing, this.activePad));
  }

  /** Act on how the attempt ended, if it has: done, refused, or a retry of the IDs still missing. */
  private settleAttempt(): void {
    const spec = this.active;
    const o = this.tx.outcome;
    if (spec === undefined || o === undefined) return;
    this.tx.outcome = undefined;
    const failure = this.attemptFailure(spec, o);
    if (failure !== 'retry') {
      this.finish(failure);
      return;
    }
    this.counters.retries++;
    // drop what is left of a broken packet so it cannot hold up the retry's replies. The OS input
    // queue is not flushed: on a busy machine a "timeout" is mostly a late reply, still welcome
    // within this request (the transaction takes it for any ID still missing).
    this.framer.reset();
    this.sendAttempt(this.tx.missingIds());
  }

  /** undefined: the request succeeded; an error: it failed; 'retry': another attempt fits. */
  private attemptFailure(spec: RequestSpec, o: AttemptOutcome): Error | undefined | 'retry' {
    const deadline_ms = spec.deadline_ms ?? Infinity;
    const { name } = this.opts;
    // replies handled after the tick ended (this process was stalled) are that late reading: unused
    if (o === 'complete' && monotonicMs() > deadline_ms) {
      this.counters.deadline_misses++;
      return new DynamixelDeadlineError(name, [], spec.what);
    }
    if (o === 'complete') return undefined;
    if (o === 'refused') return new DynamixelStatusError(name, this.tx.refusal!.id, this.tx.refusal!.status, spec.what);
    if (this.closed) return this.closeError ?? new BusClosedError(`${name}: bus closed during ${spec.what}`);
    if (o === 'timeout') this.counters.timeouts++;
    // a retry (even the immediate one after a CRC error) must finish inside the tick too; timers
    // keep whole milliseconds, so less than one left is none
    if (monotonicMs() > deadline_ms - MIN_ATTEMPT_MS) {
      this.counters.deadline_misses++;
      return new DynamixelDeadlineError(name, this.tx.missingIds(), spec.what);
    }
    const attempts = this.opts.retries + 1;
    if (this.activeAttempts >= attempts)
      return new DynamixelTimeoutError(name, this.tx.missingIds(), spec.what, attempts, spec.timeout_ms);
    return 'retry';
  }

  private finish(err: Error | undefined): void {
    const spec = this.active!;
    this.active = undefined;
    this.timer.disarm();
    // whatever is still owed may come later; it must never pass for another request's reply
    if (this.tx.owesAny()) this.abandoned.abandon(this.activeGeneration, this.tx.owed());
    spec.done(err);
    this.pump();
  }

  private onAttemptTimeout(): void {
    if (this.active === undefined) return;
    this.tx.expire();
    this.settleAttempt();
  }

  /** The smallest tag pad (extra bytes read) for which no abandoned request is owed a reply this request would take. */
  private freePad(spec: RequestSpec, max_pad: number): number | undefined {
    const last = spec.readEnd === undefined ? 0 : Math.min(max_pad, CONTROL_TABLE_SIZE - spec.readEnd);
    for (let pad = 0; pad <= last; pad++) {
      if (!this.abandoned.collides(spec.ids, spec.replyBytes, pad)) return pad;
    }
    return undefined;
  }

  /**
   * Every tag is taken by replies still owed: read Model_Number from the request's first ID with a length
   * nobody is owed, then send the request. The link is ordered, so once the barrier's reply is here every
   * older reply has arrived or never will, and the records are settled (AbandonedReplies.heard).
   */
  private sendBarrier(spec: RequestSpec): void {
    const id = spec.ids[0];
    this.counters.barriers++;
    const barrier: RequestSpec = {
      what: `READ Model_Number (a barrier before ${spec.what})`,
      ids: [id],
      replyBytes: () => REG.model_number.size,
      readEnd: REG.model_number.size,
      build: (_, pad) => this.writer.read(id, REG.model_number.address, REG.model_number.size + pad),
      timeout_ms: spec.timeout_ms,
      deadline_ms: spec.deadline_ms,
      done: (err) => {
        this.barriers.delete(barrier);
        if (err) {
          spec.done(err);
          return;
        }
        if (this.closed) {
          spec.done(this.closeError);
          return;
        }
        this.begin(spec, this.freePad(spec, MAX_READ_PAD) ?? 0);
      },
    };
    this.barriers.add(barrier);
    this.start(barrier);
  }

  private onPacket(p: Packet): void {
    if (p.instruction !== 0x55) return; // our own echo on a bus that loops back
    // a refusal has no length to tell it apart: while an abandoned request is owed one from that ID, it is that one's
    if ((p.error & 0x7f) !== 0 && this.abandoned.settleError(p.id)) {
      this.counters.stale_replies++;
      return;
    }
    if (this.active !== undefined && this.tx.offer(p)) {
      this.abandoned.heard(this.activeGeneration);
      return;
    }
    // a reply to an abandoned request (or a duplicate): counted and dropped, never used
    this.counters.stale_replies++;
    this.abandoned.settle(p.id, p.data.length);
  }

  private onPortFailed(err: Error | undefined): void {
    const port = `${this.opts.name}: serial port ${this.opts.path}`;
    this.end(new BusClosedError(err ? `${port}: ${err.message}` : `${port} closed`));
    // acted on outside the port's call (it may be inside our own write)
    if (this.active !== undefined) queueMicrotask(() => this.settleAttempt());
  }

  /** No more requests; the one on the wire ends, and those queued are refused. */
  private end(err: Error): void {
    if (!this.closeError) this.closeError = err;
    this.closed = true;
    if (this.active !== undefined) this.tx.expire();
    for (const spec of this.queue.splice(0)) spec.done(this.closeError);
  }
}
