// The runtime on the real clock. The control loop runs in its own worker thread (control-worker.ts)
// with the driver; this side decides when to ask the policy for the next chunk and lands chunks in the
// shared action ring:
//
//   worker state$ --(trigger: actions left <= expected delay + margin)--> exhaustMap(
//     observation (the worker renders cameras after its tick) -> policy.infer -> [injected latency]
//     -> safety screen -> ActionBuffer.insert (drops what the control loop has already passed))
//
// exhaustMap: never two requests in flight, and triggers that come while one is in flight are dropped
// rather than queued, so the policy never works on a stale observation.
import { MessageChannel, Worker } from 'node:worker_threads';
import { Subject, Subscription, exhaustMap, filter, firstValueFrom, from, take } from 'rxjs';
import type { RobotDescription } from '../../drivers/driver.js';
import type { CameraImage, Observation, Policy } from '../policy/policy.js';
import { actionNames, robotModel } from '../../sim/robots/index.js';
import { ActionRing, DEFAULT_RING_TICKS, H_HOLD } from './action-ring.js';
import { ActionBuffer, firstTickHint, shouldInfer } from './action-buffer.js';
import { LatencyEstimator } from './latency.js';
import { SafetyFilter, safetyLimits } from './safety.js';
import { LatencyInjector } from './injected-latency.js';
import { monotonicMs } from '../util/clock.js';
import { stateLayout, stateVector, type StateLayout } from './observation.js';
import { simWorld } from './sim-world.js';
import { DriverFaults } from './driver-faults.js';
import { DriverUnreachable } from './driver-bindings/driver-binding.js';
import type { WorldLink, WorldView } from './world-link.js';
import type { ControlWorkerData, DriverConfig, FromWorker, LoopStats, ObservationMessage, StateMessage, ToWorker } from './control-protocol.js';
import type { EpisodeOutcome, RuntimeOptions, RuntimeReport, TickRecorder } from './runtime-types.js';

export { DriverUnreachable };

export interface RealtimeOptions extends RuntimeOptions {
  control_hz: number;
  /** Spin (rather than sleep) for the last part of each period (ms). Default 1.5. */
  spin_ms?: number;
  /** A driver fault (stale state, connection lost) that lasts longer than this ends the run (ms). Default 5000. */
  fault_timeout_ms?: number;
}

const DEFAULT_STALE_OBSERVATION_MS = 100;
/** Camera frames arrive at their own rate (10-30 Hz): a frame may be older than a joint state and still current. */
const DEFAULT_STALE_IMAGE_MS = 250;
const DEFAULT_FAULT_TIMEOUT_MS = 5000;

export class RealtimeRuntime {
  readonly description: RobotDescription;
  readonly buffer: ActionBuffer;
  readonly latency: LatencyEstimator;
  /** Only screens chunks here; clamping happens in the control thread. */
  private readonly screen: SafetyFilter;
  private readonly injector: LatencyInjector;
  private readonly messages = new Subject<FromWorker>();
  private readonly dt_ms: number;
  private fault: string | undefined;
  private stale_observations = 0;
  /** Since when every inference has found a camera frame too old (monotonic ms). */
  private cameraStaleSince: number | undefined;
  private readonly layout: StateLayout;
  private readonly faults: DriverFaults;

  private constructor(
    private readonly worker: Worker,
    private readonly port: import('node:worker_threads').MessagePort,
    readonly ring: ActionRing,
    description: RobotDescription,
    private readonly policy: Policy,
    private readonly opts: RealtimeOptions,
    private readonly world: WorldLink,
    private readonly driverKind: DriverConfig['kind'],
  ) {
    this.description = description;
    this.dt_ms = 1000 / opts.control_hz;
    this.buffer = new ActionBuffer(ring, { blend: opts.blend, fixed_delay_ticks: opts.fixed_delay_ticks });
    this.latency = new LatencyEstimator({ prior_ms: opts.latency_prior_ms });
    this.screen = new SafetyFilter(safetyLimits(description, { max_step_rad: opts.max_step_rad }));
    this.injector = new LatencyInjector(opts.injected, opts.seed ?? 0);
    this.layout = stateLayout(description);
    this.faults = new DriverFaults(opts.fault_timeout_ms ?? DEFAULT_FAULT_TIMEOUT_MS, (reason) => this.hold(reason));
    port.on('message', (m: FromWorker) => {
      if (m.type === 'driver_status') this.faults.update(m);
      this.messages.next(m);
    });
  }

