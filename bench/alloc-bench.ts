// Allocation on the hot path: the control tick (driver read, freshness and health, ring, safety, driver
// write) with the embedded sim, 10 000 ticks in this thread after a warm-up, no inference in between:
// heap growth per tick and the garbage collections it caused. (The real-time control thread's own GC
// count over a whole run is in runtime.jitter.control_thread_gc.)
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { SimDriver } from '../sim/sim-driver.js';
import { homeAction } from '../src/robot/index.js';
import { ActionBuffer } from '../src/runtime/action-buffer.js';
import { ActionRing } from '../src/runtime/action-ring.js';
import { ControlLoop } from '../src/runtime/control/control-loop.js';
import { TickBoard } from '../src/runtime/control/tick-board.js';

const TICKS = 10_000;
const BATCH = 400;

export async function benchmarkAllocation(log: (m: string) => void): Promise<object> {
  const out: Record<string, object> = {};
  for (const [robot, task] of [
    ['ur5e', 'pick-place'],
    ['aloha', 'transfer-cube'],
  ] as const) {
    out[`${robot}_${task}`] = await measure(robot, task);
    log(`alloc: ${robot} ${task}: ${JSON.stringify(out[`${robot}_${task}`])}`);
  }
  return { ticks: TICKS, ...out, target: '0 scavenges attributable to the tick' };
}

async function measure(robot: 'ur5e' | 'aloha', task: 'pick-place' | 'transfer-cube'): Promise<object> {
  const driver = await SimDriver.create({ robot, task, time: 'virtual' });
  const desc = driver.description;
  const dim = desc.action_names.length;
  const ring = ActionRing.create({ capacity: 512, dim }, false);
  const buffer = new ActionBuffer(ring, { blend: 'replace' });
  const loop = new ControlLoop(
    driver,
    ring,
    new TickBoard({ joints: desc.joint_names.length, grippers: desc.gripper_names.length, dim }),
    undefined,
    { fault_timeout_ms: 5000, stale_state_ms: 100 },
  );
  // a plan that holds the home pose, BATCH ticks long (inserted between the measured stretches)
  const home = homeAction(desc);
  const actions = new Float32Array(BATCH * dim);
  for (let r = 0; r < BATCH; r++) actions.set(home, r * dim);
  let scavenges = 0,
    other = 0;
  const gcWatch = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
      else other++;
    }
  });
  const run = (ticks: number): number => {
    let grown = 0;
    for (let done = 0; done < ticks; done += BATCH) {
      if (driver.done || done === 0) {
        driver.reset(done);
        loop.begin();
      }
      buffer.insert(
        { obs_tick: loop.tick, first_tick: loop.tick + 1, horizon: BATCH, dim, actions, infer_ms: 0 },
        loop.tick,
      );
      const before = getHeapStatistics().used_heap_size;
      for (let k = 0; k < BATCH; k++) loop.step(loop.tick * 20 + 20);
      grown += getHeapStatistics().used_heap_size - before;
    }
    return grown;
  };
  run(2000); // warm-up: JIT, lazily made lookups
  await new Promise((r) => setTimeout(r, 50));
  gcWatch.observe({ entryTypes: ['gc'] });
  const grown = run(TICKS);
  await new Promise((r) => setTimeout(r, 50)); // GC entries are delivered asynchronously
  gcWatch.disconnect();
  await driver.close();
  return { scavenges, other_gcs: other, heap_growth_bytes_per_tick: Math.round(grown / TICKS) };
}
