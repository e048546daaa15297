// What the kernel says about CPU time we wanted and did not get. The host's steal time: how long the
// hypervisor ran something else while our virtual CPUs wanted to run (the 8th number of /proc/stat's "cpu"
// line, in USER_HZ ticks, summed over CPUs). A thread's run-queue wait: how long it was ready to run but
// waited for a CPU (the 2nd number of /proc/self/task/TID/schedstat, ns). A rise in either during a late
// tick says the machine, not the runtime's code, made it late.
import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';

/** USER_HZ: Linux reports /proc/stat in 1/100 s on every architecture that matters here. */
const USER_HZ = 100;
/** Index of steal among the numbers after "cpu". */
const STEAL_FIELD = 7;

/**
 * The `index`-th whitespace-separated field of the first line of `bytes[0, length)` as a non-negative integer;
 * undefined when the line has fewer fields or the field is not all digits. Reads bytes, allocates nothing: the
 * watchdog calls it a hundred times a second for as long as a run lasts, and its garbage, promoted now and then,
 * was what grew the process (a soak's finding).
 */
export function firstLineField(bytes: Uint8Array, length: number, index: number): number | undefined {
  let field = -1;
  let i = 0;
  while (i < length && bytes[i] !== NEWLINE) {
    while (i < length && (bytes[i] === SPACE || bytes[i] === TAB)) i++;
    if (i >= length || bytes[i] === NEWLINE) break;
    field++;
    if (field < index) {
      while (i < length && bytes[i] !== SPACE && bytes[i] !== TAB && bytes[i] !== NEWLINE) i++;
      continue;
    }
    let value = 0;
    let digits = 0;
    for (; i < length && bytes[i] >= DIGIT_0 && bytes[i] <= DIGIT_9; i++, digits++)
      value = value * 10 + (bytes[i] - DIGIT_0);
    const ends = i >= length || bytes[i] === SPACE || bytes[i] === TAB || bytes[i] === NEWLINE;
    return digits > 0 && ends ? value : undefined;
  }
  return undefined;
}

const [NEWLINE, SPACE, TAB, DIGIT_0, DIGIT_9] = [0x0a, 0x20, 0x09, 0x30, 0x39];

/** Steal time in ms from the text of /proc/stat; undefined when the line or the field is missing. */
export function parseStealMs(procStat: string): number | undefined {
  const bytes = Buffer.from(procStat, 'latin1');
  return stealFromBytes(bytes, bytes.length);
}

function stealFromBytes(bytes: Uint8Array, length: number): number | undefined {
  // "cpu" itself must lead the line: the per-CPU lines ("cpu0 ...") follow it
  if (length < 4 || bytes[0] !== 0x63 || bytes[1] !== 0x70 || bytes[2] !== 0x75 || bytes[3] !== SPACE) return undefined;
  const steal = firstLineField(bytes, length, 1 + STEAL_FIELD);
  return steal === undefined ? undefined : (steal * 1000) / USER_HZ;
}

/**
 * A counter in a /proc file re-read from its start into a fixed buffer (one pread, no allocation). The file
 * stays open; undefined from read() where it cannot be opened or parsed (not Linux, the thread gone).
 */
class ProcCounter {
  private fd: number | undefined;
  private readonly buf: Buffer;

  constructor(
    path: string,
    private readonly parse: (bytes: Uint8Array, length: number) => number | undefined,
    /** Bytes to read: enough for the first line. */
    bytes: number,
  ) {
    this.buf = Buffer.alloc(bytes);
    try {
      this.fd = openSync(path, 'r');
    } catch {
      this.fd = undefined;
    }
  }

  read(): number | undefined {
    if (this.fd === undefined) return undefined;
    try {
      return this.parse(this.buf, readSync(this.fd, this.buf, 0, this.buf.length, 0));
    } catch {
      return undefined;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** The host's cumulative steal time (ms), read again and again from one open /proc/stat. */
export class StealTime {
  // the "cpu" line: "cpu" and ten numbers of at most 20 digits, under 256 bytes
  private readonly counter = new ProcCounter('/proc/stat', stealFromBytes, 256);

  read(): number | undefined {
    return this.counter.read();
  }

  close(): void {
    this.counter.close();
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
 * How long thread `tid` of this process has waited on a run queue in all (ms), re-read from one open file; and,
 * from the same read, how long it has run on a CPU.
 */
export class RunQueueWait {
  private readonly counter: ProcCounter;
  /** The thread's cumulative time on a CPU (ms) as of the last read(); NaN when unknown. */
  on_cpu_ms = Number.NaN;

  constructor(tid: number) {
    // "<on-cpu ns> <waiting ns> <timeslices>\n"
    const parse = (bytes: Uint8Array, length: number) => {
      const cpu_ns = firstLineField(bytes, length, 0);
      this.on_cpu_ms = cpu_ns === undefined ? Number.NaN : cpu_ns / 1e6;
      return waitFromBytes(bytes, length);
    };
    this.counter = new ProcCounter(`/proc/self/task/${tid}/schedstat`, parse, 128);
  }

  /** The cumulative wait (ms), undefined if it cannot be read. */
  read(): number | undefined {
    return this.counter.read();
  }

  close(): void {
    this.counter.close();
  }
}

function waitFromBytes(bytes: Uint8Array, length: number): number | undefined {
  const wait_ns = firstLineField(bytes, length, 1);
  return wait_ns === undefined ? undefined : wait_ns / 1e6;
}

/** How long thread `tid` of this process has waited on a run queue in all (ms); undefined if unknown. */
export function runQueueWaitMs(tid: number): number | undefined {
  const r = new RunQueueWait(tid);
  const ms = r.read();
  r.close();
  return ms;
}
