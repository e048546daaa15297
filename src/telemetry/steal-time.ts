// What the kernel says about CPU time we wanted and did not get. The host's steal time: how long the
// hypervisor ran something else while our virtual CPUs wanted to run (the 8th number of /proc/stat's "cpu"
// line, in USER_HZ ticks, summed over CPUs). A thread's run-queue wait: how long it was ready to run but
// waited for a CPU (the 2nd number of /proc/self/task/TID/schedstat, ns). A rise in either during a late
// tick says the machine, not the runtime's code, made it late.
import { closeSync, openSync, readFileSync, readlinkSync, readSync } from 'node:fs';

/** USER_HZ: Linux reports /proc/stat in 1/100 s on every architecture that matters here. */
const USER_HZ = 100;
/** Index of steal among the numbers after "cpu". */
const STEAL_FIELD = 7;

/** Steal time in ms from the text of /proc/stat; undefined when the line or the field is missing. */
export function parseStealMs(procStat: string): number | undefined {
  const line = procStat.split('\n', 1)[0] ?? '';
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== 'cpu') return undefined;
  const steal = Number(fields[1 + STEAL_FIELD]);
  return Number.isFinite(steal) ? (steal * 1000) / USER_HZ : undefined;
}

/** The host's cumulative steal time now (ms), or undefined where it cannot be read (not Linux). */
export function readStealMs(): number | undefined {
  try {
    return parseStealMs(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** The id of the calling thread (Linux: /proc/thread-self -> PID/task/TID); undefined elsewhere. */
export function currentThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long thread `tid` of this process has waited on a run queue in all (ms). The file stays open and is
 * re-read from its start (one pread, no allocation): the watchdog reads it a hundred times a second.
 */
export class RunQueueWait {
  private fd: number | undefined;
  private readonly buf = Buffer.alloc(128);

  constructor(tid: number) {
    try {
      this.fd = openSync(`/proc/self/task/${tid}/schedstat`, 'r');
    } catch {
      this.fd = undefined; // not Linux, or the thread is gone: no evidence of contention
    }
  }

  /** The cumulative wait (ms), undefined if it cannot be read. */
  read(): number | undefined {
    if (this.fd === undefined) return undefined;
    try {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
      // "<on-cpu ns> <waiting ns> <timeslices>\n": the second number
      const text = this.buf.toString('latin1', 0, n);
      const wait_ns = Number(text.split(' ')[1]);
      return Number.isFinite(wait_ns) ? wait_ns / 1e6 : undefined;
    } catch {
      return undefined;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** How long thread `tid` of this process has waited on a run queue in all (ms); undefined if unknown. */
export function runQueueWaitMs(tid: number): number | undefined {
  const r = new RunQueueWait(tid);
  const ms = r.read();
  r.close();
  return ms;
}
