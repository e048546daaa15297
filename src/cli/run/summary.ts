// The end-of-run summary: one object, printed for people or (with --json) as exactly one JSON line.

import type { ResidualFigures } from '../../policy/residual/residual-corrector.js';
import { seamJumpRatio } from '../../runtime/control/ticker.js';
import { type FailureOutcome, failureOutcome } from '../../runtime/episode/failure-outcome.js';
import type { EpisodeOutcome, RuntimeReport } from '../../runtime/runtime-types.js';
import type { MissedTicksReport } from '../../telemetry/stall-classifier.js';
import { quantile } from '../../util/sample-ring.js';
import { wilson } from '../../util/stats.js';
import type { CameraUse } from '../../world/local-cameras.js';
import type { EpisodeEnd } from './episodes.js';
import type { RecordedFile } from './recorder.js';

/** Which driver ran, and where it found the robot. */
export interface DriverHead {
  kind: string;
  /** UR: the rosbridge server. */
  url?: string;
  /** ALOHA: the serial port of each arm. */
  ports?: Record<string, string>;
  /** ALOHA on the emulator: its sim link. */
  sim_link?: string;
}

export interface RunSummary {
  robot: string;
  /** Where the robot was: the embedded sim, or a driver (ur, aloha) to a real robot or a simulated endpoint. */
  where: 'embedded sim' | 'simulated endpoint' | 'robot';
  /** The world is simulated (embedded sim or a simulated endpoint): episodes have seeds and success. */
  sim: boolean;
  task: string | null;
  policy: string;
  clock: 'realtime' | 'fast';
  blend: string;
  delay: string;
  /** Every episode run, however it ended. */
  episodes: number;
  /** How they ended (episodes.ts EpisodeEnd); only success and failure are scored. */
  episode_ends: Record<EpisodeEnd, number>;
  scored_episodes: number;
  successes: number;
  /** successes / scored_episodes; null when none was scored. */
  success_rate: number | null;
  /** Wilson 95% interval of the success rate; null when none was scored. */
  success_ci95: [number, number] | null;
  /**
   * cpu_wake_latency_us: the PM QoS cap held during the run (µs), null when none was (see cpu-wake-latency.ts).
   * jitter_ms: null on the virtual clock (--clock fast), where no tick waits for wall time.
   * missed_ticks: ticks that woke half a period late or more, by cause: host_stall (the whole process was
   * not running: a watchdog thread saw the same gap, or the host's steal time rose), cpu_contention (the
   * control thread was ready but waited for a CPU) and runtime (the control thread itself was late); the
   * first host stalls with their start and length. null on the virtual clock.
   */
  control: {
    hz: number;
    ticks: number;
    underruns: number;
    overruns: number;
    jitter_ms: { p50: number; p99: number; max: number } | null;
    missed_ticks: MissedTicksReport | null;
    cpu_wake_latency_us: number | null;
    /**
     * The control thread's garbage collections: scavenges and others that V8 started during the run, and the
     * full ones the loop ran between episodes (no tick due) with the longest (ms); null with --clock fast.
     */
    gc: NonNullable<RuntimeReport['control_gc']> | null;
  };
  /**
   * calls: every call made, also those whose chunk was rejected or that failed (unmeasured_calls) before
   * their latency was measured; latency_model: with --clock fast, the --latency-model value that repeats
   * this run exactly.
   */
  inference: {
    calls: number;
    unmeasured_calls: number;
    /** Calls that found a remote policy unreachable (held, asked again); chunks that landed after a newer one. */
    unavailable_calls: number;
    out_of_order_chunks: number;
    max_in_flight: number;
    /** A remote policy's own counters (requests, bytes, timeouts, late replies, reconnects, server timing). */
    remote?: Record<string, unknown>;
    latency_ms: { p50: number; p95: number; p99: number; max: number };
    stale_observations_skipped: number;
    latency_model: string | null;
  };
  /**
   * stale_actions_executed: buffered actions executed at another tick than their own, read back from the
   * actions themselves: measured only with --policy tick-stamp, null otherwise.
   */
  buffer: {
    chunks: number;
    late_chunks: number;
    dropped_prefix_actions: number;
    seam_jump_ratio: number;
    stale_actions_executed: number | null;
  };
  safety: { clamped_actions: number; box_holds: number; rejected_chunks: number };
  /** With --residual: its name, evaluations, and per action dimension mean |correction| / bound and share at it. */
  residual?: ResidualFigures;
  /**
   * Every time the robot was held, by cause: stops (the runtime stopped the robot for good: a fault such as a
   * rejected chunk, or an interrupt), driver_faults (stretches of stale state, lost connection, stopped
   * program or failed I/O, held until the driver was healthy again: by_health, driver_fault_ticks, longest),
   * underrun_ticks (ticks with an empty buffer: the last command held).
   */
  holds: {
    stops: number;
    driver_faults: number;
    by_health: Record<string, number>;
    driver_fault_ticks: number;
    longest_driver_fault_ms: number;
    underrun_ticks: number;
  };
  /** The driver and its own counters (ALOHA: I/O failures, hardware alerts, late commands, per-arm bus counters). */
  driver: DriverHead & { faults: Record<string, number> };
  /** Cameras on the robot host (--camera): their source, frames handed to the policy, oldest age. */
  cameras?: Record<string, CameraUse>;
  /** --record: the files written (path, seed, outcome, ticks, camera frames, bytes); printed by the caller. */
  recordings?: RecordedFile[];
  /** Said to the user at the end (e.g. many underruns), also printed under the summary. */
  warnings: string[];
  fault: string | null;
  /**
   * In the embedded sim: the failed episodes' task figures (episodes_detail[].task_outcome), the median of each
   * number and how many had each flag set: where the failures ended, at a glance.
   */
  failure_outcome?: FailureOutcome;
  episodes_detail: (EpisodeOutcome & { end: EpisodeEnd })[];
}

