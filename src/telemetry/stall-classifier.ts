// Why a control tick ran late: the whole process was not scheduled (a host stall: the VM was paused or
// starved, SIGSTOP, swapping); the control thread was ready but waited for a CPU (contention: more runnable
// threads than CPUs); or the control thread itself was late while it could run (a long tick, GC in the
// control thread, a blocked port). Only the last is the runtime's code, so they are counted apart. The
// evidence: a watchdog thread of the same process that wakes every 2 ms (if it too saw a gap over the
// late stretch, nothing of the process ran), the host's steal time (/proc/stat: the hypervisor ran someone
// else on our virtual CPUs), and the control thread's own run-queue wait (/proc/self/task/TID/schedstat).
// Pure functions and one accumulator: the timelines are handed in, so tests can build them.

/** A stretch [start_ms, end_ms] (process-wide monotonic ms) during which the watchdog thread did not run. */
export interface WatchdogGap {
  start_ms: number;
  end_ms: number;
}

/** The host's cumulative steal time (ms, summed over CPUs) as sampled at t_ms. */
export interface StealSample {
  t_ms: number;
  steal_ms: number;
}

/** The control thread's cumulative run-queue wait (ms) as sampled at t_ms; and its time on a CPU (NaN: unknown). */
export interface RunQueueSample {
  t_ms: number;
  wait_ms: number;
  cpu_ms?: number;
}

/**
 * A tick that woke `woke_ms - due_ms` late; with what the control thread knows of its own part (listed with a
 * runtime-caused miss, never used to judge): how long the tick before took to run, and how late the wait for
 * this one returned from its sleep (a thread that was busy in its event loop returns late from a timer).
 */
export interface LateTick {
  due_ms: number;
  woke_ms: number;
  prev_tick_ms?: number;
  sleep_late_ms?: number;
}

export type StallCause = 'host_stall' | 'cpu_contention' | 'runtime';
export type StallEvidence = 'watchdog_gap' | 'steal_time' | 'run_queue';

export interface Verdict {
  cause: StallCause;
  evidence?: StallEvidence;
}

/** Share of a late stretch the evidence must cover to call it a host stall. */
export const HOST_SHARE = 0.5;
/** Steal samples further apart than this say too little about one tick (ms). */
const STEAL_WINDOW_MAX_MS = 250;
/** Run-queue samples this much wider than the late stretch could hold waits from outside it (ms). */
const RUNQ_WINDOW_SLACK_MS = 25;

function overlapMs(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}

/**
 * What each source of evidence measured over one late tick (ms): how much of it the watchdog's gaps covered,
 * how much steal time and run-queue wait rose across it (null: no samples close enough to say). Listed with
 * a runtime-caused miss, so a reader sees how far each was from the HOST_SHARE that would have excused it.
 */
export interface Evidence {
  gap_ms: number;
  steal_ms: number | null;
  runq_ms: number | null;
  /**
   * How long the control thread ran on a CPU over the same window as runq_ms (not evidence of a cause; listed so
   * that a reader can tell a thread that was busy from one that was not woken in time).
   */
  cpu_ms: number | null;
  /** How much of the late stretch the control thread's own garbage collections took (also not a cause). */
  gc_ms: number;
}

/** A stretch [start_ms, end_ms] (process-wide monotonic ms) the control thread spent in a garbage collection. */
export interface GcPause {
  start_ms: number;
  end_ms: number;
}

export function measureEvidence(
  late: LateTick,
  gaps: readonly WatchdogGap[],
  steal: readonly StealSample[],
  runq: readonly RunQueueSample[] = [],
  gcs: readonly GcPause[] = [],
): Evidence {
  let gap_ms = 0;
  for (const g of gaps) gap_ms += overlapMs(g.start_ms, g.end_ms, late.due_ms, late.woke_ms);
  let gc_ms = 0;
  for (const g of gcs) gc_ms += overlapMs(g.start_ms, g.end_ms, late.due_ms, late.woke_ms);
  const stolen = rise(late, steal, STEAL_WINDOW_MAX_MS, (s) => s.steal_ms);
  const waited = rise(late, runq, RUNQ_WINDOW_SLACK_MS, (s) => s.wait_ms);
  const ran = rise(late, runq, RUNQ_WINDOW_SLACK_MS, (s) => s.cpu_ms ?? Number.NaN);
  return {
    gap_ms,
    steal_ms: stolen ?? null,
    runq_ms: waited ?? null,
    cpu_ms: ran === undefined || Number.isNaN(ran) ? null : ran,
    gc_ms,
  };
}

/** Classify one late tick against the watchdog's gaps, the steal samples and the control thread's run-queue wait. */
export function classifyLateTick(
  late: LateTick,
  gaps: readonly WatchdogGap[],
  steal: readonly StealSample[],
  runq: readonly RunQueueSample[] = [],
): Verdict {
  return judgeEvidence(late, measureEvidence(late, gaps, steal, runq));
}

/** The cause the measured evidence points to: the first source that covers HOST_SHARE of the late stretch. */
export function judgeEvidence(late: LateTick, e: Evidence): Verdict {
  const share = HOST_SHARE * (late.woke_ms - late.due_ms);
  if (e.gap_ms >= share) return { cause: 'host_stall', evidence: 'watchdog_gap' };
  if (e.steal_ms !== null && e.steal_ms >= share) return { cause: 'host_stall', evidence: 'steal_time' };
  if (e.runq_ms !== null && e.runq_ms >= share) return { cause: 'cpu_contention', evidence: 'run_queue' };
  return { cause: 'runtime' };
}

/**
 * How much a cumulative counter rose from its last sample at or before the tick was due to its first at or
 * after it woke; undefined without both, or when they are more than `slack_ms` wider than the late stretch
 * (a wide window would blame one tick for what is spread over many).
 */
