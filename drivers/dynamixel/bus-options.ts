// How a Dynamixel bus waits and retries, what it counts, and what one request is (bus.ts).
import type { Packet } from '../../protocols/dynamixel/packet.js';

/**
 * Wait for the replies of one attempt of a per-tick request (SYNC_READ, BULK_READ). 9 replies take
 * ~1.5 ms at 1 Mbps; 15 ms is the most that still lets one retry of a lost reply fit in a 20 ms (50 Hz)
 * tick, and waiting longer than needed costs nothing: a corrupted reply is retried at once, without
 * waiting for the timeout. Shorter (10 ms) only re-asked servos whose replies were merely late (a loaded
 * machine, an emulator process) and the retry did not make them come sooner.
 */
export const DEFAULT_BUS_TIMEOUT_MS = 15;
/**
 * Wait for the reply of one attempt of a set-up request (PING, READ, WRITE: connect, configure, torque).
 * Not on the control clock, so generous: a 10 ms hiccup of a loaded machine (or of a USB adapter's
 * 16 ms latency timer) must not turn into "no reply from ID n" while connecting.
 */
export const DEFAULT_BUS_SETUP_TIMEOUT_MS = 100;
/** Attempts after the first. */
export const DEFAULT_BUS_RETRIES = 2;

export interface BusOptions {
  path: string;
  /** Shown in every error, e.g. "left arm". */
  name: string;
  baud_rate?: number;
  /** Per-tick requests: wait for the replies of one attempt (default DEFAULT_BUS_TIMEOUT_MS). */
  timeout_ms?: number;
  /** Set-up requests (PING, READ, WRITE); default DEFAULT_BUS_SETUP_TIMEOUT_MS, or timeout_ms when that is given. */
  setup_timeout_ms?: number;
  /** Attempts after the first (default 2). */
  retries?: number;
}

export interface BusCounters {
  requests: number;
  retries: number;
  timeouts: number;
  /** Packets dropped for a bad CRC, ours (seen by the framer) or the servo's (ERR = CRC error). */
  crc_errors: number;
  /** Status packets with the hardware alert bit (ERR bit 7). */
  hardware_alerts: number;
  /** Replies nobody waited for (late replies of an abandoned request, duplicates of a retry): dropped. */
  stale_replies: number;
  /** Requests abandoned at their deadline (the end of their control tick). */
  deadline_misses: number;
  /** Barrier reads sent because every reply tag was still owed (see reply-tags.ts). */
  barriers: number;
}

export function newBusCounters(): BusCounters {
  return {
    requests: 0,
    retries: 0,
    timeouts: 0,
    crc_errors: 0,
    hardware_alerts: 0,
    stale_replies: 0,
    deadline_misses: 0,
    barriers: 0,
  };
}

/** One request: what it asks, which replies it expects, how long it may take, who hears how it ended. */
export interface RequestSpec {
  what: string;
  ids: readonly number[];
  /** Data bytes each reply carries before any tag pad (by index into ids). */
  replyBytes: (i: number) => number;
  /** For a read: the control-table address just past what it reads (bounds the tag pad). Absent: cannot be tagged. */
  readEnd?: number;
  build: (missing: readonly number[], pad: number) => Uint8Array;
  timeout_ms: number;
  /** monotonicMs() after which the request is abandoned; absent: none. */
  deadline_ms?: number;
  onReply?: (index: number, p: Packet) => void;
  /** Called once when the request ends: without an error when every reply came (or none was expected). */
  done: (err: Error | undefined) => void;
}
