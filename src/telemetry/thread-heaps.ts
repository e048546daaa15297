// The V8 heap of each worker thread, as the threads last reported it. process.memoryUsage() in the main thread
// sees only the main thread's heap, and Node 20 cannot ask a worker for its heap from outside, so a worker
// posts its own now and then; --stats-every prints the latest. Process-wide, like the memory it describes.
// Two numbers per thread: what the heap holds (used: a leak grows it) and what it keeps resident (physical:
// what it adds to the process's RSS; V8 may keep pages it no longer needs, or grow its young generation).
import { getHeapStatistics } from 'node:v8';

export interface ThreadHeap {
  used_mb: number;
  physical_mb: number;
}

const latest = new Map<string, ThreadHeap>();

/** Record a thread's heap; the owner of the thread calls it with what the thread posted. */
export function reportThreadHeap(thread: string, heap: ThreadHeap): void {
  latest.set(thread, heap);
}

/** The latest heap per reporting thread (MB, `used` or `physical`), sorted by name; empty when none reported. */
export function threadHeaps(kind: keyof ThreadHeap = 'used_mb'): Record<string, number> {
  return Object.fromEntries([...latest].sort(([a], [b]) => a.localeCompare(b)).map(([k, h]) => [k, h[kind]]));
}

const mb = (bytes: number) => Math.round((bytes / (1024 * 1024)) * 100) / 100;

/** This thread's heap, for a worker to post. */
export function ownHeap(): ThreadHeap {
  const h = getHeapStatistics();
  return { used_mb: mb(h.used_heap_size), physical_mb: mb(h.total_physical_size) };
}
