// The process's resources over a long run, to see a leak before it stops the robot: resident memory, the
// V8 heap, memory outside it (Buffers, ArrayBuffers), and open file descriptors, one JSON line every N s.
// Sampled on a timer of the main thread: the control thread never pays for it.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { fullGc } from '../util/full-gc.js';
import { threadHeaps } from './thread-heaps.js';

export interface ProcessSample {
  /** Seconds since sampling started. */
  t_s: number;
  rss_mb: number;
  heap_used_mb: number;
  heap_total_mb: number;
  external_mb: number;
  array_buffers_mb: number;
  /**
   * Resident memory by kind (/proc/self/status; null off Linux): anonymous (every thread's heap, malloc arenas,
   * native libraries' allocations) and file-backed (code and mapped files): which one a growth is in.
   */
  rss_anon_mb: number | null;
  rss_file_mb: number | null;
  /** Worker threads' own V8 heaps (MB), as they last posted them (thread-heaps.ts). */
  thread_heaps_mb: Record<string, number>;
  /** The same threads' heaps as resident in memory (MB): V8 keeps pages beyond what it uses. */
  thread_heaps_physical_mb: Record<string, number>;
  /** Open file descriptors (/proc/self/fd); null where that cannot be read. */
  fds: number | null;
  /** The sample taken as the process exits (its threads already gone): not one to judge growth by. */
  final?: true;
  /**
   * With `gc`: the same right after a full garbage collection of the main thread, i.e. what it keeps. V8 collects
   * its old generation only when it has grown by a factor, so plain RSS rises for many minutes between major
   * collections; a leak is what this one shows growing.
   */
  after_gc?: { rss_mb: number; rss_anon_mb: number | null; heap_used_mb: number };
}

const MB = 1024 * 1024;
const mb = (bytes: number) => Math.round((bytes / MB) * 100) / 100;

/** Open file descriptors of this process, null off Linux. */
export function openFds(): number | null {
  try {
    // the listing's own descriptor is in it
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return null;
  }
}

/** RssAnon and RssFile of /proc/self/status (kB there), in MB; nulls where that cannot be read. */
export function residentByKind(): { rss_anon_mb: number | null; rss_file_mb: number | null } {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? mb(Number(m[1]) * 1024) : null;
    };
    return { rss_anon_mb: kb('RssAnon'), rss_file_mb: kb('RssFile') };
  } catch {
    return { rss_anon_mb: null, rss_file_mb: null };
  }
}

export function sampleProcess(t_s: number): ProcessSample {
  const m = process.memoryUsage();
  return {
    t_s: Math.round(t_s * 10) / 10,
    rss_mb: mb(m.rss),
    heap_used_mb: mb(m.heapUsed),
    heap_total_mb: mb(m.heapTotal),
    external_mb: mb(m.external),
    array_buffers_mb: mb(m.arrayBuffers),
    ...residentByKind(),
    thread_heaps_mb: threadHeaps('used_mb'),
    thread_heaps_physical_mb: threadHeaps('physical_mb'),
    fds: openFds(),
  };
}

export interface ProcessStatsOptions {
  every_s: number;
  /** Append the lines to this file; default: stderr. */
  file?: string;
  /** Also sample right after a full GC of the main thread (after_gc); a pause of some ms in that thread. */
  gc?: boolean;
}

function afterGc(gc: () => void): NonNullable<ProcessSample['after_gc']> {
  gc();
  const m = process.memoryUsage();
  return { rss_mb: mb(m.rss), rss_anon_mb: residentByKind().rss_anon_mb, heap_used_mb: mb(m.heapUsed) };
}

/**
 * Write one sample now and every `every_s` seconds until stopped (and a last one on stop). Lines are
 * {"process_stats": {...}} so they stand out among the logs on stderr. The timer never keeps the process up.
 */
export function startProcessStats(o: ProcessStatsOptions): { stop(): void } {
  const t0 = performance.now();
  const write = (s: ProcessSample) => {
    const line = `${JSON.stringify({ process_stats: s })}\n`;
    if (!o.file) return void process.stderr.write(line);
    try {
      appendFileSync(o.file, line); // a few hundred bytes a minute: sync keeps the last line on exit
    } catch {
      // a full disk or a vanished folder costs the statistics, never the run
    }
  };
  const gc = o.gc ? fullGc() : undefined;
  const sample = () => {
    const s = sampleProcess((performance.now() - t0) / 1000);
    write(gc ? { ...s, after_gc: afterGc(gc) } : s);
  };
  sample();
  const timer = setInterval(sample, o.every_s * 1000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      write({ ...sampleProcess((performance.now() - t0) / 1000), final: true });
    },
  };
}