/** Underruns above this share of ticks get a warning and a hint. */
export const UNDERRUN_WARN_SHARE = 0.01;

export function buildSummary(
  head: Pick<RunSummary, 'robot' | 'where' | 'sim' | 'task' | 'policy' | 'clock' | 'blend' | 'delay'>,
  r: RuntimeReport,
  episodes: (EpisodeOutcome & { end: EpisodeEnd })[],
  driver: DriverHead = { kind: 'sim' },
  cpu_wake_latency_us: number | null = null,
  cameras?: Record<string, CameraUse>,
  stale_actions_executed: number | null = null,
): RunSummary {
  const ends: Record<EpisodeEnd, number> = { success: 0, failure: 0, truncated: 0, interrupted: 0, fault: 0 };
  for (const e of episodes) ends[e.end]++;
  const scored = ends.success + ends.failure;
  const lat = r.latency.summary();
  const c = r.control;
  const summary: RunSummary = {
    ...head,
    episodes: episodes.length,
    episode_ends: ends,
    scored_episodes: scored,
    successes: ends.success,
    success_rate: scored ? ends.success / scored : null,
    success_ci95: scored
      ? (wilson(ends.success, scored).map((x) => Math.round(x * 1000) / 1000) as [number, number])
      : null,
    control: {
      hz: r.hz,
      ticks: c.ticks,
      underruns: c.underruns,
      overruns: r.overruns,
      jitter_ms: head.clock === 'fast' ? null : jitterMs(r.jitter_ms),
      missed_ticks: head.clock === 'fast' ? null : missedTicks(r),
      cpu_wake_latency_us,
      gc: r.control_gc ?? null,
    },
    inference: {
      calls: lat.calls + r.unmeasured_calls + r.unavailable_calls,
      unmeasured_calls: r.unmeasured_calls,
      unavailable_calls: r.unavailable_calls,
      out_of_order_chunks: r.out_of_order_chunks,
      max_in_flight: r.max_in_flight,
      latency_ms: { p50: lat.p50, p95: lat.p95, p99: lat.p99, max: lat.max },
      stale_observations_skipped: r.stale_observations,
      latency_model: r.latency_model,
    },
    buffer: {
      chunks: r.buffer.chunks,
      late_chunks: r.buffer.late_chunks,
      dropped_prefix_actions: r.buffer.dropped_prefix_actions,
      seam_jump_ratio: Math.round(seamJumpRatio(c) * 100) / 100,
      stale_actions_executed,
    },
    safety: {
      clamped_actions: r.safety.clamped_actions,
      box_holds: r.safety.box_holds,
      rejected_chunks: r.safety.rejected_chunks,
    },
    ...(r.residual ? { residual: r.residual } : {}),
    holds: {
      stops: r.safety.holds,
      driver_faults: r.driver.holds,
      by_health: r.driver.holds_by_health,
      driver_fault_ticks: c.fault_hold_ticks,
      longest_driver_fault_ms: r.driver.longest_hold_ms,
      underrun_ticks: c.underruns,
    },
    driver: { ...driver, faults: r.driver.counters },
    ...(cameras ? { cameras } : {}),
    warnings: [],
    fault: episodes.find((e) => e.fault)?.fault ?? null,
    episodes_detail: episodes,
  };
  const failed = failureOutcome(episodes.filter((e) => e.end === 'failure').map((e) => e.task_outcome));
  if (failed) summary.failure_outcome = failed;
  summary.warnings = summaryWarnings(summary);
  return summary;
}