function rise<S extends { t_ms: number }>(
  late: LateTick,
  samples: readonly S[],
  slack_ms: number,
  value: (s: S) => number,
): number | undefined {
  let before: S | undefined;
  let after: S | undefined;
  for (const s of samples) {
    if (s.t_ms <= late.due_ms && (!before || s.t_ms > before.t_ms)) before = s;
    if (s.t_ms >= late.woke_ms && (!after || s.t_ms < after.t_ms)) after = s;
  }
  if (!before || !after) return undefined;
  if (after.t_ms - before.t_ms - (late.woke_ms - late.due_ms) > slack_ms) return undefined;
  return value(after) - value(before);
}

/** One host-stall episode as the summary lists it: ms since the loop started, and its length. */
export interface HostStallEpisode {
  start_ms: number;
  length_ms: number;
  evidence: StallEvidence;
}

export interface RuntimeMiss extends Evidence {
  start_ms: number;
  late_ms: number;
  /** The tick before this one ran this long (null: not measured, as in tests). */
  prev_tick_ms: number | null;
  /** The wait for this tick returned from its sleep this late (null: not measured). */
  sleep_late_ms: number | null;
}

export interface MissedTicksReport {
  /** A tick counts as missed when it woke this late or later (ms). */
  threshold_ms: number;
  total: number;
  host_stall: number;
  /** The control thread was ready to run but waited for a CPU (the machine oversubscribed). */
  cpu_contention: number;
  runtime: number;
  /** Lateness summed per cause (ms): a 1 s stall is one late tick but 50 lost periods at 50 Hz. */
  late_ms: { host_stall: number; cpu_contention: number; runtime: number };
  /** The longest host stalls (capped, in time order); `host_stalls_dropped` shorter ones were counted, not listed. */
  host_stalls: HostStallEpisode[];
  host_stalls_dropped: number;
  /**
   * The longest runtime-caused misses (capped, in time order): when (ms since the loop started), how late, and
   * what the evidence measured over it (ms).
   */
  runtime_examples: RuntimeMiss[];
  /** Whether the watchdog thread ran (without it, no miss can be shown to be a host stall). */
  watchdog: boolean;
  /** Host steal time during the run (ms over all CPUs; null where /proc/stat has none). */
  steal_ms: number | null;
}

/** Listed episodes and examples kept at most (the counts go on). */
export const LISTED_MAX = 20;

/** Counts late ticks by cause as they are classified. */
export class MissedTicks {
  private readonly r: MissedTicksReport;

  constructor(
    threshold_ms: number,
    private readonly origin_ms: number,
  ) {
    this.r = {
      threshold_ms,
      total: 0,
      host_stall: 0,
      cpu_contention: 0,
      runtime: 0,
      late_ms: { host_stall: 0, cpu_contention: 0, runtime: 0 },
      host_stalls: [],
      host_stalls_dropped: 0,
      runtime_examples: [],
      watchdog: false,
      steal_ms: null,
    };
  }

  /** Count a late tick; `evidence`, what was measured over it, is kept with a runtime-caused one. */
  add(late: LateTick, verdict: Verdict, evidence: Evidence): void {
    const r = this.r;
    const late_ms = late.woke_ms - late.due_ms;
    const start_ms = Math.round(late.due_ms - this.origin_ms);
    r.total++;
    r[verdict.cause]++;
    r.late_ms[verdict.cause] += late_ms;
    if (verdict.cause === 'host_stall') {
      const ep = { start_ms, length_ms: round1(late_ms), evidence: verdict.evidence ?? 'watchdog_gap' };
      if (keepLongest(r.host_stalls, ep, (e) => e.length_ms)) r.host_stalls_dropped++;
    } else if (verdict.cause === 'runtime') {
      const measured = {
        gap_ms: round1(evidence.gap_ms),
        steal_ms: round1OrNull(evidence.steal_ms),
        runq_ms: round1OrNull(evidence.runq_ms),
        cpu_ms: round1OrNull(evidence.cpu_ms),
        gc_ms: round1(evidence.gc_ms),
        prev_tick_ms: round1OrNull(late.prev_tick_ms ?? null),
        sleep_late_ms: round1OrNull(late.sleep_late_ms ?? null),
      };
      keepLongest(r.runtime_examples, { start_ms, late_ms: round1(late_ms), ...measured }, (x) => x.late_ms);
    }
  }

  report(watchdog: boolean, steal_ms: number | null): MissedTicksReport {
    const r = this.r;
    return {
      ...r,
      late_ms: {
        host_stall: round1(r.late_ms.host_stall),
        cpu_contention: round1(r.late_ms.cpu_contention),
        runtime: round1(r.late_ms.runtime),
      },
      host_stalls: [...r.host_stalls],
      runtime_examples: [...r.runtime_examples],
      watchdog,
      steal_ms: steal_ms === null ? null : round1(steal_ms),
    };
  }
}

/**
 * Add `item` to a list of at most LISTED_MAX kept in time order, dropping the shortest when full; true when
 * one was dropped. A few a minute at most: the linear scans cost nothing.
 */
function keepLongest<T extends { start_ms: number }>(list: T[], item: T, length: (t: T) => number): boolean {
  if (list.length < LISTED_MAX) {
    list.push(item);
    return false;
  }
  let shortest = 0;
  for (let i = 1; i < list.length; i++) if (length(list[i]) < length(list[shortest])) shortest = i;
  if (length(item) > length(list[shortest])) {
    list.splice(shortest, 1);
    list.push(item); // later than every one listed: time order holds
  }
  return true;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round1OrNull(x: number | null): number | null {
  return x === null ? null : round1(x);
}
