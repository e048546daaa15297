// Benchmarks of the ALOHA serial path (issue 6): the real driver (AlohaSerialDriver -> AlohaArm ->
// DynamixelBus -> serialport) against the Dynamixel emulator in a child process, over ptys at 1 Mbps.
//  cycle: one read+write cycle of both arms (per arm one SYNC_WRITE of 7 goals, one SYNC_READ of 9
//    positions; the arms in parallel), back to back, p50/p99/max;
//  soak: a 50 Hz loop for soak_s seconds with 1% of the replies CRC-corrupted, goals on a slow sinusoid
//    around the start pose; a tick is missed when its cycle did not finish before the next deadline or
//    failed after its retries. Held, like vla-run holds it on a live run, with the CPU wake-up latency
//    capped at 0 (src/runtime/cpu-wake-latency.ts); the cycle is measured both ways, side by side.
// The driver runs with its defaults (bus timeout and retries), as vla-run uses it.
import { cpus, loadavg } from 'node:os';
import { AlohaSerialDriver } from '../drivers/aloha/aloha-serial-driver.js';
import { DEFAULT_BUS_RETRIES, DEFAULT_BUS_TIMEOUT_MS, type BusCounters } from '../drivers/dynamixel/bus.js';
import { newJointState, type JointState } from '../drivers/driver.js';
import { emulatorCalibration } from '../sim/dynamixel/aloha-rig.js';
import { loadRobot } from '../src/robot/index.js';
import { quantile } from '../src/util/sample-ring.js';
import { monotonicMs } from '../src/util/clock.js';
import { startEmulatorProcess, type EmulatorExitReport } from './dynamixel-emulator-process.js';
import { waitUntil } from './deadline-wait.js';
import { holdCpuWakeLatency } from '../src/runtime/cpu-wake-latency.js';

export interface DynamixelBenchOptions {
  soak_s: number;
  cycles: number;
  log?: (msg: string) => void;
}

interface StatsMs { p50: number; p99: number; max: number }

export interface DynamixelCycleResult {
  cycles: number;
  warmup_cycles_excluded: number;
  pacing: string;
  cycle_ms: StatsMs;
  /** The PM QoS cap both processes held (µs; null: none, the CPUs could sleep between replies). */
  cpu_wake_latency_us: number | null;
  bus: Record<string, BusCounters>;
  emulator_counters: EmulatorExitReport;
}

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
  /** Cycles after which no state came back (a read failed after its retries, or was abandoned at the end of its tick). */
  failed_cycles: number;
  /** Of those, cycles abandoned at the end of their tick (the driver's late_ticks): bounded, never overrunning the next tick. */
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
  motion: { commanded_amplitude_rad: number; period_s: number; measured_peak_to_peak_rad: { min: number; max: number } };
  missed_examples: MissedTick[];
  bus: Record<string, BusCounters>;
  emulator_counters: EmulatorExitReport;
}

export interface DynamixelBenchResult {
  emulator: 'child process';
  link: string;
  driver_defaults: { timeout_ms: number; retries: number };
  machine: { cpus: number; loadavg_1_5_15_before: number[]; loadavg_1_5_15_after: number[] };
  /** The same cycles, side by side: CPUs free to sleep between replies, then with wake-up latency capped at 0. */
  cycle_uncapped: DynamixelCycleResult;
  cycle: DynamixelCycleResult;
  /** cycle_uncapped.cycle_ms.p99 / cycle.cycle_ms.p99. */
  cycle_p99_ratio_uncapped_to_capped: number;
  soak: DynamixelSoakResult;
  targets: Record<string, string>;
}

const CONTROL_HZ = 50;
const PERIOD_MS = 1000 / CONTROL_HZ;
const WARMUP_CYCLES = 50;
const SOAK_CRC_ERROR_RATE = 0.01;
const SINE_AMPLITUDE_RAD = 0.08;
const SINE_PERIOD_S = 5;
const GRIPPER_AMPLITUDE = 0.15;
const MISSED_EXAMPLES = 20;

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const stats = (xs: number[]): StatsMs => ({ p50: r3(quantile(xs, 0.5)), p99: r3(quantile(xs, 0.99)), max: r3(xs.length ? Math.max(...xs) : 0) });
const loadavgNow = () => loadavg().map((x) => Math.round(x * 100) / 100);