  /**
   * Start the control thread with its driver. `world`: episodes, success and cameras as the main thread
   * sees them (default for the sim: rendered from the control thread's snapshots). Throws DriverUnreachable
   * when the robot cannot be reached (nothing was sent).
   */
  static async start(driver: DriverConfig, policy: Policy, opts: RealtimeOptions, world?: WorldLink): Promise<RealtimeRuntime> {
    const dim = actionNames(robotModel(driver.robot)).length;
    const ring = ActionRing.create({ capacity: DEFAULT_RING_TICKS, dim }, true);
    const { port1, port2 } = new MessageChannel();
    const data: ControlWorkerData = {
      driver, ring: ring.buffer as SharedArrayBuffer, ring_capacity: DEFAULT_RING_TICKS, control_hz: opts.control_hz,
      max_step_rad: opts.max_step_rad, spin_ms: opts.spin_ms ?? 1.5, port: port2, blend: opts.blend,
    };
    const worker = new Worker(new URL('./control-worker.js', import.meta.url), { workerData: data, transferList: [port2] });
    const ready = new Promise<RobotDescription>((resolve, reject) => {
      port1.on('message', function first(m: FromWorker) {
        if (m.type === 'ready') { port1.off('message', first); resolve(m.description); }
        if (m.type === 'error') {
          port1.off('message', first);
          reject(m.connection ? new DriverUnreachable(m.message) : new Error(`control loop failed to start: ${m.message}`));
        }
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`control loop exited (code ${code}) before it was ready`)));
    });
    let description: RobotDescription;
    try {
      description = await ready;
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    const wantsCameras = policy.describe().cameras.length > 0;
    const w = world ?? (driver.kind === 'sim' ? await simWorld(driver, wantsCameras) : { view: () => ({ images: [] }), close: async () => undefined });
    return new RealtimeRuntime(worker, port1, ring, description, policy, opts, w, driver.kind);
  }

  async runEpisode(seed: number, recorder?: TickRecorder, max_ticks = this.opts.max_ticks): Promise<EpisodeOutcome> {
    this.ring.clear();
    Atomics.store(this.ring.header, H_HOLD, 0);
    this.policy.reset?.(seed);
    this.fault = undefined;
    this.cameraStaleSince = undefined;
    const fault_timeout_ms = this.opts.fault_timeout_ms ?? DEFAULT_FAULT_TIMEOUT_MS;
    const notOk = await this.faults.whenOk(fault_timeout_ms);
    if (notOk) return { seed, success: false, ticks: 0, fault: `cannot start the episode: ${notOk}` };
    if (this.world.reset) {
      try {
        await this.world.reset(seed);
      } catch (err) {
        return { seed, success: false, ticks: 0, fault: `cannot reset the episode: ${(err as Error).message}` };
      }
    }
    const ended = firstValueFrom(this.messages.pipe(filter((m) => m.type === 'episode_end' || m.type === 'error'), take(1)));
    const subs = new Subscription();
    const states = this.messages.pipe(filter((m): m is StateMessage => m.type === 'state'));
    if (recorder) subs.add(states.subscribe((s) => { if (s.command) recorder.tick(s, s.command, s.tick); }));
    if (max_ticks !== undefined) {
      subs.add(states.pipe(filter((s) => s.tick >= max_ticks), take(1)).subscribe(() => this.post({ type: 'end_episode' })));
    }
    const worldSuccess = this.world.success?.bind(this.world);
    // the episode ends right after the world reports success, as the sim ends it itself
    if (worldSuccess) subs.add(states.pipe(filter(() => worldSuccess()), take(1)).subscribe(() => this.post({ type: 'end_episode' })));
    this.post({ type: 'reset', seed });
    if (this.latency.summary().calls === 0) {
      await this.warmUp();
      // the warm-up must leave nothing behind in a stateful policy (an expert would keep its plan)
      this.policy.reset?.(seed);
    }
    subs.add(states.pipe(
      filter((s) => !s.done && !this.fault && this.faults.ok && shouldInfer(this.buffer.remaining(this.ring.executedTick()), this.expectedDelayTicks(), this.opts.margin_ticks)),
      exhaustMap(() => from(this.inferOnce())),
    ).subscribe());
    const end = await ended;
    subs.unsubscribe();
    if (end.type === 'error') throw new Error(`control loop failed: ${end.message}`);
    if (end.type !== 'episode_end') throw new Error('unexpected message');
    const fault = this.fault ?? end.fault;
    return { seed, success: worldSuccess ? worldSuccess() : end.success, ticks: end.ticks, ...(fault ? { fault } : {}) };
  }

