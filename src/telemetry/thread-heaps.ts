// The V8 heap of each worker thread, as the threads last reported it. process.memoryUsage() in the main thread
// sees only the main thread's heap, and Node 20 cannot ask a worker for its heap from outside, so a worker
// posts its own now and then; --stats-every prints the latest. Process-wide, like the memory it describes.
import { getHeapStatistics } from 'node:v8';

const latest = new Map<string, number>();

/** Record a thread's heap (MB); the owner of the thread calls it with what the thread posted. */
export function reportThreadHeap(thread: string, used_mb: number): void {
  latest.set(thread, used_mb);
}

/** The latest heap per reporting thread (MB), sorted by name; empty when none reported. */
export function threadHeaps(): Record<string, number> {
  return Object.fromEntries([...latest].sort(([a], [b]) => a.localeCompare(b)));
}

/** This thread's used heap (MB), for a worker to post. */
export function ownHeapMb(): number {
  return Math.round((getHeapStatistics().used_heap_size / (1024 * 1024)) * 100) / 100;
}
