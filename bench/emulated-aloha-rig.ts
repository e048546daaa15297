// The ALOHA rig the serial benchmarks drive: the Dynamixel emulator in a child process on a pty pair per arm,
// and the real driver (defaults, shipped emulator calibration) connected to it.
import { loadavg } from 'node:os';
import { AlohaSerialDriver } from '../drivers/aloha/aloha-serial-driver.js';
import { type JointState, newJointState } from '../drivers/driver.js';
import type { BusCounters } from '../drivers/dynamixel/bus-options.js';
import type { AlohaSide } from '../protocols/aloha/motor-map.js';
import { emulatorCalibration } from '../sim/dynamixel/aloha-rig.js';
import { loadRobot } from '../src/robot/index.js';
import { holdCpuWakeLatency } from '../src/runtime/cpu-wake-latency.js';
import { quantile } from '../src/util/sample-ring.js';
import { type EmulatorExitReport, startEmulatorProcess } from './dynamixel-emulator-process.js';

export const CONTROL_HZ = 50;
export const PERIOD_MS = 1000 / CONTROL_HZ;

export interface StatsMs {
  p50: number;
  p99: number;
  max: number;
}

export const r3 = (x: number) => Math.round(x * 1000) / 1000;
export const stats = (xs: number[]): StatsMs => ({
  p50: r3(quantile(xs, 0.5)),
  p99: r3(quantile(xs, 0.99)),
  max: r3(xs.length ? Math.max(...xs) : 0),
});
export const loadavgNow = () => loadavg().map((x) => Math.round(x * 100) / 100);

/**
 * Start the emulator process, connect the driver with its defaults, run `body`, then tear both down.
 * `wake_us`: the CPU wake-up latency cap this process and the emulator hold meanwhile (null: none).
 */
export async function withEmulatedRig<T>(
  crc_error_rate: number,
  wake_us: number | null,
  body: (d: AlohaSerialDriver, start: JointState, ports: Record<AlohaSide, string>) => Promise<T>,
): Promise<{
  result: T;
  bus: Record<string, BusCounters>;
  emulator_counters: EmulatorExitReport;
  cpu_wake_latency_us: number | null;
}> {
  const wake = wake_us === null ? undefined : holdCpuWakeLatency(wake_us);
  try {
    const r = await runEmulatedRig(crc_error_rate, wake_us, body);
    return { ...r, cpu_wake_latency_us: wake?.held_us ?? null };
  } finally {
    wake?.release();
  }
}

async function runEmulatedRig<T>(
  crc_error_rate: number,
  wake_us: number | null,
  body: (d: AlohaSerialDriver, start: JointState, ports: Record<AlohaSide, string>) => Promise<T>,
): Promise<{ result: T; bus: Record<string, BusCounters>; emulator_counters: EmulatorExitReport }> {
  const emu = await startEmulatorProcess({ crc_error_rate, cpu_wake_latency_us: wake_us ?? 'off' });
  let out: { result: T; bus: Record<string, BusCounters> };
  try {
    const description = await loadRobot('aloha');
    const d = new AlohaSerialDriver({
      description,
      ports: emu.ports,
      calibration: { left: emulatorCalibration('left'), right: emulatorCalibration('right') },
    });
    try {
      await d.configure();
      const first = newJointState(description);
      if (d.read(first) !== 'ok') throw new Error(`the driver configured without a good first read: ${d.problem()}`);
      out = { result: await body(d, first, emu.ports), bus: d.busCounters() };
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
export async function cycle(d: AlohaSerialDriver, command: Float64Array | null): Promise<void> {
  d.write(command);
  await d.deactivate();
}

/** The 14-value action holding a state's pose: [left 6 joints, left gripper, right 6 joints, right gripper]. */
export function poseAction(s: JointState): Float64Array {
  const a = new Float64Array(14);
  a.set(s.position_rad.subarray(0, 6), 0);
  a[6] = s.gripper[0];
  a.set(s.position_rad.subarray(6, 12), 7);
  a[13] = s.gripper[1];
  return a;
}
