// The control loop on the wall clock, in the control thread: keeps the drift-free schedule, executes one
// tick per period (ControlLoop.step), serves the main thread's requests between ticks, and starts and
// ends episodes. Lateness is counted (overruns, jitter), never made up by a burst of ticks: after a long
// stall the schedule restarts from now. Ticks that woke half a period late or more are counted as
// missed, by cause: a stall of the whole process (the host), the control thread kept waiting for a CPU
// (contention), or the runtime's own (telemetry/stall-account.ts). Between episodes, when no tick is due, the
// loop collects its thread's garbage in full: the I/O libraries under a driver (a WebSocket's JSON at 500
// Hz) leave some in every tick, and collected here it never has to be collected during one, nor does the
// thread's old generation grow for minutes until V8 gets round to it.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { type JointState, newJointState } from '../../../drivers/driver.js';
import { StallAccount } from '../../telemetry/stall-account.js';
import type { MissedTicksReport } from '../../telemetry/stall-classifier.js';
import type { ThreadHeap } from '../../telemetry/thread-heaps.js';
import { monotonicMs } from '../../util/clock.js';
import { FixedRateSchedule } from '../../util/fixed-rate.js';
import { fullGc } from '../../util/full-gc.js';
import type { ControlLoop } from './control-loop.js';
import type { BuiltDriver } from './driver-factory.js';
import type { Pacer } from './pacing.js';
import type { FromWorker, LoopStats, ToWorker } from './protocol.js';

/** Jitter samples kept (the last ~22 min at 50 Hz). */
const JITTER_SAMPLES = 1 << 16;
/** Ticks the loop may fall behind before it gives up catching up and restarts its schedule. */
const MAX_BEHIND_TICKS = 5;
/** The first episode waits at most this long for the stall watchdog thread to run (it starts in ~0.2 s). */
const WATCHDOG_READY_MS = 1000;
/** How often activation is retried while the robot is not ready (program stopped, no fresh state). */
const ACTIVATE_RETRY_MS = 100;
/** Collections between episodes remembered, to tell them from V8's own in the GC observer's late reports. */
const OWN_COLLECTIONS_KEPT = 8;

export class RealtimeLoop {
  private readonly schedule: FixedRateSchedule;
  private readonly jitter = new Float64Array(JITTER_SAMPLES);
  private readonly obsState: JointState;
  private jitterCount = 0;
  /** How long the last tick ran, from its wake to its end (ms; NaN before the first of an episode). */
  private lastTickMs = Number.NaN;
  private overruns = 0;
  private running = false;
  private observe = false;
  private stop = false;
  /** Garbage collections in this thread since the loop started (a tick should cause none). */
  private readonly gc = { scavenges: 0, other: 0, between_episodes: 0, between_episodes_max_ms: 0 };
  private readonly collect = fullGc();
  /** When the last collections between episodes ran ([start, end] pairs, performance.now()): not V8's own. */
  private readonly ownCollections = new Float64Array(2 * OWN_COLLECTIONS_KEPT);
  /** performance.now() of this thread + this = the process-wide monotonic clock the watchdog keeps. */
  private readonly monoOffsetMs = monotonicMs() - performance.now();
  private stalls: StallAccount | undefined;

  constructor(
    private readonly loop: ControlLoop,
    private readonly built: BuiltDriver,
    private readonly pacer: Pacer,
    private readonly port: MessagePort,
    private readonly fault_timeout_ms: number,
  ) {
    this.schedule = new FixedRateSchedule(1000 / loop.description.control_hz, MAX_BEHIND_TICKS);
    this.obsState = newJointState(loop.description);
  }

  /** The stall watchdog thread's heap, for this thread's heap reports (undefined until it has reported). */
  watchdogHeap(): ThreadHeap | undefined {
    return this.stalls?.watchdogHeap();
  }

