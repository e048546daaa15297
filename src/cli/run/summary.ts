// The end-of-run summary: one object, printed for people or (with --json) as exactly one JSON line.
import { seamJumpRatio } from '../../runtime/control/ticker.js';
import type { EpisodeOutcome, RuntimeReport } from '../../runtime/runtime-types.js';
import { quantile } from '../../util/sample-ring.js';
import { wilson } from '../../util/stats.js';
import type { CameraUse } from '../../world/local-cameras.js';

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
  sim: boolean;
  task: string | null;
  policy: string;
  clock: 'realtime' | 'fast';
  blend: string;
  delay: string;
  episodes: number;
  successes: number;
  success_rate: number;
  /** Wilson 95% interval of the success rate. */
  success_ci95: [number, number];
  /** cpu_wake_latency_us: the PM QoS cap held during the run (µs), null when none was (see cpu-wake-latency.ts). */
  control: {
    hz: number;
    ticks: number;
    underruns: number;
    overruns: number;
    jitter_ms: { p50: number; p99: number; max: number };
    cpu_wake_latency_us: number | null;
  };
  /** latency_model: with --clock fast, the --latency-model value that repeats this run exactly. */
  inference: {
    calls: number;
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
  safety: { clamped_actions: number; rejected_chunks: number; holds: number };
  /**
   * The driver and its faults: each stretch of stale state, lost connection or stopped program held the
   * robot once (holds), for fault_hold_ticks ticks in all; faults are the driver's own counters
   * (ALOHA: I/O failures, hardware alerts, late commands, and per arm the bus's retries, timeouts, CRC
   * errors and stale replies).
   */
  driver: DriverHead & {
    holds: number;
    holds_by_health: Record<string, number>;
    longest_hold_ms: number;
    fault_hold_ticks: number;
    faults: Record<string, number>;
  };
  /** Cameras on the robot host (--camera): their source, frames handed to the policy, oldest age. */
  cameras?: Record<string, CameraUse>;
  fault: string | null;
  episodes_detail: EpisodeOutcome[];
}

export function buildSummary(
  head: Pick<RunSummary, 'robot' | 'sim' | 'task' | 'policy' | 'clock' | 'blend' | 'delay'>,
  r: RuntimeReport,
  episodes: EpisodeOutcome[],
  driver: DriverHead = { kind: 'sim' },
  cpu_wake_latency_us: number | null = null,
  cameras?: Record<string, CameraUse>,
  stale_actions_executed: number | null = null,
): RunSummary {
  const successes = episodes.filter((e) => e.success).length;
  const lat = r.latency.summary();
  const c = r.control;
  const jitter = Float64Array.from(r.jitter_ms, Math.abs);
  const ms = (x: number) => Math.round(x * 1000) / 1000;
  return {
    ...head,
    episodes: episodes.length,
    successes,
    success_rate: episodes.length ? successes / episodes.length : 0,
    success_ci95: wilson(successes, episodes.length).map((x) => Math.round(x * 1000) / 1000) as [number, number],
    control: {
      hz: r.hz,
      ticks: c.ticks,
      underruns: c.underruns,
      overruns: r.overruns,
      jitter_ms: {
        p50: ms(quantile(jitter, 0.5)),
        p99: ms(quantile(jitter, 0.99)),
        max: ms(jitter.reduce((m, x) => Math.max(m, x), 0)),
      },
      cpu_wake_latency_us,
    },
    inference: {
      calls: lat.calls,
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
    safety: { ...r.safety },
    driver: {
      ...driver,
      holds: r.driver.holds,
      holds_by_health: r.driver.holds_by_health,
      longest_hold_ms: r.driver.longest_hold_ms,
      fault_hold_ticks: c.fault_hold_ticks,
      faults: r.driver.counters,
    },
    ...(cameras ? { cameras } : {}),
    fault: episodes.find((e) => e.fault)?.fault ?? null,
    episodes_detail: episodes,
  };
}

export function formatSummary(s: RunSummary): string {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const ci = s.episodes > 1 ? `, 95% CI ${pct(s.success_ci95[0])}-${pct(s.success_ci95[1])}` : '';
  const lines = [
    `${s.robot}${s.sim ? ' (sim)' : ''}${s.task ? ` ${s.task}` : ''}, policy ${s.policy}, ${s.clock} clock, ` +
      `blend ${s.blend}, delay ${s.delay}`,
    `  episodes   ${s.successes}/${s.episodes} succeeded (${pct(s.success_rate)}${ci})`,
    `  control    ${controlLine(s.control)}`,
    `  inference  ${inferenceLine(s.inference)}`,
    `  buffer     ${bufferLine(s.buffer)}`,
    `  safety     ${s.safety.clamped_actions} clamped, ${s.safety.rejected_chunks} chunks rejected, ` +
      `${s.safety.holds} holds`,
  ];
  if (s.driver.kind !== 'sim') lines.push(`  driver     ${driverLine(s.driver)}`);
  for (const [name, c] of Object.entries(s.cameras ?? {})) {
    lines.push(`  camera     ${name} from ${c.source}: ${c.frames_served} frames served, oldest ${c.max_age_ms} ms`);
  }
  if (s.fault) lines.push(`  FAULT      ${s.fault}`);
  return `${lines.join('\n')}\n`;
}

function controlLine(c: RunSummary['control']): string {
  const j = c.jitter_ms;
  const cap = c.cpu_wake_latency_us !== null ? `, CPU wake-up capped at ${c.cpu_wake_latency_us} µs` : '';
  return (
    `${c.ticks} ticks at ${c.hz} Hz, ${c.underruns} underruns, ${c.overruns} overruns, ` +
    `jitter p50 ${j.p50} / p99 ${j.p99} / max ${j.max} ms${cap}`
  );
}

function inferenceLine(i: RunSummary['inference']): string {
  const l = i.latency_ms;
  const stale = i.stale_observations_skipped ? `, ${i.stale_observations_skipped} stale observations skipped` : '';
  const model = i.latency_model ? ` (charged: --latency-model ${i.latency_model})` : '';
  return `${i.calls} calls, latency p50 ${l.p50} / p95 ${l.p95} / p99 ${l.p99} / max ${l.max} ms${stale}${model}`;
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
  return (
    `${d.kind}${driverWhere(d)}: ${d.holds} fault holds ` +
    `(${d.fault_hold_ticks} ticks, longest ${d.longest_hold_ms} ms)` +
    `${faults ? `, ${faults}` : ''}`
  );
}

function driverWhere(d: DriverHead): string {
  if (d.url) return ` ${d.url}`;
  if (d.ports)
    return ` ${Object.entries(d.ports)
      .map(([arm, path]) => `${arm}=${path}`)
      .join(',')}${d.sim_link ? ` (sim link ${d.sim_link})` : ''}`;
  return '';
}
