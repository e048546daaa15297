// Which checkpoint to ship. A run's evaluations are short (40 seeds: a 95% interval about 10 points wide), so the
// best of them is partly luck: in run ph-s1 the round that scored 40/40 there scored 90.5% on 200 held-out seeds,
// the last round 85%, while rounds 145-210 ranged from 80% to 93.5% on 200 validation seeds. Selection runs the
// few best-evaluated checkpoints again, deterministically, on more seeds of their own (30000 and up by default:
// apart from training, below 10000, from the run's evaluations, 20000 and up, and from a user's test, 10000-19999)
// and keeps the one that did best there, the later one on a tie (trained longer).
import { wilson } from '../util/stats.js';
import type { FinetuneConfig } from './finetune-config.js';
import { boundAt } from './finetune-loop.js';
import type { EvalLine } from './metric-lines.js';
import type { EpisodeJob, RolloutPool } from './rollout-pool.js';
import { learnerOfRound } from './run-state.js';

export interface SelectionSettings {
  /** How many of the best-evaluated checkpoints run again. */
  candidates: number;
  /** Episodes each, on seeds seed0, seed0 + 1, ... */
  episodes: number;
  seed0: number;
}

export interface SelectLine {
  type: 'select';
  round: number;
  /** The round's score in the run's own evaluation. */
  eval_success: number;
  successes: number;
  episodes: number;
  success: number;
  ci95: [number, number];
  seed0: number;
}

export interface Selection {
  round: number;
  successes: number;
  episodes: number;
  results: SelectLine[];
}

/** The `n` best-evaluated rounds (a later round first among equals), in round order. */
export function selectionCandidates(evals: readonly Pick<EvalLine, 'round' | 'success'>[], n: number): number[] {
  const latest = new Map<number, number>(); // a round evaluated twice (a resumed run): its last evaluation
  for (const e of evals) latest.set(e.round, e.success);
  const ranked = [...latest].sort((a, b) => b[1] - a[1] || b[0] - a[0]);
  return ranked
    .slice(0, n)
    .map(([round]) => round)
    .sort((a, b) => a - b);
}

/**
 * Runs each candidate round's residual (as its checkpoint holds it, in the trust region it was trained for) on
 * the same seeds without exploration, and returns the best. `line` gets one SelectLine per candidate as it ends;
 * `scored`: lines of an earlier selection (a resumed run's), whose rounds on the same seeds are reused, not rerun.
 */
export async function selectCheckpoint(
  pool: RolloutPool,
  runDir: string,
  config: FinetuneConfig,
  candidates: { round: number; eval_success: number }[],
  s: SelectionSettings,
  line: (l: SelectLine) => Promise<void> | void,
  scored: readonly SelectLine[] = [],
): Promise<Selection> {
  if (candidates.length === 0) throw new Error('no evaluated checkpoint to select from');
  const jobs: EpisodeJob[] = Array.from({ length: s.episodes }, (_, i) => ({ seed: s.seed0 + i, explore_seed: null }));
  const results: SelectLine[] = [];
  for (const c of candidates) {
    // a round a resumed run's earlier session already ran on these seeds scores the same again: not run twice
    const known = scored.find((l) => l.round === c.round && l.seed0 === s.seed0 && l.episodes === s.episodes);
    if (known) {
      results.push(known);
      continue;
    }
    const saved = await learnerOfRound(runDir, c.round);
    const weights = { version: c.round, values: saved.learner.actor, bound: boundAt(config, c.round + 1) };
    const eps = await pool.run(jobs, weights);
    const successes = eps.filter((e) => e.success).length;
    const l: SelectLine = {
      type: 'select',
      round: c.round,
      eval_success: c.eval_success,
      successes,
      episodes: eps.length,
      success: successes / Math.max(1, eps.length),
      ci95: wilson(successes, eps.length),
      seed0: s.seed0,
    };
    results.push(l);
    await line(l);
  }
  const best = results.reduce((a, b) => (b.successes >= a.successes ? b : a));
  return { round: best.round, successes: best.successes, episodes: best.episodes, results };
}
