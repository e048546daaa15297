// Seeded pseudo-random numbers (mulberry32): every randomised thing in the sim (object poses, expert
// noise) draws from one of these so that a seed reproduces an episode exactly.
export class Rng {
  private state: number;
  private spareNormal: number | undefined;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
    // mix the seed so that nearby seeds give unrelated streams
    this.state = (Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.floor(seed / 2 ** 32)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const s = this.spareNormal;
      this.spareNormal = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Everything that decides the next draws, so a run resumed from a checkpoint draws what it would have. */
  getState(): { state: number; spare_normal: number | null } {
    return { state: this.state, spare_normal: this.spareNormal ?? null };
  }

  setState(s: { state: number; spare_normal: number | null }): void {
    this.state = s.state >>> 0;
    this.spareNormal = s.spare_normal ?? undefined;
  }

  /** A derived generator, so that independent consumers do not shift each other's streams. */
  fork(label: number): Rng {
    return new Rng((this.next() * 2 ** 32) ^ Math.imul(label + 1, 0x27d4eb2d));
  }
}
