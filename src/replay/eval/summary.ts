// What an evaluation reports, per episode and overall (the --json object), and the running totals it is
// built from. Every L1 is in the action's own units (rad for joints, 0 closed .. 1 open for grippers); a
// figure pooled over dimensions mixes them, as the seed's "L1 per action chunk" does, and says so.
import type { RobotDescription } from '../../robot/index.js';
import { isGripperAction } from '../../robot/index.js';
import type { EpisodeEval, FanChunk } from './episode-eval.js';
import { DimStats, type L1Summary, round6 } from './l1-stats.js';
import { ChunkMetrics } from './metrics.js';

export interface DimensionL1 {
  name: string;
  unit: string;
  n: number;
  l1_mean: number;
  l1_p95: number;
  l1_max: number;
}

export interface IndexL1 {
  /** 1-based position inside the chunk: index i is the action for tick obs + offset + i - 1. */
  index: number;
  /** Pooled over the dimensions. */
  n: number;
  l1_mean: number;
  l1_p95: number;
  l1_max: number;
  /** Mean L1 of each dimension at this index, in dimension order. */
  l1_mean_per_dimension: number[];
}

export interface ExecutedReport {
  ticks: number;
  startup_ticks: number;
  underruns: number;
  chunks_landed: number;
  /** The chunk indices the schedule executed (1-based), and how many ticks each. */
  index_first: number;
  index_last: number;
  index_counts: number[];
  l1: L1Summary;
  per_dimension: DimensionL1[];
}

export interface SeamReport {
  /** Chunks that landed on top of an older plan. */
  seams: number;
  /** Ticks where the new chunk replaced an old action. */
  overlap_ticks: number;
  overlap: { l1: L1Summary; per_dimension: DimensionL1[] };
  /** Only the first replaced tick of each seam: the jump the robot would make there. */
  first_tick: { l1: L1Summary; per_dimension: DimensionL1[] };
}

export interface EpisodeReport {
  label: string;
  origin: string;
  outcome: string;
  ticks: number;
  chunks: number;
  rows_without_frames: number;
  l1: L1Summary;
  per_dimension: DimensionL1[];
  l1_mean_per_index: number[];
  executed: { ticks: number; underruns: number; index_first: number; index_last: number; l1: L1Summary };
  seams: { seams: number; overlap_l1_mean: number; first_tick_l1_mean: number };
}

export interface OverallReport {
  episodes: number;
  chunks: number;
  ticks: number;
  l1: L1Summary;
  per_dimension: DimensionL1[];
  per_index: IndexL1[];
  executed: ExecutedReport;
  seams: SeamReport;
}

/** Units per action dimension, for the report. */
export function dimensionUnits(robot: RobotDescription): string[] {
  return robot.action_names.map((_, i) => (isGripperAction(robot, i) ? '0 closed..1 open' : 'rad'));
}

export function dimensionRows(s: DimStats, names: readonly string[], units: readonly string[]): DimensionL1[] {
  return s.stats.map((x, d) => {
    const v = x.summary();
    return { name: names[d], unit: units[d], n: v.n, l1_mean: v.mean, l1_p95: v.p95, l1_max: v.max };
  });
}

function indexRange(counts: number[]): { index_first: number; index_last: number } {
  const used = counts.flatMap((n, i) => (n > 0 ? [i + 1] : []));
  return { index_first: used[0] ?? 0, index_last: used[used.length - 1] ?? 0 };
}

export interface EpisodeMetaLite {
  label: string;
  origin: string;
  outcome: string;
  ticks: number;
}

export function episodeReport(m: EpisodeMetaLite, e: EpisodeEval, names: string[], units: string[]): EpisodeReport {
  const executedAll = e.executed.pooled().summary();
  return {
    ...m,
    chunks: e.chunks,
    rows_without_frames: e.rows_without_frames,
    l1: e.open.overall(),
    per_dimension: dimensionRows(e.open.perDimension(), names, units),
    l1_mean_per_index: e.open.perIndex().map((s) => round6(s.mean)),
    executed: {
      ticks: e.schedule.ticks_executed,
      underruns: e.schedule.underruns,
      ...indexRange(e.schedule.index_counts),
      l1: executedAll,
    },
    seams: {
      seams: e.seam_first.n,
      overlap_l1_mean: round6(e.seam_overlap.pooled().mean),
      first_tick_l1_mean: round6(e.seam_first.pooled().mean),
    },
  };
}

