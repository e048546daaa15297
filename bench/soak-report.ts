// What one soak path reports, from its vla-run summaries and process statistics: the figures and a
// pass/fail per check. Memory is judged after a warm-up (model load, JIT, first GCs) on the longest run.
import type { ProcessSample } from '../src/telemetry/process-stats.js';
import type { RuntimeMiss } from '../src/telemetry/stall-classifier.js';
import type { SoakRun } from './soak-run.js';

type SampleField =
  | 't_s'
  | 'rss_mb'
  | 'rss_anon_mb'
  | 'rss_file_mb'
  | 'heap_used_mb'
  | 'thread_heaps_mb'
  | 'thread_heaps_physical_mb'
  | 'heap_total_mb'
  | 'external_mb'
  | 'fds'
  | 'final'
  | 'after_gc';

export interface MemoryReport {
  /** One per --stats-every (MB, fds); the last as the process exited. */
  samples: Pick<ProcessSample, SampleField>[];
  warmup_s: number;
  /** Last sample minus the first after the warm-up (MB); null when the run was too short for two. */
  rss_growth_mb: number | null;
  /** The same for RSS right after a full GC of the main thread (--stats-gc): what a leak grows. */
  retained_rss_growth_mb: number | null;
  heap_growth_mb: number | null;
  fds_first: number | null;
  fds_last: number | null;
}

export function memoryReport(stats: ProcessSample[], warmup_s: number): MemoryReport {
  const running = stats.filter((s) => !s.final);
  const after = running.filter((s) => s.t_s >= warmup_s);
  const first = after[0];
  const last = after.at(-1);
  const two = first && last && last !== first;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    samples: stats.map((s) => ({
      t_s: s.t_s,
      rss_mb: s.rss_mb,
      rss_anon_mb: s.rss_anon_mb ?? null,
      rss_file_mb: s.rss_file_mb ?? null,
      thread_heaps_mb: s.thread_heaps_mb ?? {},
      thread_heaps_physical_mb: s.thread_heaps_physical_mb ?? {},
      heap_total_mb: s.heap_total_mb,
      heap_used_mb: s.heap_used_mb,
      external_mb: s.external_mb,
      fds: s.fds,
      ...(s.after_gc ? { after_gc: s.after_gc } : {}),
      ...(s.final ? { final: s.final } : {}),
    })),
    warmup_s,
    rss_growth_mb: two ? r2(last.rss_mb - first.rss_mb) : null,
    retained_rss_growth_mb:
      two && first.after_gc && last.after_gc ? r2(last.after_gc.rss_mb - first.after_gc.rss_mb) : null,
    heap_growth_mb: two ? r2(last.heap_used_mb - first.heap_used_mb) : null,
    fds_first: running[0]?.fds ?? null,
    fds_last: running.at(-1)?.fds ?? null,
  };
}

/** The control-loop figures of a run, summed over runs. */
export interface LoopTotals {
  ticks: number;
  underruns: number;
  overruns: number;
  missed: {
    host_stall: number;
    cpu_contention: number;
    runtime: number;
    host_stall_ms: number;
    cpu_contention_ms: number;
    runtime_ms: number;
    /** Every run's summary had missed_ticks (false: a build whose engine drops them; nothing to judge). */
    reported: boolean;
  };
  host_stalls: { start_ms: number; length_ms: number; evidence: string }[];
  runtime_misses: RuntimeMiss[];
  stale_actions_executed: number | null;
  clamped_actions: number;
  rejected_chunks: number;
  holds: { stops: number; driver_faults: number; by_health: Record<string, number>; underrun_ticks: number };
  longest_driver_fault_ms: number;
  inference_calls: number;
  /** How the episodes ended (success, failure, truncated, interrupted, fault), and each fault's message. */
  episode_ends: Record<string, number>;
  episode_faults: Record<string, number>;
}

export function loopTotals(runs: SoakRun[]): LoopTotals {
  const t: LoopTotals = {
    ticks: 0,
    underruns: 0,
    overruns: 0,
    missed: {
      host_stall: 0,
      cpu_contention: 0,
      runtime: 0,
      host_stall_ms: 0,
      cpu_contention_ms: 0,
      runtime_ms: 0,
      reported: true,
    },
    host_stalls: [],
    runtime_misses: [],
    stale_actions_executed: null,
    clamped_actions: 0,
    rejected_chunks: 0,
    holds: { stops: 0, driver_faults: 0, by_health: {}, underrun_ticks: 0 },
    longest_driver_fault_ms: 0,
    inference_calls: 0,
    episode_ends: {},
    episode_faults: {},
  };
  for (const { summary: s } of runs) {
    if (!s?.control) continue; // no summary (a crash) or an error object (exit 2): nothing ran to count
    t.ticks += s.control.ticks;
    t.underruns += s.control.underruns;
    t.overruns += s.control.overruns;
    const m = s.control.missed_ticks;
    if (!m) t.missed.reported = false;
    if (m) {
      t.missed.host_stall += m.host_stall;
      t.missed.runtime += m.runtime;
      t.missed.cpu_contention += m.cpu_contention;
      t.missed.cpu_contention_ms += m.late_ms.cpu_contention;
      t.missed.host_stall_ms += m.late_ms.host_stall;
      t.missed.runtime_ms += m.late_ms.runtime;
      t.host_stalls = longest([...t.host_stalls, ...m.host_stalls], (e) => e.length_ms);
      t.runtime_misses = longest([...t.runtime_misses, ...m.runtime_examples], (e) => e.late_ms);
    }
    const stale = s.buffer.stale_actions_executed;
    if (stale !== null) t.stale_actions_executed = (t.stale_actions_executed ?? 0) + stale;
    t.clamped_actions += s.safety.clamped_actions;
    t.rejected_chunks += s.safety.rejected_chunks;
    t.holds.stops += s.holds.stops;
    t.holds.driver_faults += s.holds.driver_faults;
    t.holds.underrun_ticks += s.holds.underrun_ticks;
    for (const [k, v] of Object.entries(s.holds.by_health)) t.holds.by_health[k] = (t.holds.by_health[k] ?? 0) + v;
    t.longest_driver_fault_ms = Math.max(t.longest_driver_fault_ms, s.holds.longest_driver_fault_ms);
    t.inference_calls += s.inference.calls;
    for (const [k, v] of Object.entries(s.episode_ends)) t.episode_ends[k] = (t.episode_ends[k] ?? 0) + v;
    for (const e of s.episodes_detail) {
      const why = e.fault?.slice(0, 160);
      if (why) t.episode_faults[why] = (t.episode_faults[why] ?? 0) + 1;
    }
  }
  return t;
}

/** The 20 longest, in the order given (runs in time order, each listed in time order). */
function longest<T>(items: T[], length: (t: T) => number): T[] {
  const cut = items.map(length).sort((a, b) => b - a)[19] ?? Number.NEGATIVE_INFINITY;
  return items.filter((e) => length(e) >= cut).slice(0, 20);
}

export interface Check {
  pass: boolean;
  value: number | string | null;
  bar: string;
}

export function check(pass: boolean, value: number | string | null, bar: string): Check {
  return { pass, value, bar };
}