export async function dynamixelBench(opts: DynamixelBenchOptions): Promise<DynamixelBenchResult> {
  const log = opts.log ?? (() => {});
  const before = loadavgNow();
  log(`dynamixel: ${opts.cycles} read+write cycles of both arms, load average ${before.join(' ')}`);
  const cycle_uncapped = await benchmarkCycle(opts.cycles, null);
  log(`dynamixel: uncapped cycle p50 ${cycle_uncapped.cycle_ms.p50} ms, p99 ${cycle_uncapped.cycle_ms.p99} ms`);
  const cycle = await benchmarkCycle(opts.cycles, 0);
  log(`dynamixel: cycle (CPU wake-up capped at ${cycle.cpu_wake_latency_us ?? '- (not held)'} µs) p50 ${cycle.cycle_ms.p50} ms, p99 ${cycle.cycle_ms.p99} ms; soak ${opts.soak_s} s at 50 Hz, ${SOAK_CRC_ERROR_RATE * 100}% CRC errors`);
  const soak = await benchmarkSoak(opts.soak_s, log);
  log(`dynamixel: soak ${soak.ticks} ticks, ${soak.missed_ticks} missed, ${soak.crc_errors} CRC errors, ${soak.retries} retries, ${soak.timeouts} timeouts`);
  return {
    emulator: 'child process',
    link: 'socat pty pair per arm, 1 Mbps (a pty does not pace bytes at the baud rate)',
    driver_defaults: { timeout_ms: DEFAULT_BUS_TIMEOUT_MS, retries: DEFAULT_BUS_RETRIES },
    machine: { cpus: cpus().length, loadavg_1_5_15_before: before, loadavg_1_5_15_after: loadavgNow() },
    cycle_uncapped,
    cycle,
    cycle_p99_ratio_uncapped_to_capped: Math.round((cycle_uncapped.cycle_ms.p99 / cycle.cycle_ms.p99) * 100) / 100,
    soak,
    targets: { 'soak.missed_ticks': '0 (issue 6: 5 minutes at 50 Hz with 1% CRC errors)', 'cycle.cycle_ms.p99': `< ${PERIOD_MS} (one control period)` },
  };
}

/**
 * Start the emulator process, connect the driver with its defaults, run `body`, then tear both down.
 * `wake_us`: the CPU wake-up latency cap this process and the emulator hold meanwhile (null: none).
 */
async function withEmulatedRig<T>(crc_error_rate: number, wake_us: number | null, body: (d: AlohaSerialDriver, start: JointState) => Promise<T>):
  Promise<{ result: T; bus: Record<string, BusCounters>; emulator_counters: EmulatorExitReport; cpu_wake_latency_us: number | null }> {
  const wake = wake_us === null ? undefined : holdCpuWakeLatency(wake_us);
  try {
    const r = await runEmulatedRig(crc_error_rate, wake_us, body);
    return { ...r, cpu_wake_latency_us: wake?.held_us ?? null };
  } finally {
    wake?.release();
  }
}

async function runEmulatedRig<T>(crc_error_rate: number, wake_us: number | null, body: (d: AlohaSerialDriver, start: JointState) => Promise<T>):
  Promise<{ result: T; bus: Record<string, BusCounters>; emulator_counters: EmulatorExitReport }> {
  const emu = await startEmulatorProcess({ crc_error_rate, cpu_wake_latency_us: wake_us ?? 'off' });
  let out: { result: T; bus: Record<string, BusCounters> };
  try {
    const description = await loadRobot('aloha');
    const d = new AlohaSerialDriver({ description, ports: emu.ports, calibration: { left: emulatorCalibration('left'), right: emulatorCalibration('right') } });
    try {
      await d.configure();
      const first = newJointState(description);
      if (d.read(first) !== 'ok') throw new Error(`the driver configured without a good first read: ${d.problem()}`);
      out = { result: await body(d, first), bus: d.busCounters() };
    } finally {
      await d.close();
    }
  } catch (err) {
    await emu.stop();
    throw err;
  }
  return { ...out, emulator_counters: await emu.stop() };
}

/** One tick's cycle, awaited: the goals (or none), then the read of both arms. */
async function cycle(d: AlohaSerialDriver, command: Float64Array | null): Promise<void> {
  d.write(command);
  await d.deactivate();
}

/** The 14-value action holding a state's pose: [left 6 joints, left gripper, right 6 joints, right gripper]. */
function poseAction(s: JointState): Float64Array {
  const a = new Float64Array(14);
  a.set(s.position_rad.subarray(0, 6), 0);
  a[6] = s.gripper[0];
  a.set(s.position_rad.subarray(6, 12), 7);
  a[13] = s.gripper[1];
  return a;
}

