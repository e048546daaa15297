// Late ticks of a real-time loop, classified by cause once the evidence is in: a late tick is held until
// the watchdog has run after it (a stall of the whole process ends for both threads at once, and the
// control thread may look first), then judged against the watchdog's gaps and the steal time.
import {
  type GcPause,
  judgeEvidence,
  type LateTick,
  MissedTicks,
  type MissedTicksReport,
  measureEvidence,
  type RunQueueSample,
  type StealSample,
  type WatchdogGap,
} from './stall-classifier.js';
import { StallWatchdog } from './stall-watchdog.js';
import { STEAL_EVERY_MS } from './stall-watchdog-layout.js';
import type { ThreadHeap } from './thread-heaps.js';

/** What the account reads its evidence from: the watchdog thread (tests hand in a timeline). */
export interface EvidenceSource {
  lastBeat(): number;
  gaps(): WatchdogGap[];
  steal(): StealSample[];
  runQueue(): RunQueueSample[];
  stealTotalMs(): number | null;
  /** When steal time was last sampled (monotonic ms): +Infinity where it never will be, 0 before the first. */
  lastStealAt(): number;
  /** When the run-queue wait was last sampled (monotonic ms): +Infinity where it never will be (none so far). */
  lastRunQueueAt(): number;
  /** The watchdog thread's own heap, where there is such a thread. */
  heap?(): ThreadHeap | undefined;
  stop(): Promise<void>;
}

/** Late ticks waiting for their evidence, at most (more are judged at once with what is known). */
const PENDING_MAX = 32;
/** A watchdog that has not run this long after a late tick is not coming: judge without it (ms). */
const EVIDENCE_WAIT_MS = 200;
/** The control thread's last garbage collections kept, to list beside a runtime-caused miss. */
const GC_PAUSES_KEPT = 32;

export class StallAccount {
  private readonly missed: MissedTicks;
  private readonly pending: LateTick[] = [];
  private readonly watchdog: EvidenceSource | undefined;
  /** [start_ms, end_ms] of the control thread's last collections, a ring (monotonic ms). */
  private readonly gcRing = new Float64Array(2 * GC_PAUSES_KEPT);
  private gcCount = 0;

  /**
   * `threshold_ms`: how late a tick must wake to count; `origin_ms`: the run's start (monotonic ms); `watchdog`:
   * where the evidence comes from (default: a watchdog thread started here; null: none, every miss is the runtime).
   */
  constructor(
    private readonly threshold_ms: number,
    origin_ms: number,
    watchdog: EvidenceSource | null = StallWatchdog.start() ?? null,
  ) {
    this.missed = new MissedTicks(threshold_ms, origin_ms);
    this.watchdog = watchdog ?? undefined;
  }

  /** Resolves once the watchdog runs (or after `timeout_ms`): misses before that would have no evidence. */
  async ready(timeout_ms: number): Promise<void> {
    const give_up = performance.now() + timeout_ms;
    while (this.watchdog && this.watchdog.lastBeat() === 0 && performance.now() < give_up)
      await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * A tick due at `due_ms` woke at `woke_ms` (monotonic ms); the tick before ran `prev_tick_ms`, and the wait
   * returned from its sleep `sleep_late_ms` late (NaN: unknown). Allocates only when it was late.
   */
  tick(due_ms: number, woke_ms: number, prev_tick_ms = Number.NaN, sleep_late_ms = Number.NaN): void {
    if (this.pending.length > 0) this.judge(woke_ms, false);
    if (woke_ms - due_ms < this.threshold_ms) return;
    if (this.pending.length >= PENDING_MAX) this.judge(woke_ms, true);
    const own = (ms: number) => (Number.isNaN(ms) ? undefined : ms);
    this.pending.push({ due_ms, woke_ms, prev_tick_ms: own(prev_tick_ms), sleep_late_ms: own(sleep_late_ms) });
  }

  /** The control thread spent [start_ms, end_ms] (monotonic ms) in a garbage collection. */
  gcPause(start_ms: number, end_ms: number): void {
    const at = 2 * (this.gcCount++ % GC_PAUSES_KEPT);
    this.gcRing[at] = start_ms;
    this.gcRing[at + 1] = end_ms;
  }

  /** The counts so far (late ticks still waiting for evidence are not in them). */
  counts(): MissedTicksReport {
    return this.missed.report(this.watchdog !== undefined, this.watchdog?.stealTotalMs() ?? null);
  }

  /** The watchdog thread's heap as it last reported it (undefined: no watchdog thread, or no report yet). */
  watchdogHeap(): ThreadHeap | undefined {
    return this.watchdog?.heap?.();
  }

  /** Late ticks still waiting for their evidence. */
  get pending_count(): number {
    return this.pending.length;
  }

  /** Judge what is pending, end the watchdog, and report. */
  async close(now_ms: number): Promise<MissedTicksReport> {
    // give the watchdog a moment to see the end of a stall the control thread saw first, and to sample steal
    if (this.pending.length > 0 && this.watchdog) await new Promise((r) => setTimeout(r, STEAL_EVERY_MS + 10));
    this.judge(now_ms, true);
    const steal = this.watchdog?.stealTotalMs() ?? null;
    const ran = (this.watchdog?.lastBeat() ?? 0) > 0;
    await this.watchdog?.stop();
    return this.missed.report(ran, steal);
  }

  /**
   * Judge the late ticks whose evidence is in: the watchdog ran after the tick woke, and the steal time and
   * the run-queue wait were sampled after it too (where there are any); or it has waited long enough; or `all`.
   * Called on every tick while one is pending, so the evidence is copied out only once one is ready.
   */
  private judge(now_ms: number, all: boolean): void {
    const w = this.watchdog;
    const beat = w?.lastBeat() ?? 0;
    const stealSince = w?.lastStealAt() ?? Number.POSITIVE_INFINITY;
    const runqSince = w?.lastRunQueueAt() ?? Number.POSITIVE_INFINITY;
    const inAfter = (p: LateTick) => beat > p.woke_ms && stealSince >= p.woke_ms && runqSince >= p.woke_ms;
    const isReady = (p: LateTick) => all || inAfter(p) || now_ms - p.woke_ms > EVIDENCE_WAIT_MS;
    if (!this.pending.some(isReady)) return;
    const ready = this.pending.filter(isReady);
    const [gaps, steal, runq] = [w?.gaps() ?? [], w?.steal() ?? [], w?.runQueue() ?? []];
    const gcs = this.gcPauses();
    for (const p of ready) {
      const evidence = measureEvidence(p, gaps, steal, runq, gcs);
      this.missed.add(p, judgeEvidence(p, evidence), evidence);
    }
    this.pending.splice(0, this.pending.length, ...this.pending.filter((p) => !ready.includes(p)));
  }

  private gcPauses(): GcPause[] {
    const out: GcPause[] = [];
    for (let i = 0; i < Math.min(this.gcCount, GC_PAUSES_KEPT); i++)
      out.push({ start_ms: this.gcRing[2 * i], end_ms: this.gcRing[2 * i + 1] });
    return out;
  }
}
