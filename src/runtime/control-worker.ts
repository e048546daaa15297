// The control loop, in its own thread: every 1/hz s, on a monotonic clock, take the action for this
// tick from the shared ring (or hold), pass it through safety and send it to the driver. The driver
// lives here too, so nothing the main thread does (inference orchestration, logging, GC) can delay a
// command. Timing is sleep-then-spin: Atomics.wait until shortly before the tick is due, then spin.
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { SimDriver } from '../../drivers/sim/sim-driver.js';
import type { JointState } from '../../drivers/driver.js';
import { ActionRing } from './action-ring.js';
import { ControlTicker } from './control-ticker.js';
import { SafetyFilter, safetyLimits } from './safety.js';
import { stateLayout, stateVector } from './observation.js';
import type { ControlWorkerData, FromWorker, LoopStats, ToWorker } from './control-protocol.js';
import type { TaskName } from '../../sim/tasks/task.js';

/** Jitter samples kept (the last ~22 min at 50 Hz). */
const JITTER_SAMPLES = 1 << 16;
/** Ticks the loop may fall behind before it gives up catching up and restarts its schedule. */
const MAX_BEHIND_TICKS = 5;

const data = workerData as ControlWorkerData;
const port = data.port;
const post = (m: FromWorker) => port.postMessage(m);

run().catch((err: unknown) => post({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) }));

async function run(): Promise<void> {
  const driver = await SimDriver.create({ robot: data.driver.robot, task: data.driver.task as TaskName | undefined, clock: 'external', physics_hz: data.driver.physics_hz, control_hz: data.control_hz });
  const desc = driver.describe();
  const ring = new ActionRing(data.ring, { capacity: data.ring_capacity, dim: desc.action_names.length });
  const safety = new SafetyFilter(safetyLimits(desc, { max_step_rad: data.max_step_rad }));
  const ticker = new ControlTicker(ring, safety);
  let latest: JointState | undefined;
  driver.state$.subscribe((s) => { latest = s; });
  await driver.connect();
  post({ type: 'ready', description: desc });

  const dt_ms = 1000 / data.control_hz;
  const sleepCell = new Int32Array(new SharedArrayBuffer(4));
  const jitter = new Float64Array(JITTER_SAMPLES);
  let jitterCount = 0, overruns = 0;
  let seed: number | undefined; // the episode being run, if any
  let observe = false;
  let stop = false;
  let t0 = 0, n = 0;
  const start = new Float64Array(desc.action_names.length);
  const layout = stateLayout(desc);

  const handle = (m: ToWorker) => {
    switch (m.type) {
      case 'reset':
        driver.reset(m.seed);
        ticker.reset(stateVector(layout, latest!, start));
        seed = m.seed;
        t0 = performance.now();
        n = 0;
        break;
      case 'observe': observe = true; break;
      case 'end_episode':
        if (seed !== undefined) post({ type: 'episode_end', seed, success: driver.success(), ticks: driver.tick });
        seed = undefined;
        break;
      case 'stop': stop = true; break;
    }
  };

  while (!stop) {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) handle(m.message as ToWorker);
    if (stop) break;
    if (seed === undefined) {
      Atomics.wait(sleepCell, 0, 0, 2); // idle between episodes
      continue;
    }
    const deadline = t0 + (n + 1) * dt_ms;
    sleepUntil(deadline, data.spin_ms, sleepCell);
    const woke = performance.now();
    jitter[jitterCount++ % JITTER_SAMPLES] = woke - deadline;

    const cmd = ticker.next(latest!.tick + 1);
    if (cmd === null) driver.hold();
    else driver.send(cmd);
    const s = latest!;
    // a request that came in while this tick slept is served now, not a tick later
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) handle(m.message as ToWorker);
    post({
      type: 'state', tick: s.tick, t_mono_ms: s.t_mono_ms, position_rad: s.position_rad, velocity_rad_s: s.velocity_rad_s,
      gripper: s.gripper, command: cmd === null ? null : Float64Array.from(cmd), source: ticker.source, done: driver.done, success: driver.success(),
    });
    if (observe) {
      // the cameras are rendered from this snapshot by the main thread, never here
      post({ type: 'observation', tick: s.tick, t_mono_ms: s.t_mono_ms, position_rad: s.position_rad, gripper: s.gripper, snapshot: driver.env.snapshot(), task: driver.taskState() });
      observe = false;
    }
    n++;
    const behind = Math.floor((performance.now() - t0) / dt_ms) - n;
    if (behind > 0) overruns++;
    if (behind > MAX_BEHIND_TICKS) {
      // hopelessly late: restart the schedule from now rather than firing a burst of ticks
      t0 = performance.now();
      n = 0;
    }
    if (driver.done) {
      post({ type: 'episode_end', seed, success: driver.success(), ticks: driver.tick });
      seed = undefined;
    }
  }

  const stats: LoopStats = {
    counters: ticker.counters, clamped_actions: safety.clamped_actions, overruns,
    jitter_ms: jitter.slice(0, Math.min(jitterCount, JITTER_SAMPLES)),
  };
  post({ type: 'stats', stats });
  await driver.disconnect();
  port.close();
}

/** Sleep (Atomics.wait) until `spin_ms` before the deadline, then spin on the monotonic clock. */
function sleepUntil(deadline: number, spin_ms: number, cell: Int32Array): void {
  for (;;) {
    const left = deadline - performance.now();
    if (left <= spin_ms) break;
    Atomics.wait(cell, 0, 0, left - spin_ms);
  }
  while (performance.now() < deadline) { /* spin: the last stretch is too short to trust a timer with */ }
}
