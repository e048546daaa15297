// Keep the CPUs quick to wake while a robot runs. An idle CPU drops into a sleep state that takes time
// to leave, and in a virtual machine an idle vCPU is handed back to the host; either way a serial reply
// or a WebSocket frame that arrives while the control thread waits is seen milliseconds late. Linux's
// PM QoS interface, /dev/cpu_dma_latency, caps that wake-up latency for as long as the file stays open
// (cyclictest does the same). bench/dynamixel-bench.ts measures a serial cycle with and without it.
// The price is power: CPUs poll instead of sleeping, so it is held only while a run lasts. Writing the
// file needs root (or a udev rule giving the user write access); without it the run goes on uncapped.
import { closeSync, constants, openSync, writeSync } from 'node:fs';

const PM_QOS_DEVICE = '/dev/cpu_dma_latency';

export interface CpuWakeLatencyHold {
  /** The cap in force (µs), or null when none could be set. */
  readonly held_us: number | null;
  /** Why no cap is held (for the log), when it is not. */
  readonly why_not: string | undefined;
  release(): void;
}

/** Ask for a wake-up latency of at most `max_us` until release() (or the process ends). */
export function holdCpuWakeLatency(max_us: number, device = PM_QOS_DEVICE): CpuWakeLatencyHold {
  if (!Number.isInteger(max_us) || max_us < 0)
    throw new RangeError(`CPU wake-up latency must be a whole number of µs >= 0, not ${max_us}`);
  if (process.platform !== 'linux') return notHeld(`${PM_QOS_DEVICE} is Linux only`);
  let fd: number;
  try {
    fd = openSync(device, constants.O_WRONLY); // never O_CREAT: a missing device is not a file to make
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === 'EACCES' || code === 'EPERM' ? ' (needs root, or a udev rule giving your user write access)' : '';
    return notHeld(`cannot open ${device}: ${code ?? (err as Error).message}${hint}`);
  }
  try {
    // the kernel takes a binary 32-bit value (or hex text); the cap lasts while the descriptor is open
    const value = Buffer.alloc(4);
    value.writeInt32LE(max_us);
    writeSync(fd, value);
  } catch (err) {
    closeSync(fd);
    return notHeld(`cannot write ${device}: ${(err as Error).message}`);
  }
  let open = true;
  return {
    held_us: max_us,
    why_not: undefined,
    release() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

function notHeld(why: string): CpuWakeLatencyHold {
  return { held_us: null, why_not: why, release() {} };
}

/** Parse a --cpu-wake-latency-us value: a whole number of µs, or 'off'. */
export function parseCpuWakeLatency(spec: string): number | null {
  if (spec === 'off') return null;
  const n = Number(spec);
  if (!/^\d+$/.test(spec) || !Number.isSafeInteger(n))
    throw new RangeError(`--cpu-wake-latency-us takes a whole number of µs or 'off', not '${spec}'`);
  return n;
}