  async run(): Promise<LoopStats> {
    const gcWatch = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const start = e.startTime + this.monoOffsetMs;
        this.stalls?.gcPause(start, start + e.duration);
        if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR)
          this.gc.scavenges++;
        else if (!this.ranItself(e.startTime)) this.gc.other++;
      }
    });
    gcWatch.observe({ entryTypes: ['gc'] });
    this.stalls = new StallAccount(this.schedule.period_ms / 2, monotonicMs());
    while (!this.stop) {
      const handled = this.drain();
      if (handled) await handled;
      if (this.stop) break;
      if (!this.running) {
        const idle = this.pacer.idle(2); // between episodes
        if (idle) await idle;
        continue;
      }
      await this.tick();
    }
    if (this.running) await this.finish();
    gcWatch.disconnect();
    return this.stats(await this.stalls.close(monotonicMs()));
  }

  private async tick(): Promise<void> {
    const deadline = this.schedule.due();
    const waiting = this.pacer.until(deadline);
    if (waiting) await waiting;
    const woke = performance.now();
    this.jitter[this.jitterCount++ % JITTER_SAMPLES] = woke - deadline;
    const off = this.monoOffsetMs;
    this.stalls?.tick(deadline + off, woke + off, this.lastTickMs, this.pacer.sleep_late_ms);
    this.loop.step(monotonicMs());
    // a request that came in while this tick slept is served now, not a tick later
    const served = this.drain();
    if (served) await served;
    if (this.observe && this.running) this.postObservation();
    const done = performance.now();
    this.lastTickMs = done - woke;
    if (this.schedule.ran(1, done) > 0) this.overruns++;
    if (this.loop.ending && this.running) await this.finish();
  }

  /**
   * Handle every message waiting; a promise only for an episode start or end (the blocking loop never awaits a tick).
   */
  private drain(): void | Promise<void> {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      const pending = this.handle(m.message as ToWorker);
      if (pending) return pending.then(() => this.drain());
    }
  }

  private handle(m: ToWorker): void | Promise<void> {
    switch (m.type) {
      case 'start':
        return this.start(m.seed, m.max_ticks);
      case 'observe':
        this.observe = true;
        return;
      case 'probe':
        return this.probe();
      case 'end':
        this.loop.requestEnd(m.fault);
        return;
      case 'stop':
        this.stop = true;
        return;
    }
  }

  private async start(seed: number, max_ticks: number | undefined): Promise<void> {
    // before the robot is activated: once it is, ticks must follow at once
    await this.stalls?.ready(WATCHDOG_READY_MS);
    this.built.sim?.reset(seed);
    const give_up = monotonicMs() + this.fault_timeout_ms;
    for (;;) {
      const why = await this.built.driver.activate();
      if (why === undefined) break;
      if (monotonicMs() >= give_up) {
        this.post({ type: 'start_failed', reason: `${why} (for ${(this.fault_timeout_ms / 1000).toFixed(1)} s)` });
        return;
      }
      await new Promise((r) => setTimeout(r, ACTIVATE_RETRY_MS));
    }
    this.loop.begin(max_ticks);
    this.observe = false;
    this.running = true;
    this.lastTickMs = Number.NaN;
    this.schedule.start(performance.now());
    this.post({ type: 'started' });
  }

  /** Whether the driver could start an episode now (between episodes only: during one, the ticks say). */
  private async probe(): Promise<void> {
    const why = this.running ? 'an episode is running' : await this.built.driver.activate();
    this.post({ type: 'probed', ...(why === undefined ? {} : { reason: why }) });
  }

  /** No more ticks for this episode; it is reported once the driver has its last command on the wire. */
  private async finish(): Promise<void> {
    this.running = false;
    this.loop.requestEnd();
    const end = this.loop.ending!;
    await this.built.driver.deactivate();
    this.post({ type: 'episode_end', ...end });
    this.collectGarbage();
  }

  /** A full collection now, while no tick is due (the next episode's start waits the few ms it takes). */
  private collectGarbage(): void {
    const t0 = performance.now();
    this.collect();
    const t1 = performance.now();
    const ms = t1 - t0;
    const at = 2 * (this.gc.between_episodes % OWN_COLLECTIONS_KEPT);
    this.ownCollections[at] = t0;
    this.ownCollections[at + 1] = t1;
    this.gc.between_episodes++;
    this.gc.between_episodes_max_ms = Math.max(this.gc.between_episodes_max_ms, Math.round(ms * 100) / 100);
  }

  private postObservation(): void {
    this.observe = false;
    const s = this.obsState;
    this.built.driver.read(s);
    this.post({
      type: 'observation',
      tick: this.loop.tick,
      t_mono_ms: s.t_mono_ms,
      position_rad: s.position_rad,
      gripper: s.gripper,
      ...this.built.sim?.observationExtras(),
    });
  }

  /** Whether a collection that started at `t_ms` was one this loop ran between episodes. */
  private ranItself(t_ms: number): boolean {
    for (let i = 0; i < Math.min(this.gc.between_episodes, OWN_COLLECTIONS_KEPT); i++)
      if (t_ms >= this.ownCollections[2 * i] && t_ms <= this.ownCollections[2 * i + 1]) return true;
    return false;
  }

  private stats(missed_ticks: MissedTicksReport): LoopStats {
    const loop = this.loop;
    return {
      counters: loop.ticker.counters,
      clamped_actions: loop.safety.clamped_actions,
      box_holds: loop.safety.box_holds,
      overruns: this.overruns,
      missed_ticks,
      jitter_ms: this.jitter.slice(0, Math.min(this.jitterCount, JITTER_SAMPLES)),
      faults: loop.faults.report,
      driver: loop.driver.counters(),
      command_t_mono_ms: this.built.sendTimes?.(),
      gc: { ...this.gc },
      residual: loop.ticker.residualFigures(),
    };
  }

  private post(m: FromWorker): void {
    this.port.postMessage(m);
  }
}
