// The ALOHA serial soak: a 50 Hz loop with 1% of the replies CRC-corrupted, goals on a slow sinusoid around the
// start pose; every missed deadline is counted and the first ones kept with their cause.
import { newJointState } from '../drivers/driver.js';
import type { BusCounters } from '../drivers/dynamixel/bus-options.js';
import { monotonicMs } from '../src/util/clock.js';
import { waitUntil } from './deadline-wait.js';
import type { EmulatorExitReport } from './dynamixel-emulator-process.js';
import {
  CONTROL_HZ,
  cycle,
  loadavgNow,
  PERIOD_MS,
  poseAction,
  r3,
  type StatsMs,
  stats,
  withEmulatedRig,
} from './emulated-aloha-rig.js';

export const SOAK_CRC_ERROR_RATE = 0.01;
const SINE_AMPLITUDE_RAD = 0.08;
const SINE_PERIOD_S = 5;
const GRIPPER_AMPLITUDE = 0.15;
const MISSED_EXAMPLES = 20;

export type MissCause = 'loop_started_late' | 'reply_timeout' | 'crc_retry' | 'slow_cycle';

export interface MissedTick {
  tick: number;
  cause: MissCause;
  start_late_ms: number;
  cycle_ms: number;
  failed: boolean;
  retries: number;
  timeouts: number;
  crc_errors: number;
}

export interface DynamixelSoakResult {
  seconds: number;
  control_hz: number;
  crc_error_rate: number;
  /** The PM QoS cap held during the soak, as vla-run holds it on a live run (µs; null: none could be). */
  cpu_wake_latency_us: number | null;
  /** Control deadlines in the soak. */
  ticks: number;
  /** Deadlines whose cycle did not complete before the next deadline, failed, or never ran (skipped). */
  missed_ticks: number;
  /** The first cause of each late or failed cycle (skipped deadlines follow one of them). */
  missed_by_cause: Record<MissCause, number>;
  cycles_run: number;
  /** Cycles that finished after the next deadline. */
  overrun_ticks: number;
  /**
   * Cycles after which no state came back (a read failed after its retries, or was abandoned at the end of its tick).
   */
  failed_cycles: number;
  /** Of those, cycles abandoned at the end of their tick (the driver's late_ticks): never overrunning the next tick. */
  late_ticks: number;
  /** Deadlines at which no cycle could start because the previous one was still running. */
  skipped_deadlines: number;
  crc_errors: number;
  retries: number;
  timeouts: number;
  stale_replies: number;
  io_faults: number;
  cycle_ms: StatsMs;
  /** How late the loop started each cycle (timer + spin); large values mean this process was descheduled. */
  start_late_ms: StatsMs;
  motion: {
    commanded_amplitude_rad: number;
    period_s: number;
    measured_peak_to_peak_rad: { min: number; max: number };
  };
  missed_examples: MissedTick[];
  bus: Record<string, BusCounters>;
  emulator_counters: EmulatorExitReport;
}

/** Goals on a slow sinusoid around the start pose, each joint with its own phase so all of them move. */
function sinusoidAction(start: Float64Array, t_s: number, out: Float64Array): Float64Array {
  for (let i = 0; i < 14; i++) {
    const phase = 2 * Math.PI * (t_s / SINE_PERIOD_S + i / 14);
    const isGripper = i === 6 || i === 13;
    out[i] = isGripper
      ? Math.min(1, Math.max(0, start[i] + GRIPPER_AMPLITUDE * Math.sin(phase)))
      : start[i] + SINE_AMPLITUDE_RAD * Math.sin(phase);
  }
  return out;
}

const sumCounters = (all: Record<string, BusCounters>) =>
  Object.values(all).reduce(
    (s, c) => ({
      retries: s.retries + c.retries,
      timeouts: s.timeouts + c.timeouts,
      crc_errors: s.crc_errors + c.crc_errors,
      stale_replies: s.stale_replies + c.stale_replies,
    }),
    { retries: 0, timeouts: 0, crc_errors: 0, stale_replies: 0 },
  );

