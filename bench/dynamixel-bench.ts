// Benchmarks of the ALOHA serial path (issue 6): the real driver (AlohaSerialDriver -> AlohaArm ->
// DynamixelBus -> serialport) against the Dynamixel emulator in a child process, over ptys at 1 Mbps.
//  cycle: one read+write cycle of both arms (per arm one SYNC_WRITE of 7 goals, one SYNC_READ of 9
//    positions; the arms in parallel), back to back, p50/p99/max;
//  soak: a 50 Hz loop for soak_s seconds with 1% of the replies CRC-corrupted, goals on a slow sinusoid
//    around the start pose; a tick is missed when its cycle did not finish before the next deadline or
//    failed after its retries. Held, like vla-run holds it on a live run, with the CPU wake-up latency
//    capped at 0 (src/runtime/cpu-wake-latency.ts); the cycle is measured both ways, side by side.
// The driver runs with its defaults (bus timeout and retries), as vla-run uses it.
import { cpus } from 'node:os';
import type { BusCounters } from '../drivers/dynamixel/bus-options.js';
import { DEFAULT_BUS_RETRIES, DEFAULT_BUS_TIMEOUT_MS } from '../drivers/dynamixel/bus-options.js';
import { monotonicMs } from '../src/util/clock.js';
import type { EmulatorExitReport } from './dynamixel-emulator-process.js';
import { benchmarkSoak, type DynamixelSoakResult, SOAK_CRC_ERROR_RATE } from './dynamixel-soak.js';
import {
  cycle,
  loadavgNow,
  PERIOD_MS,
  poseAction,
  type StatsMs,
  stats,
  withEmulatedRig,
} from './emulated-aloha-rig.js';

const WARMUP_CYCLES = 50;

export interface DynamixelBenchOptions {
  soak_s: number;
  cycles: number;
  log?: (msg: string) => void;
}

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

export async function dynamixelBench(opts: DynamixelBenchOptions): Promise<DynamixelBenchResult> {
  const log = opts.log ?? (() => {});
  const before = loadavgNow();
  log(`dynamixel: ${opts.cycles} read+write cycles of both arms, load average ${before.join(' ')}`);
  const cycle_uncapped = await benchmarkCycle(opts.cycles, null);
  log(`dynamixel: uncapped cycle p50 ${cycle_uncapped.cycle_ms.p50} ms, p99 ${cycle_uncapped.cycle_ms.p99} ms`);
  const cycle = await benchmarkCycle(opts.cycles, 0);
  log(
    `dynamixel: cycle (CPU wake-up capped at ${cycle.cpu_wake_latency_us ?? '- (not held)'} µs) p50 ` +
      `${cycle.cycle_ms.p50} ms, p99 ${cycle.cycle_ms.p99} ms; soak ${opts.soak_s} s at 50 Hz, ` +
      `${SOAK_CRC_ERROR_RATE * 100}% CRC errors`,
  );
  const soak = await benchmarkSoak(opts.soak_s, log);
  log(
    `dynamixel: soak ${soak.ticks} ticks, ${soak.missed_ticks} missed, ${soak.crc_errors} CRC errors, ` +
      `${soak.retries} retries, ${soak.timeouts} timeouts`,
  );
  return {
    emulator: 'child process',
    link: 'pty pair per arm, 1 Mbps (a pty does not pace bytes at the baud rate)',
    driver_defaults: { timeout_ms: DEFAULT_BUS_TIMEOUT_MS, retries: DEFAULT_BUS_RETRIES },
    machine: { cpus: cpus().length, loadavg_1_5_15_before: before, loadavg_1_5_15_after: loadavgNow() },
    cycle_uncapped,
    cycle,
    cycle_p99_ratio_uncapped_to_capped: Math.round((cycle_uncapped.cycle_ms.p99 / cycle.cycle_ms.p99) * 100) / 100,
    soak,
    targets: {
      'soak.missed_ticks': '0 (issue 6: 5 minutes at 50 Hz with 1% CRC errors)',
      'cycle.cycle_ms.p99': `< ${PERIOD_MS} (one control period)`,
    },
  };
}

async function benchmarkCycle(cycles: number, wake_us: number | null): Promise<DynamixelCycleResult> {
  const { result, bus, emulator_counters, cpu_wake_latency_us } = await withEmulatedRig(
    0,
    wake_us,
    async (d, start) => {
      const action = poseAction(start);
      const times: number[] = [];
      for (let k = 0; k < cycles + WARMUP_CYCLES; k++) {
        const t0 = monotonicMs();
        await cycle(d, action);
        if (k >= WARMUP_CYCLES) times.push(monotonicMs() - t0);
      }
      return times;
    },
  );
  return {
    cycles,
    warmup_cycles_excluded: WARMUP_CYCLES,
    pacing: 'back to back (the soak has the same cycle paced at 50 Hz)',
    cycle_ms: stats(result),
    cpu_wake_latency_us,
    bus,
    emulator_counters,
  };
}