/** Everything merged over the episodes so far. */
export class EvalTotals {
  readonly open: ChunkMetrics;
  readonly executed: DimStats;
  readonly seam_overlap: DimStats;
  readonly seam_first: DimStats;
  readonly index_counts: number[];
  episodes = 0;
  ticks = 0;
  startup_ticks = 0;
  underruns = 0;
  chunks_landed = 0;
  ticks_executed = 0;
  readonly call_ms: number[] = [];
  open_calls = 0;
  schedule_calls = 0;

  constructor(
    readonly horizon: number,
    readonly dim: number,
  ) {
    this.open = new ChunkMetrics(horizon, dim);
    this.executed = new DimStats(dim);
    this.seam_overlap = new DimStats(dim);
    this.seam_first = new DimStats(dim);
    this.index_counts = new Array(horizon).fill(0);
  }

  add(e: EpisodeEval, ticks: number): void {
    this.episodes++;
    this.ticks += ticks;
    this.open.merge(e.open);
    this.executed.merge(e.executed);
    this.seam_overlap.merge(e.seam_overlap);
    this.seam_first.merge(e.seam_first);
    e.schedule.index_counts.forEach((n, i) => {
      this.index_counts[i] += n;
    });
    this.startup_ticks += e.schedule.startup_ticks;
    this.underruns += e.schedule.underruns;
    this.chunks_landed += e.schedule.chunks_landed;
    this.ticks_executed += e.schedule.ticks_executed;
    for (const ms of e.call_ms) this.call_ms.push(ms);
    this.schedule_calls += e.schedule_calls;
    this.open_calls += e.call_ms.length - e.schedule_calls;
  }

  report(names: string[], units: string[]): OverallReport {
    const matrix = this.open.meanMatrix();
    const per_index = this.open.perIndex().map((s, i) => {
      const v = s.summary();
      const l1_mean_per_dimension = matrix[i].map(round6);
      return { index: i + 1, n: v.n, l1_mean: v.mean, l1_p95: v.p95, l1_max: v.max, l1_mean_per_dimension };
    });
    return {
      episodes: this.episodes,
      chunks: this.open.chunks,
      ticks: this.ticks,
      l1: this.open.overall(),
      per_dimension: dimensionRows(this.open.perDimension(), names, units),
      per_index,
      executed: {
        ticks: this.ticks_executed,
        startup_ticks: this.startup_ticks,
        underruns: this.underruns,
        chunks_landed: this.chunks_landed,
        ...indexRange(this.index_counts),
        index_counts: [...this.index_counts],
        l1: this.executed.pooled().summary(),
        per_dimension: dimensionRows(this.executed, names, units),
      },
      seams: {
        seams: this.seam_first.n,
        overlap_ticks: this.seam_overlap.n,
        overlap: {
          l1: this.seam_overlap.pooled().summary(),
          per_dimension: dimensionRows(this.seam_overlap, names, units),
        },
        first_tick: {
          l1: this.seam_first.pooled().summary(),
          per_dimension: dimensionRows(this.seam_first, names, units),
        },
      },
    };
  }
}

/** An episode kept for the fan plot: its recorded actions and a sample of its chunks. */
export interface FanEpisode {
  label: string;
  l1_mean: number;
  /** Ticks the recorded actions were executed at (row tick + 1), and the actions there (ticks x dim). */
  action_ticks: Int32Array;
  actions: Float64Array;
  /** The state (action layout) at each chunk's observation, where the inference point is drawn. */
  chunks: (FanChunk & { state: Float32Array })[];
}

/** The k episodes with the largest open-loop mean L1, kept as they come (for plots). */
export class WorstEpisodes {
  readonly kept: FanEpisode[] = [];

  constructor(readonly k: number) {}

  /** Whether an episode with this mean L1 would be kept (so its fan data is worth building). */
  wants(l1_mean: number): boolean {
    return this.kept.length < this.k || l1_mean > this.kept[this.kept.length - 1].l1_mean;
  }

  offer(e: FanEpisode): void {
    if (!this.wants(e.l1_mean)) return;
    this.kept.push(e);
    this.kept.sort((a, b) => b.l1_mean - a.l1_mean);
    if (this.kept.length > this.k) this.kept.pop();
  }
}
