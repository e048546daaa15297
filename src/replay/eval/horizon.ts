// The recommended execution horizon: the largest chunk index h such that every dimension's mean L1 stays at
// or under its threshold at indices 1..h. Then what that means for the runtime, found by running its own
// schedule (schedule.ts) on a timing-only episode: the runtime executes indices d + 1 .. about H - margin of
// each chunk (one request in flight), so keeping to h needs a large enough --margin, and a latency d whose
// chunks still land before the old plan passes index h.
import { runSchedule, type ScheduleCounts, type ScheduleParams } from './schedule.js';

export interface HorizonInput {
  /** Mean L1 per [chunk index][dimension]; NaN where nothing was compared. */
  mean_l1: number[][];
  dim_names: readonly string[];
  /** Threshold per dimension, in its units. */
  max_l1: readonly number[];
}

export interface ScheduleFit {
  delay_ticks: number;
  margin_ticks: number;
  /** Chunk indices the schedule executes (1-based), and ticks without an action once started. */
  first_index: number;
  last_index: number;
  underruns: number;
}

export interface HorizonRecommendation {
  /** 0 when even index 1 is over the threshold. */
  horizon: number;
  /** The dimension that first exceeds its threshold after `horizon` (null: none does within the chunk). */
  limited_by: string | null;
  /** The largest --delay (ticks) whose schedule keeps to `horizon` with 0 underruns, with the --margin it needs. */
  max_delay_ticks: number | null;
  margin_ticks: number | null;
}

export function recommendedHorizon(h: HorizonInput): { horizon: number; limited_by: string | null } {
  for (let i = 0; i < h.mean_l1.length; i++) {
    const row = h.mean_l1[i];
    for (let d = 0; d < row.length; d++) {
      // an index nothing was compared at (every episode ended first) cannot vouch for anything beyond it
      if (!(row[d] <= h.max_l1[d])) return { horizon: i, limited_by: h.dim_names[d] };
    }
  }
  return { horizon: h.mean_l1.length, limited_by: null };
}

/** Ticks of the timing-only episode: enough chunks to reach the steady state for any delay. */
function timingTicks(p: Pick<ScheduleParams, 'horizon' | 'offset'>): number {
  return 12 * (p.horizon + p.offset);
}

/** Which indices the runtime's schedule executes for this delay and margin (no policy: zero chunks). */
export async function scheduleFit(
  p: Omit<ScheduleParams, 'delay_ticks' | 'margin_ticks'>,
  delay_ticks: number,
  margin_ticks: number,
): Promise<ScheduleFit> {
  const zeros = new Float32Array(p.horizon * p.dim);
  const counts: ScheduleCounts = await runSchedule({ ...p, delay_ticks, margin_ticks }, 0, timingTicks(p), {
    chunkAt: async () => zeros,
  });
  const used = counts.index_counts.map((n, i) => (n > 0 ? i + 1 : 0)).filter((i) => i > 0);
  return {
    delay_ticks,
    margin_ticks,
    first_index: used.length ? Math.min(...used) : 0,
    last_index: used.length ? Math.max(...used) : 0,
    underruns: counts.underruns,
  };
}

/**
 * For each delay, the smallest margin whose schedule executes no index past `horizon` with 0 underruns (the
 * smallest: the fewest inferences); the largest delay that has one is what the horizon is compatible with.
 */
export async function compatibleSchedule(
  p: Omit<ScheduleParams, 'delay_ticks' | 'margin_ticks'>,
  horizon: number,
): Promise<{ max_delay_ticks: number | null; margin_ticks: number | null }> {
  let best: { max_delay_ticks: number | null; margin_ticks: number | null } = {
    max_delay_ticks: null,
    margin_ticks: null,
  };
  if (horizon < 1) return best;
  for (let d = 0; d < horizon; d++) {
    const margin = await smallestMargin(p, d, horizon);
    // past the first delay that no margin rescues, a longer one cannot be rescued either
    if (margin === null) break;
    best = { max_delay_ticks: d, margin_ticks: margin };
  }
  return best;
}

async function smallestMargin(
  p: Omit<ScheduleParams, 'delay_ticks' | 'margin_ticks'>,
  delay_ticks: number,
  horizon: number,
): Promise<number | null> {
  for (let m = 0; m <= p.horizon + p.offset; m++) {
    const fit = await scheduleFit(p, delay_ticks, m);
    if (fit.underruns === 0 && fit.last_index > 0 && fit.last_index <= horizon) return m;
  }
  return null;
}