async function benchmarkCycle(cycles: number, wake_us: number | null): Promise<DynamixelCycleResult> {
  const { result, bus, emulator_counters, cpu_wake_latency_us } = await withEmulatedRig(0, wake_us, async (d, start) => {
    const action = poseAction(start);
    const times: number[] = [];
    for (let k = 0; k < cycles + WARMUP_CYCLES; k++) {
      const t0 = monotonicMs();
      await cycle(d, action);
      if (k >= WARMUP_CYCLES) times.push(monotonicMs() - t0);
    }
    return times;
  });
  return {
    cycles, warmup_cycles_excluded: WARMUP_CYCLES,
    pacing: 'back to back (the soak has the same cycle paced at 50 Hz)',
    cycle_ms: stats(result), cpu_wake_latency_us, bus, emulator_counters,
  };
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

const sumCounters = (all: Record<string, BusCounters>) => Object.values(all).reduce(
  (s, c) => ({ retries: s.retries + c.retries, timeouts: s.timeouts + c.timeouts, crc_errors: s.crc_errors + c.crc_errors, stale_replies: s.stale_replies + c.stale_replies }),
  { retries: 0, timeouts: 0, crc_errors: 0, stale_replies: 0 });

async function benchmarkSoak(seconds: number, log: (m: string) => void): Promise<DynamixelSoakResult> {
  const { result, bus, emulator_counters, cpu_wake_latency_us } = await withEmulatedRig(SOAK_CRC_ERROR_RATE, 0, async (d, start) => {
    const lo = new Float64Array(12).fill(Infinity), hi = new Float64Array(12).fill(-Infinity);
    const s = newJointState(d.description);
    let measured = start.t_mono_ms;
    const base = poseAction(start), action = new Float64Array(14);
    const cycle_ms: number[] = [], start_late_ms: number[] = [], missed: MissedTick[] = [];
    let ticks = 0, overrun = 0, failed_cycles = 0, skipped = 0, missed_ticks = 0;
    const by_cause: Record<MissCause, number> = { loop_started_late: 0, reply_timeout: 0, crc_retry: 0, slow_cycle: 0 };
    const t0 = monotonicMs() + PERIOD_MS;
    const total = Math.round(seconds * CONTROL_HZ);
    let nextProgress = t0 + 30_000;
    for (let k = 0; k < total;) {
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
      if (!failed) for (let j = 0; j < 12; j++) { lo[j] = Math.min(lo[j], s.position_rad[j]); hi[j] = Math.max(hi[j], s.position_rad[j]); }
      const late = done > deadline + PERIOD_MS;
      if (failed) failed_cycles++;
      if (late) overrun++;
      if (failed || late) {
        missed_ticks++;
        const c = sumCounters(d.busCounters());
        const m = {
          tick: k, start_late_ms: r3(began - deadline), cycle_ms: r3(done - began), failed,
          retries: c.retries - countersBefore.retries, timeouts: c.timeouts - countersBefore.timeouts, crc_errors: c.crc_errors - countersBefore.crc_errors,
        };
        const cause = missCause(m);
        by_cause[cause]++;
        if (missed.length < MISSED_EXAMPLES) missed.push({ ...m, cause });
      }
      // the next deadline still ahead; the ones that passed while this cycle ran get no cycle: missed too
      k++;
      while (k < total && t0 + k * PERIOD_MS < done) { k++; skipped++; missed_ticks++; }
      if (done > nextProgress) {
        nextProgress += 30_000;
        log(`dynamixel soak: ${((done - t0) / 1000).toFixed(0)} s, ${ticks} ticks, ${missed_ticks} missed, load ${loadavgNow().join(' ')}`);
      }
    }
    const io_faults = d.io_faults;
    const p2p = Array.from(hi, (h, j) => h - lo[j]);
    return {
      ticks, total, overrun, failed_cycles, late_ticks: d.late_ticks, skipped, missed_ticks, by_cause, io_faults, missed,
      cycle_ms: stats(cycle_ms), start_late_ms: stats(start_late_ms),
      p2p: { min: r3(Math.min(...p2p)), max: r3(Math.max(...p2p)) },
    };
  });
  const c = sumCounters(bus);
  return {
    seconds, control_hz: CONTROL_HZ, crc_error_rate: SOAK_CRC_ERROR_RATE, cpu_wake_latency_us,
    ticks: result.total, missed_ticks: result.missed_ticks, missed_by_cause: result.by_cause, cycles_run: result.ticks, overrun_ticks: result.overrun, failed_cycles: result.failed_cycles, late_ticks: result.late_ticks,
    skipped_deadlines: result.skipped, crc_errors: c.crc_errors, retries: c.retries, timeouts: c.timeouts, stale_replies: c.stale_replies,
    io_faults: result.io_faults, cycle_ms: result.cycle_ms, start_late_ms: result.start_late_ms,
    motion: { commanded_amplitude_rad: SINE_AMPLITUDE_RAD, period_s: SINE_PERIOD_S, measured_peak_to_peak_rad: result.p2p },
    missed_examples: result.missed, bus, emulator_counters,
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