export async function benchmarkSoak(seconds: number, log: (m: string) => void): Promise<DynamixelSoakResult> {
  const { result, bus, emulator_counters, cpu_wake_latency_us } = await withEmulatedRig(
    SOAK_CRC_ERROR_RATE,
    0,
    async (d, start) => {
      const lo = new Float64Array(12).fill(Infinity),
        hi = new Float64Array(12).fill(-Infinity);
      const s = newJointState(d.description);
      let measured = start.t_mono_ms;
      const base = poseAction(start),
        action = new Float64Array(14);
      const cycle_ms: number[] = [],
        start_late_ms: number[] = [],
        missed: MissedTick[] = [];
      let ticks = 0,
        overrun = 0,
        failed_cycles = 0,
        skipped = 0,
        missed_ticks = 0;
      const by_cause: Record<MissCause, number> = {
        loop_started_late: 0,
        reply_timeout: 0,
        crc_retry: 0,
        slow_cycle: 0,
      };
      const t0 = monotonicMs() + PERIOD_MS;
      const total = Math.round(seconds * CONTROL_HZ);
      let nextProgress = t0 + 30_000;
      for (let k = 0; k < total; ) {
        const deadline = t0 + k * PERIOD_MS;
        await waitUntil(deadline);
        const began = monotonicMs();
        const countersBefore = sumCounters(d.busCounters());
        await cycle(d, sinusoidAction(base, k / CONTROL_HZ, action));
        const done = monotonicMs();
        ticks++;
        cycle_ms.push(done - began);
        start_late_ms.push(began - deadline);
        d.read(s);
        const failed = s.t_mono_ms === measured; // no new state: a read failed after its retries (or was late)
        measured = s.t_mono_ms;
        if (!failed)
          for (let j = 0; j < 12; j++) {
            lo[j] = Math.min(lo[j], s.position_rad[j]);
            hi[j] = Math.max(hi[j], s.position_rad[j]);
          }
        const late = done > deadline + PERIOD_MS;
        if (failed) failed_cycles++;
        if (late) overrun++;
        if (failed || late) {
          missed_ticks++;
          const c = sumCounters(d.busCounters());
          const m = {
            tick: k,
            start_late_ms: r3(began - deadline),
            cycle_ms: r3(done - began),
            failed,
            retries: c.retries - countersBefore.retries,
            timeouts: c.timeouts - countersBefore.timeouts,
            crc_errors: c.crc_errors - countersBefore.crc_errors,
          };
          const cause = missCause(m);
          by_cause[cause]++;
          if (missed.length < MISSED_EXAMPLES) missed.push({ ...m, cause });
        }
        // the next deadline still ahead; the ones that passed while this cycle ran get no cycle: missed too
        k++;
        while (k < total && t0 + k * PERIOD_MS < done) {
          k++;
          skipped++;
          missed_ticks++;
        }
        if (done > nextProgress) {
          nextProgress += 30_000;
          log(
            `dynamixel soak: ${((done - t0) / 1000).toFixed(0)} s, ${ticks} ticks, ${missed_ticks} missed, load ` +
              `${loadavgNow().join(' ')}`,
          );
        }
      }
      const io_faults = d.io_faults;
      const p2p = Array.from(hi, (h, j) => h - lo[j]);
      return {
        ticks,
        total,
        overrun,
        failed_cycles,
        late_ticks: d.late_ticks,
        skipped,
        missed_ticks,
        by_cause,
        io_faults,
        missed,
        cycle_ms: stats(cycle_ms),
        start_late_ms: stats(start_late_ms),
        p2p: { min: r3(Math.min(...p2p)), max: r3(Math.max(...p2p)) },
      };
    },
  );
  const c = sumCounters(bus);
  return {
    seconds,
    control_hz: CONTROL_HZ,
    crc_error_rate: SOAK_CRC_ERROR_RATE,
    cpu_wake_latency_us,
    ticks: result.total,
    missed_ticks: result.missed_ticks,
    missed_by_cause: result.by_cause,
    cycles_run: result.ticks,
    overrun_ticks: result.overrun,
    failed_cycles: result.failed_cycles,
    late_ticks: result.late_ticks,
    skipped_deadlines: result.skipped,
    crc_errors: c.crc_errors,
    retries: c.retries,
    timeouts: c.timeouts,
    stale_replies: c.stale_replies,
    io_faults: result.io_faults,
    cycle_ms: result.cycle_ms,
    start_late_ms: result.start_late_ms,
    motion: {
      commanded_amplitude_rad: SINE_AMPLITUDE_RAD,
      period_s: SINE_PERIOD_S,
      measured_peak_to_peak_rad: result.p2p,
    },
    missed_examples: result.missed,
    bus,
    emulator_counters,
  };
}

/**
 * Why a cycle was late or failed, first cause first: this process woke late (it was descheduled), a reply
 * timed out (no reply is dropped in the soak, so a timeout is a late reply from the emulator process or
 * socat), a corrupted reply was retried, or none of these (the process stalled during the cycle).
 */
function missCause(m: { start_late_ms: number; timeouts: number; crc_errors: number }): MissCause {
  if (m.start_late_ms > PERIOD_MS / 4) return 'loop_started_late';
  if (m.timeouts > 0) return 'reply_timeout';
  if (m.crc_errors > 0) return 'crc_retry';
  return 'slow_cycle';
}
