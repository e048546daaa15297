// Episodes one after another on an engine, for every command that runs them: seeds seed, seed+1, ...,
// until the count or the duration is used up, Ctrl-C or SIGTERM (the robot holds, then the summary), or
// a fault.
import type { EpisodeEngine } from '../../runtime/runtime.js';
import type { EpisodeOutcome, TickRecorder } from '../../runtime/runtime-types.js';
import type { Logger } from '../../telemetry/log.js';
import { progress } from '../../telemetry/progress.js';
import { Interrupts, type StopSignal } from './interrupts.js';

export interface EpisodePlan {
  episodes: number;
  seed0: number;
  /** Robot time available (ticks); undefined: no limit. */
  ticks?: number;
  /** The task's own limit per episode (ticks), where the engine's loop does not know it. */
  max_ticks?: number;
  /** A recorder for the episode of `seed` (undefined: none); its close() gets the outcome and how it ended. */
  recorder?: (
    seed: number,
  ) => Promise<
    { tick: TickRecorder; close(r: EpisodeOutcome & { end: EpisodeEnd }): Promise<string | undefined> } | undefined
  >;
  /** Sees every tick of every episode too (a check, a counter). */
  observer?: TickRecorder;
  label: string;
  json: boolean;
  log: Logger;
  /** Ctrl-C / SIGTERM: they hold the robot and end the run (interrupts.ts); default: listened to from here. */
  interrupts?: Interrupts;
}

/**
 * How an episode ended. Only success and failure are scored; a truncated episode (the --duration budget
 * ran out inside it) or an interrupted one (Ctrl-C) says nothing about the policy, and a fault is reported
 * as the run's fault.
 */
export type EpisodeEnd = 'success' | 'failure' | 'truncated' | 'interrupted' | 'fault';

export interface EpisodesResult {
  results: (EpisodeOutcome & { end: EpisodeEnd; file?: string })[];
  interrupted: StopSignal | undefined;
}

export async function runEpisodes(engine: EpisodeEngine, p: EpisodePlan): Promise<EpisodesResult> {
  const own = p.interrupts ? undefined : new Interrupts(p.log, () => {});
  const interrupts = p.interrupts ?? (own as Interrupts);
  interrupts.onStop((sig) => engine.hold(`interrupted (${sig})`));
  const interruptedBy = () => interrupts.signal;
  const bar = progress(p.label, { unit: 'episodes', json: p.json });
  const results: EpisodesResult['results'] = [];
  let ticksLeft = p.ticks ?? Infinity;
  try {
    for (let i = 0; i < p.episodes && ticksLeft > 0 && !interruptedBy(); i++) {
      const seed = p.seed0 + i;
      const rec = await p.recorder?.(seed);
      const budget = Number.isFinite(ticksLeft) ? ticksLeft : undefined;
      const r = await engine.runEpisode({
        seed,
        max_ticks: minDefined(p.max_ticks, budget),
        recorder: both(rec?.tick, p.observer),
      });
      const cut = budget !== undefined && r.ticks >= budget && (p.max_ticks === undefined || budget < p.max_ticks);
      const end: EpisodeEnd = interruptedBy()
        ? 'interrupted'
        : r.fault
          ? 'fault'
          : r.success
            ? 'success'
            : cut
              ? 'truncated'
              : 'failure';
      const file = await rec?.close({ ...r, end });
      results.push({ ...r, end, ...(file ? { file } : {}) });
      ticksLeft -= r.ticks;
      p.log.info({ seed, success: r.success, ticks: r.ticks, fault: r.fault, file, ...r.task_outcome }, 'episode done');
      if (Number.isFinite(p.episodes) && p.episodes > 1)
        bar.update(i + 1, p.episodes, `${results.filter((x) => x.success).length} succeeded`);
      if (r.fault) break;
    }
  } finally {
    bar.end();
    own?.dispose();
  }
  return { results, interrupted: interruptedBy() };
}

/** The smaller of two tick budgets, either of which may be absent. */
export function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function both(a: TickRecorder | undefined, b: TickRecorder | undefined): TickRecorder | undefined {
  if (!a || !b) return a ?? b;
  return {
    tick: (s, c, k, src, t) => {
      a.tick(s, c, k, src, t);
      b.tick(s, c, k, src, t);
    },
  };
}