  /** Stop the robot where it is (a fault, or the user pressed Ctrl-C) and end the episode. */
  hold(reason: string): void {
    this.fault ??= reason;
    if (Atomics.exchange(this.ring.header, H_HOLD, 1) === 0) this.screen.holds++;
    this.post({ type: 'end_episode' });
  }

  /** Stop the control loop; returns what it measured. */
  async stop(): Promise<RuntimeReport> {
    const statsMsg = firstValueFrom(this.messages.pipe(filter((m) => m.type === 'stats' || m.type === 'error'), take(1)));
    this.post({ type: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    // a control thread that does not answer within 5 s is terminated without its statistics
    const m = await Promise.race([statsMsg, new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), 5000); })]);
    clearTimeout(timer);
    await this.worker.terminate();
    this.faults.dispose();
    await this.world.close();
    const stats: LoopStats | undefined = m && m.type === 'stats' ? m.stats : undefined;
    return {
      control: stats?.counters ?? { ticks: 0, underruns: 0, startup_ticks: 0, stale_actions_executed: 0, seams: 0, seam_jump_sum: 0, seam_jump_max: 0, within_steps: 0, within_step_sum: 0, fault_hold_ticks: 0 },
      hz: this.opts.control_hz,
      overruns: stats?.overruns ?? 0,
      jitter_ms: stats?.jitter_ms ?? [],
      buffer: this.buffer.stats,
      latency: this.latency,
      stale_observations: this.stale_observations,
      safety: { clamped_actions: stats?.clamped_actions ?? 0, rejected_chunks: this.screen.rejected_chunks, holds: this.screen.holds },
      driver: { kind: this.driverKind, faults: stats?.driver.faults ?? {}, ...this.faults.summary(monotonicMs()), command_t_mono_ms: stats?.driver.command_t_mono_ms },
    };
  }

  private async inferOnce(): Promise<void> {
    // measured from the decision to ask, not from the observation: the trigger has to plan for the
    // wait until the control thread takes the observation (up to a tick) as well
    const asked = monotonicMs();
    const asked_tick = this.ring.executedTick();
    const msg = await this.requestObservation();
    const age_ms = monotonicMs() - msg.t_mono_ms;
    if (age_ms > (this.opts.stale_observation_ms ?? DEFAULT_STALE_OBSERVATION_MS)) {
      this.stale_observations++;
      return;
    }
    const view = this.world.view(msg, this.wantedCameras());
    const now = monotonicMs();
    const staleImage = view.images.find((img) => now - img.t_mono_ms > (this.opts.stale_image_ms ?? DEFAULT_STALE_IMAGE_MS));
    if (staleImage) {
      this.stale_observations++;
      this.watchStaleCamera(staleImage, now);
      return;
    }
    this.cameraStaleSince = undefined;
    const obs = this.observation(msg, view, asked_tick);
    let chunk;
    try {
      chunk = await this.policy.infer(obs);
      const extra = this.injector.sample_ms();
      if (extra > 0) await new Promise((r) => setTimeout(r, extra));
    } catch (err) {
      this.hold(`inference failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.latency.record(monotonicMs() - asked);
    // planned from a state measured before a driver fault: never inserted (motion resumes from a fresh one)
    if (!this.faults.ok || this.faults.lastFaultStart_ms > asked) return;
    const problem = this.screen.screen(chunk);
    if (problem) {
      this.hold(`rejected a chunk from the policy: ${problem}`);
      return;
    }
    this.buffer.insert(chunk, this.ring.executedTick());
  }

  /**
   * A camera whose newest frame is too old stops inference, so the buffer runs out and the robot holds;
   * if no fresh frame comes within the fault timeout the run ends with the camera named (exit 1).
   */
  private watchStaleCamera(img: CameraImage, now: number): void {
    this.cameraStaleSince ??= now;
    const timeout_ms = this.opts.fault_timeout_ms ?? DEFAULT_FAULT_TIMEOUT_MS;
    if (now - this.cameraStaleSince <= timeout_ms) return;
    const age_s = ((now - img.t_mono_ms) / 1000).toFixed(1);
    this.hold(`camera '${img.name}' stale: its newest frame is ${age_s} s old (no inference on frames older than ${this.opts.stale_image_ms ?? DEFAULT_STALE_IMAGE_MS} ms) for more than ${(timeout_ms / 1000).toFixed(1)} s`);
  }

  /** One inference before the robot moves: pays the cold start and measures the latency. */
  private async warmUp(): Promise<void> {
    const asked = monotonicMs();
    const msg = await this.requestObservation();
    try {
      const chunk = await this.policy.infer(this.observation(msg, this.world.view(msg, this.wantedCameras()), this.ring.executedTick()));
      const extra = this.injector.sample_ms();
      if (extra > 0) await new Promise((r) => setTimeout(r, extra));
      const problem = this.screen.screen(chunk);
      if (problem) { this.hold(`rejected a chunk from the policy: ${problem}`); return; }
    } catch (err) {
      this.hold(`inference failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.latency.record(monotonicMs() - asked);
  }

  private requestObservation(): Promise<ObservationMessage> {
    const next = firstValueFrom(this.messages.pipe(filter((m): m is ObservationMessage => m.type === 'observation'), take(1)));
    this.post({ type: 'observe' });
    return next;
  }

  /** `asked_tick`: the tick when the trigger fired; the chunk is expected to land a delay after it. */
  private observation(m: ObservationMessage, view: WorldView, asked_tick: number): Observation {
    const state = stateVector(this.layout, m, new Float32Array(this.ring.dim)) as Float32Array;
    const desc = this.policy.describe();
    const committed = desc.max_committed > 0 ? this.buffer.committed(m.tick, Math.min(desc.max_committed, this.expectedDelayTicks())) : undefined;
    return { tick: m.tick, t_mono_ms: m.t_mono_ms, state, images: view.images, task: view.task, committed, first_tick_hint: Math.max(m.tick + 1, firstTickHint(asked_tick, this.buffer.remaining(asked_tick), this.latency.soonestTicks(this.dt_ms), this.expectedDelayTicks())) };
  }

  private wantedCameras(): { name: string; size: number }[] {
    return this.policy.describe().cameras.map((c) => ({ name: c.name, size: c.width }));
  }

  private expectedDelayTicks(): number {
    return Math.max(this.latency.estimateTicks(this.dt_ms), this.opts.fixed_delay_ticks ?? 0);
  }

  private post(m: ToWorker): void {
    this.port.postMessage(m);
  }
}
