// Which servos of an arm have not answered, read after read. One read that found the whole arm late (the
// process or the bus stalled for a tick) lists every ID; a servo that stopped answering is missing from
// every read. A fault that ends a run should name the latter: the servo to look at, not the arm that was late
// once on the tick the timeout happened to expire.

export class SilentServos {
  /** Per ID (index id - 1): reads in a row without its reply. */
  private readonly streak: Int32Array;

  /** `max_id`: the highest ID on the bus (IDs 1..max_id). */
  constructor(max_id: number) {
    this.streak = new Int32Array(max_id);
  }

  /** A read the whole arm answered. */
  answered(): void {
    this.streak.fill(0);
  }

  /** A read that `ids` did not answer (the others did). */
  missed(ids: readonly number[]): void {
    for (let i = 0; i < this.streak.length; i++) this.streak[i] = ids.includes(i + 1) ? this.streak[i] + 1 : 0;
  }

  /** The most reads in a row any servo has not answered (0: every servo answered the last read). */
  longest(): number {
    return Math.max(...this.streak);
  }

  /**
   * Why the last read failed, saying which servos have been silent longest when that is fewer than the read
   * missed: `${arm}: no reply from ID 7 to the last 50 reads (this one: ...)`. Otherwise `message` as it is.
   */
  describe(arm: string, missedNow: readonly number[], message: string): string {
    const longest = this.longest();
    const ids = this.ids(longest);
    if (longest < 2 || ids.length >= missedNow.length) return message;
    const plural = ids.length > 1 ? 's' : '';
    const now = message.startsWith(`${arm}: `) ? message.slice(arm.length + 2) : message;
    return `${arm}: no reply from ID${plural} ${ids.join(', ')} to the last ${longest} reads (this one: ${now})`;
  }

  private ids(streak: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.streak.length; i++) if (this.streak[i] === streak) out.push(i + 1);
    return out;
  }
}
