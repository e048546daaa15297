// One request on a half-duplex bus and the status packets it waits for. Replies are matched by ID and
// by data length (the length is how the bus tags a request, see reply-tags.ts). An attempt ends when
// every expected ID answered, when the answers plus the packets lost to CRC errors add up to what was
// expected (so a corrupted reply is retried at once instead of after the timeout), or at the timeout.
// A retry asks some IDs again, so an ID can owe more than one reply: owed() says how many are still
// due when the request ends, so that none of them can later pass for the answer to another request.
// The transaction only keeps the books: it records how an attempt ended (`outcome`), and the bus, which
// owns the clock and the wire, acts on it once the bytes at hand are parsed.

import { STATUS_ERROR } from '../../protocols/dynamixel/control-table.js';
import type { Packet } from '../../protocols/dynamixel/packet.js';

export type ReplyHandler = (index: number, p: Packet) => void;

export type AttemptOutcome = 'complete' | 'crc' | 'timeout' | 'refused';

/** Replies still due from one ID: `count` packets of `length` data bytes. */
export interface OwedReplies {
  length: number;
  count: number;
}

/** IDs one request may address: every motor of an arm, with room to spare. */
const CAPACITY = 32;

/**
 * One per bus, reused for every request (the bus sends one at a time): begin() sets it up without
 * allocating, so the per-tick SYNC_READ costs no new transaction.
 */
export class Transaction {
  ids: readonly number[] = [];
  /** IDs still owed a reply, by index into the expected list (1 = missing). */
  private missing = new Uint8Array(CAPACITY);
  missingCount = 0;
  /** Requests sent to / replies heard from each ID (every attempt, duplicates included). */
  private asked = new Int32Array(CAPACITY);
  private heard = new Int32Array(CAPACITY);
  /** Bytes of data each reply must carry (tag pad included). */
  private length = new Int32Array(CAPACITY);
  private crcLost = 0;
  refusal: { id: number; status: number } | undefined;
  /** How the current attempt ended; undefined while it waits (or before the first). */
  outcome: AttemptOutcome | undefined;
  private waiting = false;
  private onReply: ReplyHandler = () => {};

  constructor(private readonly onAlert: (id: number) => void) {}

  /** A new request to `ids`; reply i carries replyBytes(i) + pad data bytes. */
  begin(ids: readonly number[], replyBytes: (i: number) => number, pad: number, onReply: ReplyHandler): this {
    if (ids.length > this.missing.length) {
      this.missing = new Uint8Array(ids.length);
      this.asked = new Int32Array(ids.length);
      this.heard = new Int32Array(ids.length);
      this.length = new Int32Array(ids.length);
    }
    this.ids = ids;
    this.onReply = onReply;
    this.refusal = undefined;
    this.missingCount = ids.length;
    for (let i = 0; i < ids.length; i++) {
      this.missing[i] = 1;
      this.asked[i] = 0;
      this.heard[i] = 0;
      this.length[i] = replyBytes(i) + pad;
    }
    return this;
  }

  /** IDs that have not answered yet (a new array: for retries and errors only). */
  missingIds(): number[] {
    return this.ids.filter((_, i) => this.missing[i] === 1);
  }

  /** Start waiting for the replies of one attempt, sent to the IDs still missing. */
  attempt(): void {
    this.crcLost = 0;
    for (let i = 0; i < this.ids.length; i++) if (this.missing[i] === 1) this.asked[i]++;
    this.outcome = undefined;
    this.waiting = true;
  }

  /**
   * A good packet arrived. Returns true if it answers this request (a first answer, or the duplicate
   * answer of an ID that was asked again), false if it is not for this request.
   */
  offer(p: Packet): boolean {
    const i = this.ids.indexOf(p.id);
    if (i < 0 || this.heard[i] >= this.asked[i]) return false;
    const want = this.length[i];
    if (p.data.length !== want && (p.error & 0x7f) === 0) return false;
    this.heard[i]++;
    // a duplicate, or after the request ended: consumed, not used
    if (!this.waiting || this.missing[i] === 0) return true;
    if (p.error & 0x80) this.onAlert(p.id);
    const code = p.error & 0x7f;
    if (code === STATUS_ERROR.crc) {
      // the servo saw a corrupted request: same as losing its reply
      this.crcLost++;
    } else if (code !== 0) {
      this.refusal = { id: p.id, status: p.error };
      this.finish('refused');
      return true;
    } else {
      this.missing[i] = 0;
      this.missingCount--;
      this.onReply(i, p);
    }
    this.checkDone();
    return true;
  }

  /** A packet was lost to a CRC error while this transaction waited. */
  crcError(): void {
    if (!this.waiting) return;
    this.crcLost++;
    this.checkDone();
  }

  /** The attempt's time is up, or the bus closed. */
  expire(): void {
    this.finish('timeout');
  }

  /** Whether any reply asked for was not heard (the usual request owes nothing). */
  owesAny(): boolean {
    for (let i = 0; i < this.ids.length; i++) if (this.asked[i] > this.heard[i]) return true;
    return false;
  }

  /** Replies asked for and not heard (yet): they may still arrive, after this request is over. */
  owed(): Map<number, OwedReplies> {
    const out = new Map<number, OwedReplies>();
    for (let i = 0; i < this.ids.length; i++) {
      const count = this.asked[i] - this.heard[i];
      if (count > 0) out.set(this.ids[i], { length: this.length[i], count });
    }
    return out;
  }

  private checkDone(): void {
    if (this.missingCount === 0) this.finish('complete');
    else if (this.crcLost >= this.missingCount) this.finish('crc');
  }

  private finish(o: AttemptOutcome): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.outcome = o;
  }
}
