// Telling a late reply from a fresh one. A status packet carries no sequence number, so a reply that
// arrives after its request was given up (the request's control tick ended, or every retry timed out)
// looks exactly like the answer to the next request to the same ID, and would pass for a reading of a
// later tick. Two facts make them distinguishable:
//  1. a reply carries exactly the number of bytes its request asked for, so a read is tagged by asking
//     `pad` bytes more than it needs (the registers that follow, read and ignored): a request accepts only
//     replies of its own (ID, length);
//  2. the link is ordered: a servo answers a request before it sees the next one, and bytes reach us in
//     order, so once any reply to request g has arrived, no reply to a request sent before g can come.
// The bus therefore remembers, per abandoned request (its "generation"), the (ID, length) replies it is
// still owed. A new request takes a pad for which it cannot be owed anything (in steady state pad 0:
// no extra bytes); a reply matching a record is discarded and, by (2), everything older is forgotten;
// a reply to a newer request forgets every older record. If no pad is free (several requests in a row
// abandoned and nothing heard since), the bus first sends a barrier read (bus.ts) whose answer, by (2),
// settles every older record. Only when even the barrier finds no free length (an arm silent for a while:
// every tick's read abandoned) are records forgotten by age: a reply owed for longer than the engine's
// give-up time (far beyond any servo's answer time) is not coming, and keeping it would refuse every
// request until a restart.
// Writes and pings cannot be tagged; they only need a barrier when an earlier one to the same ID is
// still owed its reply (a set-up write whose every retry timed out), which is rare.
import { monotonicMs } from '../../src/util/clock.js';
import type { OwedReplies } from './transaction.js';

/** Extra bytes a read may ask for, as its tag (0 = untagged). */
export const MAX_READ_PAD = 3;

interface AbandonedRequest {
  generation: number;
  owed: Map<number, OwedReplies>;
  /** When it was given up (monotonic ms). */
  at_ms: number;
}

export class AbandonedReplies {
  /** Oldest first. */
  private records: AbandonedRequest[] = [];

  /** Records still open (for tests and reports). */
  get pending(): number {
    return this.records.length;
  }

  /** The request of `generation` ended while owed these replies. */
  abandon(generation: number, owed: Map<number, OwedReplies>, now_ms = monotonicMs()): void {
    if (owed.size > 0) this.records.push({ generation, owed, at_ms: now_ms });
  }

  /** Forget the records of requests given up before `cutoff_ms`; returns how many were forgotten. */
  forgetOlderThan(cutoff_ms: number): number {
    const before = this.records.length;
    this.records = this.records.filter((r) => r.at_ms >= cutoff_ms);
    return before - this.records.length;
  }

  /** A reply to the request of `generation` arrived: no reply to an older request can still come. */
  heard(generation: number): void {
    if (this.records.length && this.records[0].generation < generation)
      this.records = this.records.filter((r) => r.generation >= generation);
  }

  /**
   * A reply that no running request accepted. If an abandoned request is owed it, it is settled (and
   * every older record with it); returns whether it was owed.
   */
  settle(id: number, data_length: number): boolean {
    for (const r of this.records) {
      const o = r.owed.get(id);
      if (!o || o.length !== data_length) continue;
      if (--o.count === 0) r.owed.delete(id);
      this.heard(r.generation);
      if (r.owed.size === 0) this.records = this.records.filter((x) => x !== r);
      return true;
    }
    return false;
  }

  /**
   * An error status from `id` (a refusal carries no data, so its length tags nothing): if an abandoned request
   * is still owed a reply from that ID, it is taken as that one's (the oldest's) and settled; returns whether.
   * A refusal of the running request is then asked again by its retry, and heard once the records are clear.
   */
  settleError(id: number): boolean {
    for (const r of this.records) {
      const o = r.owed.get(id);
      if (!o) continue;
      if (--o.count === 0) r.owed.delete(id);
      this.heard(r.generation);
      if (r.owed.size === 0) this.records = this.records.filter((x) => x !== r);
      return true;
    }
    return false;
  }

  /** Whether a request expecting replyBytes(i) + pad bytes from ids[i] could take an owed reply for its own. */
  collides(ids: readonly number[], replyBytes: (i: number) => number, pad: number): boolean {
    if (this.records.length === 0) return false;
    for (const r of this.records) {
      for (let i = 0; i < ids.length; i++) if (r.owed.get(ids[i])?.length === replyBytes(i) + pad) return true;
    }
    return false;
  }
}
