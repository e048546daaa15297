// One request on a half-duplex bus and the status packets it waits for. Replies are matched by ID; a
// reply nobody waits for (late, after a retry) is counted and ignored. An attempt ends when every
// expected ID answered, when the answers plus the packets lost to CRC errors add up to what was
// expected (so a corrupted reply is retried at once instead of after the timeout), or at the timeout.
import type { Packet } from './packet.js';
import { STATUS_ERROR } from './control-table.js';

export type ReplyHandler = (index: number, p: Packet) => void;

export type AttemptOutcome = 'complete' | 'crc' | 'timeout' | 'refused';

export class Transaction {
  /** IDs still owed a reply, by index into the expected list. */
  readonly missing: boolean[];
  missingCount: number;
  private crcLost = 0;
  refusal: { id: number; status: number } | undefined;
  private settle: ((o: AttemptOutcome) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly ids: readonly number[],
    /** Bytes of data each reply must carry: one for all, or one per expected ID. */
    private readonly dataLength: number | readonly number[],
    private readonly onReply: ReplyHandler,
    private readonly onAlert: (id: number) => void,
  ) {
    this.missing = ids.map(() => true);
    this.missingCount = ids.length;
  }

  /** IDs that have not answered yet. */
  missingIds(): number[] {
    return this.ids.filter((_, i) => this.missing[i]);
  }

  /** Wait for the replies of one attempt. */
  attempt(timeout_ms: number): Promise<AttemptOutcome> {
    this.crcLost = 0;
    return new Promise((resolve) => {
      this.settle = resolve;
      this.timer = setTimeout(() => this.finish('timeout'), timeout_ms);
    });
  }

  /** A good packet arrived. Returns false if it was not for this transaction. */
  offer(p: Packet): boolean {
    if (!this.settle) return false;
    const i = this.indexOf(p.id);
    if (i < 0) return false;
    const want = typeof this.dataLength === 'number' ? this.dataLength : this.dataLength[i];
    if (p.data.length !== want && (p.error & 0x7f) === 0) return false;
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

  private checkDone(): void {
    if (this.missingCount === 0) this.finish('complete');
    else if (this.crcLost >= this.missingCount) this.finish('crc');
  }

  private indexOf(id: number): number {
    for (let i = 0; i < this.ids.length; i++) if (this.ids[i] === id && this.missing[i]) return i;
    return -1;
  }

  private finish(o: AttemptOutcome): void {
    clearTimeout(this.timer);
    const s = this.settle;
    this.settle = undefined;
    s?.(o);
  }
}
