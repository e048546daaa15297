// One request on a half-duplex bus and the status packets it waits for. Replies are matched by ID and
// by data length (the length is how the bus tags a request, see reply-tags.ts). An attempt ends when
// every expected ID answered, when the answers plus the packets lost to CRC errors add up to what was
// expected (so a corrupted reply is retried at once instead of after the timeout), or at the timeout.
// A retry asks some IDs again, so an ID can owe more than one reply: owed() says how many are still
// due when the request ends, so that none of them can later pass for the answer to another request.
import type { Packet } from '../../protocols/dynamixel/packet.js';
import { STATUS_ERROR } from '../../protocols/dynamixel/control-table.js';

export type ReplyHandler = (index: number, p: Packet) => void;

export type AttemptOutcome = 'complete' | 'crc' | 'timeout' | 'refused';

/** Replies still due from one ID: `count` packets of `length` data bytes. */
export interface OwedReplies { length: number; count: number }

export class Transaction {
  /** IDs still owed a reply, by index into the expected list. */
  readonly missing: boolean[];
  missingCount: number;
  /** Requests sent to / replies heard from each ID (every attempt, duplicates included). */
  private readonly asked: Int32Array;
  private readonly heard: Int32Array;
  private crcLost = 0;
  refusal: { id: number; status: number } | undefined;
  private settle: ((o: AttemptOutcome) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly ids: readonly number[],
    /** Bytes of data each reply must carry (tag pad included): one for all, or one per expected ID. */
    private readonly dataLength: number | readonly number[],
    private readonly onReply: ReplyHandler,
    private readonly onAlert: (id: number) => void,
  ) {
    this.missing = ids.map(() => true);
    this.missingCount = ids.length;
    this.asked = new Int32Array(ids.length);
    this.heard = new Int32Array(ids.length);
  }

  /** IDs that have not answered yet. */
  missingIds(): number[] {
    return this.ids.filter((_, i) => this.missing[i]);
  }

  /** Wait for the replies of one attempt, sent to the IDs still missing. */
  attempt(timeout_ms: number): Promise<AttemptOutcome> {
    this.crcLost = 0;
    for (let i = 0; i < this.ids.length; i++) if (this.missing[i]) this.asked[i]++;
    return new Promise((resolve) => {
      this.settle = resolve;
      this.timer = setTimeout(() => this.finish('timeout'), Math.max(0, timeout_ms));
    });
  }

  /**
   * A good packet arrived. Returns true if it answers this request (a first answer, or the duplicate
   * answer of an ID that was asked again), false if it is not for this request.
   */
  offer(p: Packet): boolean {
    const i = this.ids.indexOf(p.id);
    if (i < 0 || this.heard[i] >= this.asked[i]) return false;
    const want = this.lengthOf(i);
    if (p.data.length !== want && (p.error & 0x7f) === 0) return false;
    this.heard[i]++;
    if (!this.settle || !this.missing[i]) return true; // a duplicate, or after the request ended: consumed, not used
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
      this.missing[i] = false;
      this.missingCount--;
      this.onReply(i, p);
    }
    this.checkDone();
    return true;
  }

  /** A packet was lost to a CRC error while this transaction waited. */
  crcError(): void {
    if (!this.settle) return;
    this.crcLost++;
    this.checkDone();
  }

  cancel(): void {
    this.finish('timeout');
  }

  /** Replies asked for and not heard (yet): they may still arrive, after this request is over. */
  owed(): Map<number, OwedReplies> {
    const out = new Map<number, OwedReplies>();
    for (let i = 0; i < this.ids.length; i++) {
      const count = this.asked[i] - this.heard[i];
      if (count > 0) out.set(this.ids[i], { length: this.lengthOf(i), count });
    }
    return out;
  }

  private lengthOf(i: number): number {
    return typeof this.dataLength === 'number' ? this.dataLength : this.dataLength[i];
  }

  private checkDone(): void {
    if (this.missingCount === 0) this.finish('complete');
    else if (this.crcLost >= this.missingCount) this.finish('crc');
  }

  private finish(o: AttemptOutcome): void {
    clearTimeout(this.timer);
    const s = this.settle;
    this.settle = undefined;
    s?.(o);
  }
}
