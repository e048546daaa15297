// The control loop, in its own thread: every 1/hz s, on a monotonic clock, take the action for this
// tick from the shared ring (or hold), pass it through safety and send it to the driver. The driver
// lives here too, so nothing the main thread does (inference orchestration, logging, GC) can delay a
// command. The driver's binding (driver-bindings/) says how to wait for a tick: blocking (Atomics.wait,
// then spin) for the embedded sim, or yielding to the event loop for drivers that do network or serial
// I/O there. While the binding reports a fault (stale state, connection lost) the loop holds, and it
// restarts the command stream from a fresh measurement when the fault clears, unless the binding says
// the hold was transient (a missed read: the actuators never left the last command).
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { JointState } from '../../drivers/driver.js';
import { ActionRing } from './action-ring.js';
import { ControlTicker } from './control-ticker.js';
import { SafetyFilter, safetyLimits } from './safety.js';
import { stateLayout, stateVector } from './observation.js';
import { createPacer } from './pacing.js';
import { bindDriver, DriverUnreachable, type DriverBinding } from './driver-bindings/index.js';
import { monotonicMs } from '../util/clock.js';
import type { ControlWorkerData, FromWorker, LoopStats, ToWorker } from './control-protocol.js';

/** Jitter samples kept (the last ~22 min at 50 Hz). */
const JITTER_SAMPLES = 1 << 16;
/** Ticks the loop may fall behind before it gives up catching up and restarts its schedule. */
const MAX_BEHIND_TICKS = 5;

const data = workerData as ControlWorkerData;
const port = data.port;
const post = (m: FromWorker) => port.postMessage(m);

run().catch((err: unknown) => post({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) }));

async function run(): Promise<void> {
  let binding: DriverBinding;
  try {
    binding = await bindDriver(data.driver, { control_hz: data.control_hz });
  } catch (err) {
      if (!(err instanceof DriverUnreachable)) throw err;
    post({ type: 'error', message: err.message, connection: true });
    port.close();
    return;
  }
  const driver = binding.driver;
  const desc = driver.describe();
  const ring = new ActionRing(data.ring, { capacity: data.ring_capacity, dim: desc.action_names.length });
  const safety = new SafetyFilter(safetyLimits(desc, { max_step_rad: data.max_step_rad }));
  const ticker = new ControlTicker(ring, safety);
  const pacer = createPacer(binding.pacing, data.spin_ms);
  let latest: JointState | undefined;
  driver.state$.subscribe((s) => { latest = s; });
  binding.health$?.subscribe((h) => post({ type: 'driver_status', ...h }));
  await driver.connect();
  post({ type: 'ready', description: desc });

  const dt_ms = 1000 / data.control_hz;
  const jitter = new Float64Array(JITTER_SAMPLES);
  let jitterCount = 0, overruns = 0;
  let seed: number | undefined; // the episode being run, if any
  let observe = false;
  let stop = false;
  let t0 = 0, n = 0;
  let tick = 0; // the last tick executed this episode
  let faulted = false;
  const start = new Float64Array(desc.action_names.length);
  const layout = stateLayout(desc);

  const begin = (episodeSeed: number, s: JointState | string) => {
    if (typeof s === 'string') {
      post({ type: 'episode_end', seed: episodeSeed, success: false, ticks: 0, fault: s });
      return;
    }
    latest = s;
    ticker.reset(stateVector(layout, s, start));
    seed = episodeSeed;
    tick = s.tick;
    faulted = false;
    t0 = performance.now();
    n = 0;
  };
  /** No more ticks for this episode; it is reported once the binding has its last command on the wire. */
  const finish = (): void | Promise<void> => {
    if (seed === undefined) return;
    const ended = seed;
    seed = undefined;
    const report = () => post({ type: 'episode_end', seed: ended, success: binding.success(), ticks: tick });
    const settled = binding.endEpisode?.();
    if (settled) return settled.then(report);
    report();
  };
  // returns a promise only for a yielding binding's asynchronous episode start or end: the blocking
  // loop (the sim) never awaits
  const handle = (m: ToWorker): void | Promise<void> => {
    switch (m.type) {
      case 'reset': {
        const s = binding.startEpisode(m.seed);
        if (s instanceof Promise) return s.then((r) => begin(m.seed, r));
        begin(m.seed, s);
        break;
      }
      case 'observe': observe = true; break;
      case 'end_episode': return finish();
      case 'stop': stop = true; break;
    }
  };
  const drain = (): void | Promise<void> => {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      const pending = handle(m.message as ToWorker);
      if (pending) return pending.then(drain);
    }
  };

  while (!stop) {
    const handled = drain();
    if (handled) await handled;
    if (stop) break;
    if (seed === undefined) {
      const idle = pacer.idle(2); // between episodes
      if (idle) await idle;
      continue;
    }
    const deadline = t0 + (n + 1) * dt_ms;
    const waiting = pacer.until(deadline);
    if (waiting) await waiting;
    const woke = performance.now();
    jitter[jitterCount++ % JITTER_SAMPLES] = woke - deadline;

    const k = ++tick;
    const fault = binding.fault();
    let cmd: Float64Array | null;
    if (fault !== undefined) {
      faulted = true;
      cmd = ticker.holdForFault(k);
      driver.hold();
    } else {
      if (faulted && !binding.holdWasTransient?.()) {
        // commands restart from where the robot is now and from a new chunk, never from the old plan
        const fresh = binding.measured();
        if (fresh) ticker.resumeAfterFault(stateVector(layout, fresh, start));
      }
      faulted = false;
      cmd = ticker.next(k);
      if (cmd === null) driver.hold();
      else driver.send(cmd);
    }
    binding.afterTick?.(monotonicMs() - (performance.now() - woke));
    const s = latest!;
    // a request that came in while this tick slept is served now, not a tick later
    const served = drain();
    if (served) await served;
    post({
      type: 'state', tick: k, t_mono_ms: s.t_mono_ms, position_rad: s.position_rad, velocity_rad_s: s.velocity_rad_s,
      gripper: s.gripper, command: cmd === null ? null : Float64Array.from(cmd), source: ticker.source, done: binding.done, success: binding.success(),
    });
    if (observe) {
      // the cameras are rendered (or read) by the main thread, never here
      post({ type: 'observation', tick: k, t_mono_ms: s.t_mono_ms, position_rad: s.position_rad, gripper: s.gripper, ...binding.observationExtras() });
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
    if (binding.done) {
      const ended = finish();
      if (ended) await ended;
    }
  }

  const stats: LoopStats = {
    counters: ticker.counters, clamped_actions: safety.clamped_actions, overruns,
    jitter_ms: jitter.slice(0, Math.min(jitterCount, JITTER_SAMPLES)), driver: binding.stats(),
  };
  // before the stats: the main thread terminates this thread once it has them, and a driver's native
  // close (a serial port's) must not be in flight then
  await driver.disconnect();
  post({ type: 'stats', stats });
  port.close();
}
