// Allocation on the hot path: the control tick (driver read, freshness and health, ring, safety, driver
// write) with the embedded sim, 10 000 ticks in this thread after a warm-up, no inference in between:
// young-generation bytes per tick and the garbage collections it caused. The same tick with an in-memory
// robot that reaches every command at once (`runtime_only`) separates the runtime's part from the
// physics'; the ALOHA serial cycle is measured in a worker thread, where vla-run runs it. (The real-time
// control thread's own GC count over a whole run is in runtime.jitter.control_thread_gc.)
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { type Driver, type JointState, newJointState } from '../drivers/driver.js';
import { SimDriver } from '../sim/sim-driver.js';
import { homeAction, loadRobot, type RobotDescription } from '../src/robot/index.js';
import { ActionBuffer } from '../src/runtime/action-buffer.js';
import { ActionRing } from '../src/runtime/action-ring.js';
import { ControlLoop } from '../src/runtime/control/control-loop.js';
import { TickBoard } from '../src/runtime/control/tick-board.js';

const TICKS = 10_000;
const WARMUP_TICKS = 20_000;

/** Bytes in the young generation: what a tick's garbage fills and a scavenge collects. */
const youngBytes = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
const BATCH = 250; // at most half the ring: a chunk must leave room for the next

export async function benchmarkAllocation(log: (m: string) => void): Promise<object> {
  const out: Record<string, object> = {};
  for (const [robot, task] of [
    ['ur5e', 'pick-place'],
    ['aloha', 'transfer-cube'],
  ] as const) {
    out[`${robot}_${task}`] = await measure(await SimDriver.create({ robot, task, time: 'virtual' }));
    log(`alloc: ${robot} ${task}: ${JSON.stringify(out[`${robot}_${task}`])}`);
  }
  out.runtime_only_ur5e = await measure(new InstantRobot(await loadRobot('ur5e')));
  log(`alloc: runtime only (in-memory robot): ${JSON.stringify(out.runtime_only_ur5e)}`);
  out.aloha_serial_cycle_control_thread = await measureSerialCycle();
  log(`alloc: ALOHA serial cycle in a worker: ${JSON.stringify(out.aloha_serial_cycle_control_thread)}`);
  return { ticks: TICKS, ...out, target: '0 scavenges attributable to the tick' };
}

/** The ALOHA driver's read+write cycle over ptys, in a worker thread as in vla-run (alloc-serial-worker.ts). */
function measureSerialCycle(): Promise<object> {
  const worker = new Worker(new URL('./alloc-serial-worker.js', import.meta.url));
  return new Promise<object>((resolve, reject) => {
    worker.once('message', (m: object) => resolve(m));
    worker.once('error', reject);
  }).finally(() => worker.terminate());
}

/** A robot that is wherever it was last commanded, at once: the control tick without any physics. */
class InstantRobot implements Driver {
  readonly done = false;
  private readonly at: JointState;
  private t_ms = 0;
  constructor(readonly description: RobotDescription) {
    this.at = newJointState(description);
    const home = homeAction(description);
    this.write(home);
  }
  reset(): void {}
  async configure(): Promise<void> {}
  async activate(): Promise<undefined> {}
  read(into: JointState): 'ok' {
    into.t_mono_ms = this.t_ms;
    into.position_rad.set(this.at.position_rad);
    into.gripper.set(this.at.gripper);
    return 'ok';
  }
  problem(): string {
    return '';
  }
  write(command: Float64Array | null): void {
    this.t_ms += 20;
    if (!command) return;
    const q = this.at.position_rad; // element by element: a subarray view would be garbage of its own
    for (let i = 0; i < q.length; i++) q[i] = command[i];
    this.at.gripper[0] = command[q.length];
  }
  async deactivate(): Promise<void> {}
  async close(): Promise<void> {}
  counters(): Record<string, number> {
    return {};
  }
}

async function measure(driver: Driver & { done: boolean; reset(seed: number): void }): Promise<object> {
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
  // one stretch of ticks, the batch inserts included (one chunk object per BATCH ticks); a scavenge inside it
  // would empty the young generation, so the growth is only reported when none happened
  const run = (ticks: number): number => {
    const before = youngBytes();
    for (let done = 0; done < ticks; done += BATCH) {
      if (driver.done || done === 0) {
        driver.reset(done);
        loop.begin();
      }
      buffer.insert(
        { obs_tick: loop.tick, first_tick: loop.tick + 1, horizon: BATCH, dim, actions, infer_ms: 0 },
        loop.tick,
      );
      for (let k = 0; k < BATCH; k++) loop.step(loop.tick * 20 + 20);
    }
    return youngBytes() - before;
  };
  run(WARMUP_TICKS); // until the tick's code is optimised: compiling it allocates too, once
  await new Promise((r) => setTimeout(r, 50));
  gcWatch.observe({ entryTypes: ['gc'] });
  const grown = run(TICKS);
  await new Promise((r) => setTimeout(r, 50)); // GC entries are delivered asynchronously
  gcWatch.disconnect();
  await driver.close();
  const young_bytes_per_tick = scavenges + other === 0 ? Math.round((grown / TICKS) * 10) / 10 : null;
  return { scavenges, other_gcs: other, young_bytes_per_tick };
}
