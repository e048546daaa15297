// The inference requests out at once (--max-in-flight). With one, a request is asked only after the last
// chunk landed, so a model whose chunk starts at the next tick (offset 1) absorbs about H/2 ticks of
// latency. With two, the next request goes out while the previous one is still on its way: the trigger
// then counts the ticks that chunk will cover once it lands as covered already, and asks again when what
// is buffered or promised runs short of the expected delay. Chunks can then land out of order (a slow
// reply after a fast one); an older one never overwrites a newer one: it is dropped and counted.

export class InFlight {
  /** Chunks dropped for landing after a chunk from a later observation. */
  out_of_order = 0;
  /** Per request out (by ticket): the last tick it will cover (asked tick + offset + horizon - 1). */
  private readonly ends = new Map<number, number>();
  private nextTicket = 0;
  private newestLandedObs = -Infinity;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`max in flight must be a whole number >= 1, got ${max}`);
  }

  get count(): number {
    return this.ends.size;
  }

  get full(): boolean {
    return this.ends.size >= this.max;
  }

  /** Ticks after `k` that the requests out will cover when they land (0 when none is out). */
  promisedAfter(k: number): number {
    if (this.ends.size === 0) return 0;
    let end = -Infinity;
    for (const e of this.ends.values()) if (e > end) end = e;
    return Math.max(0, end - k);
  }

  /** A request goes out at tick `k` for a policy with this offset and horizon; returns its ticket. */
  ask(k: number, offset: number, horizon: number): number {
    const ticket = this.nextTicket++;
    this.ends.set(ticket, k + offset + horizon - 1);
    return ticket;
  }

  /** The request of `ticket` is over (landed, given up, or failed). */
  settle(ticket: number): void {
    this.ends.delete(ticket);
  }

  /** Whether a chunk from the observation of `obs_tick` may land: none from a later observation did. */
  mayLand(obs_tick: number): boolean {
    if (obs_tick < this.newestLandedObs) {
      this.out_of_order++;
      return false;
    }
    this.newestLandedObs = obs_tick;
    return true;
  }

  /** A new episode: nothing is out that belongs to it. */
  reset(): void {
    this.ends.clear();
    this.newestLandedObs = -Infinity;
  }
}
