// The ALOHA serial cycle's allocation where vla-run runs it: in a worker thread (the control thread's
// serial path, WorkerSerialPort), against the Dynamixel emulator in its own process. Posts the young-
// generation bytes per cycle (null when a scavenge emptied it meanwhile) and the GCs of CYCLES cycles.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { cycle, poseAction, withEmulatedRig } from './emulated-aloha-rig.js';

export const SERIAL_CYCLES = 3000; // a minute at 50 Hz
const WARMUP_CYCLES = 500;
const youngBytes = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;

const { result } = await withEmulatedRig(0, null, async (d, start) => {
  const action = poseAction(start);
  for (let i = 0; i < WARMUP_CYCLES; i++) await cycle(d, action);
  let scavenges = 0,
    other = 0;
  const gcWatch = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
      else other++;
    }
  });
  gcWatch.observe({ entryTypes: ['gc'] });
  const before = youngBytes();
  for (let i = 0; i < SERIAL_CYCLES; i++) await cycle(d, action);
  const grown = youngBytes() - before;
  await new Promise((r) => setTimeout(r, 50)); // GC entries are delivered asynchronously
  gcWatch.disconnect();
  const young_bytes_per_cycle = scavenges + other === 0 ? Math.round(grown / SERIAL_CYCLES) : null;
  return { cycles: SERIAL_CYCLES, scavenges, other_gcs: other, young_bytes_per_cycle };
});
parentPort!.postMessage(result);