/** The control thread's missed ticks, as the engine hands them on (absent from an engine that does not). */
function missedTicks(r: RuntimeReport): MissedTicksReport | null {
  return r.missed_ticks ?? null;
}

function jitterMs(jitter_ms: ArrayLike<number>): { p50: number; p99: number; max: number } {
  const jitter = Float64Array.from(jitter_ms, Math.abs);
  const ms = (x: number) => Math.round(x * 1000) / 1000;
  return {
    p50: ms(quantile(jitter, 0.5)),
    p99: ms(quantile(jitter, 0.99)),
    max: ms(jitter.reduce((m, x) => Math.max(m, x), 0)),
  };
}

/** What the user should hear about beyond the numbers. */
function summaryWarnings(s: RunSummary): string[] {
  const out: string[] = [];
  const { ticks, underruns } = s.control;
  if (ticks > 0 && underruns / ticks > UNDERRUN_WARN_SHARE) {
    out.push(
      `${underruns} underruns in ${ticks} ticks (${((100 * underruns) / ticks).toFixed(1)}%): the buffer ran dry ` +
        `and the robot held its last command: inference (p99 ${s.inference.latency_ms.p99} ms) does not keep up ` +
        'with the chunk. Use a model that plans further ahead (a longer horizon) or infers faster; ' +
        '--inject-latency-ms rehearses a latency before the robot meets it',
    );
  }
  return out;
}

export function formatSummary(s: RunSummary): string {
  const lines = [
    `${s.robot} (${s.where})${s.task ? ` ${s.task}` : ''}, policy ${s.policy}, ${s.clock} clock, ` +
      `blend ${s.blend}, delay ${s.delay}`,
    `  episodes   ${episodesLine(s)}`,
    `  control    ${controlLine(s.control)}`,
    `  inference  ${inferenceLine(s.inference)}`,
    `  buffer     ${bufferLine(s.buffer)}`,
    `  safety     ${s.safety.clamped_actions} clamped${boxHolds(s.safety.box_holds)}, ` +
      `${s.safety.rejected_chunks} chunks rejected`,
    `  holds      ${holdsLine(s.holds)}`,
  ];
  if (s.failure_outcome) lines.splice(2, 0, `  failures   ${failuresLine(s.failure_outcome)}`);
  if (s.residual) lines.splice(s.failure_outcome ? 7 : 6, 0, `  residual   ${residualLine(s.residual)}`);
  if (s.driver.kind !== 'sim') lines.push(`  driver     ${driverLine(s.driver)}`);
  for (const [name, c] of Object.entries(s.cameras ?? {})) {
    lines.push(`  camera     ${name} from ${c.source}: ${c.frames_served} frames served, oldest ${c.max_age_ms} ms`);
  }
  if (s.fault) lines.push(`  FAULT      ${s.fault}`);
  for (const w of s.warnings) lines.push(`  WARNING    ${w}`);
  return `${lines.join('\n')}\n`;
}

/** A task figure for people: lengths in cm (a table top's scale), "cube_to_target 7.2 cm"; others as they are. */
export function figureText(key: string, v: number | boolean): string {
  return typeof v === 'number' && key.endsWith('_m') ? `${key.slice(0, -2)} ${(100 * v).toFixed(1)} cm` : `${key} ${v}`;
}

/** "11 failed episodes, median cube_to_target 7.2 cm, ...; cube_lifted in 2". */
export function failuresLine(f: FailureOutcome): string {
  const medians = Object.entries(f.median).map(([k, v]) => figureText(k, v));
  const flags = Object.entries(f.flagged).map(([k, n]) => `${k} in ${n}`);
  const of = `${f.failures} failed episode${f.failures === 1 ? '' : 's'}`;
  return `${of}, median ${medians.join(', ')}${flags.length ? `; ${flags.join(', ')}` : ''}`;
}

