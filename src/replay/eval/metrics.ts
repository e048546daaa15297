// Open-loop L1 of predicted chunks against the recorded actions that followed: one L1Stat per (chunk index,
// action dimension), from which the per-dimension view (all indices pooled) and the per-index view (all
// dimensions pooled, as the seed's "L1 per action chunk") are derived. Indices whose tick lies past the end
// of the recording have no target and are left out (not padded: the robot did nothing there to compare).
import { DimStats, type L1Stat, type L1Summary } from './l1-stats.js';

/** Where the recorded action for each tick comes from (episode-view.ts implements it). */
export interface ActionTargets {
  readonly dim: number;
  /** The recorded actions, ticks x dim, row-major. */
  readonly action: ArrayLike<number>;
  /** The row holding the action executed at `tick` (the command recorded one tick before), or -1. */
  rowOfActionFor(tick: number): number;
}

export class ChunkMetrics {
  /** by_index[i]: chunk index i + 1, one stat per dimension. */
  readonly by_index: DimStats[];
  chunks = 0;

  constructor(
    readonly horizon: number,
    readonly dim: number,
  ) {
    this.by_index = Array.from({ length: horizon }, () => new DimStats(dim));
  }

  /**
   * A chunk (horizon x dim, row-major) whose first row is the action for `first_tick`. Returns how many of its
   * rows had a recorded action to compare with.
   */
  add(actions: ArrayLike<number>, first_tick: number, targets: ActionTargets): number {
    const D = this.dim;
    let compared = 0;
    for (let i = 0; i < this.horizon; i++) {
      const row = targets.rowOfActionFor(first_tick + i);
      if (row < 0) continue;
      this.by_index[i].addRow(actions, i * D, targets.action, row * D);
      compared++;
    }
    if (compared > 0) this.chunks++;
    return compared;
  }

  merge(other: ChunkMetrics): void {
    this.chunks += other.chunks;
    for (let i = 0; i < this.horizon; i++) this.by_index[i].merge(other.by_index[i]);
  }

  /** Per dimension, every index pooled. */
  perDimension(): DimStats {
    const out = new DimStats(this.dim);
    for (const s of this.by_index) out.merge(s);
    return out;
  }

  /** Per chunk index (1..H), every dimension pooled. */
  perIndex(): L1Stat[] {
    return this.by_index.map((s) => s.pooled());
  }

  /** Mean L1 of each dimension at each index: [index][dim]. */
  meanMatrix(): number[][] {
    return this.by_index.map((s) => s.stats.map((x) => x.mean));
  }

  /** Everything pooled: one number to rank episodes by. */
  overall(): L1Summary {
    return this.perDimension().pooled().summary();
  }
}