function residualLine(r: ResidualFigures): string {
  const pct = (xs: number[]) => `${Math.round(100 * Math.max(0, ...xs))}%`;
  const mean = r.mean_abs_fraction.reduce((a, b) => a + b, 0) / Math.max(1, r.mean_abs_fraction.length);
  return (
    `${r.name}: ${r.evaluations} evaluations, mean |correction| ${Math.round(100 * mean)}% of its bound ` +
    `(largest ${r.frame === 'tool' ? 'tool axis' : 'joint'} ${pct(r.mean_abs_fraction)}), ` +
    `at the bound up to ${pct(r.at_bound_fraction)} of the time`
  );
}

function episodesLine(s: RunSummary): string {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const e = s.episode_ends;
  const unscored = (['truncated', 'interrupted', 'fault'] as const)
    .filter((k) => e[k] > 0)
    .map((k) => `${e[k]} ${k === 'fault' ? 'stopped by a fault' : k}`);
  const rest = unscored.length ? `; ${unscored.join(', ')}, not scored` : '';
  if (s.success_rate === null || s.success_ci95 === null) return `${s.episodes} run, none scored${rest}`;
  const ci = s.scored_episodes > 1 ? `, 95% CI ${pct(s.success_ci95[0])}-${pct(s.success_ci95[1])}` : '';
  return `${s.successes}/${s.scored_episodes} succeeded (${pct(s.success_rate)}${ci})${rest}`;
}

function holdsLine(h: RunSummary['holds']): string {
  const faults =
    h.driver_faults > 0
      ? `${h.driver_faults} driver-fault holds (${h.driver_fault_ticks} ticks, longest ${h.longest_driver_fault_ms} ms)`
      : '0 driver-fault holds';
  return `${h.stops} stops, ${faults}, ${h.underrun_ticks} underrun ticks`;
}

function controlLine(c: RunSummary['control']): string {
  const j = c.jitter_ms;
  const cap = c.cpu_wake_latency_us !== null ? `, CPU wake-up capped at ${c.cpu_wake_latency_us} µs` : '';
  const jitter = j ? `jitter p50 ${j.p50} / p99 ${j.p99} / max ${j.max} ms` : 'jitter n/a (virtual clock)';
  const m = c.missed_ticks;
  const missed = m
    ? `, ${m.total} missed (${m.host_stall} host stall, ${m.cpu_contention} CPU contention, ${m.runtime} runtime)`
    : '';
  return `${c.ticks} ticks at ${c.hz} Hz, ${c.underruns} underruns, ${c.overruns} overruns${missed}, ${jitter}${cap}`;
}

function inferenceLine(i: RunSummary['inference']): string {
  const l = i.latency_ms;
  const failed = i.unmeasured_calls ? ` (${i.unmeasured_calls} without a usable chunk)` : '';
  const down = i.unavailable_calls ? `, ${i.unavailable_calls} found the policy unreachable` : '';
  const pipe =
    i.max_in_flight > 1 ? `, up to ${i.max_in_flight} in flight (${i.out_of_order_chunks} out of order)` : '';
  const stale = i.stale_observations_skipped ? `, ${i.stale_observations_skipped} stale observations skipped` : '';
  const model = i.latency_model ? ` (charged: --latency-model ${i.latency_model})` : '';
  const latency = `latency p50 ${l.p50} / p95 ${l.p95} / p99 ${l.p99} / max ${l.max} ms`;
  return `${i.calls} calls${failed}${down}${pipe}, ${latency}${stale}${model}`;
}

function bufferLine(b: RunSummary['buffer']): string {
  const stale = b.stale_actions_executed === null ? '' : `, ${b.stale_actions_executed} executed stale`;
  return (
    `${b.chunks} chunks, ${b.late_chunks} late, ${b.dropped_prefix_actions} stale actions dropped, ` +
    `seam jump ratio ${b.seam_jump_ratio}${stale}`
  );
}

function driverLine(d: RunSummary['driver']): string {
  const faults = Object.entries(d.faults)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return `${d.kind}${driverWhere(d)}${faults ? `: ${faults}` : ''}`;
}

function driverWhere(d: DriverHead): string {
  if (d.url) return ` ${d.url}`;
  if (d.ports)
    return ` ${Object.entries(d.ports)
      .map(([arm, path]) => `${arm}=${path}`)
      .join(',')}${d.sim_link ? ` (sim link ${d.sim_link})` : ''}`;
  return '';
}

/** The commands held at a workspace box's edge (only when there is one to speak of). */
const boxHolds = (n: number) => (n > 0 ? ` (${n} held at the workspace box)` : '');
