// The runtime on a virtual clock (`--clock fast`, sim only): the same ring, buffer, trigger, safety and
// control ticker as in real time, but time only moves when the control loop sends a command. An
// inference still costs its latency: the measured (plus injected) milliseconds become a number of
// ticks during which the loop keeps draining the old buffer, and the chunk is inserted only then. So
// hundreds of episodes take minutes and show the same buffer behaviour as on the real clock.
import type { SimDriver } from '../../drivers/sim/sim-driver.js';
import type { JointState } from '../../drivers/driver.js';
import type { ActionChunk, CameraImage, Observation, Policy } from '../policy/policy.js';
import { ActionRing, DEFAULT_RING_TICKS, H_HOLD } from './action-ring.js';
import { ActionBuffer, firstTickHint, shouldInfer } from './action-buffer.js';
import { ControlTicker } from './control-ticker.js';
import { LatencyEstimator } from './latency.js';
import { SafetyFilter, safetyLimits } from './safety.js';
import { LatencyInjector } from './injected-latency.js';
import { stateLayout, stateVector } from './observation.js';
import type { EpisodeOutcome, RuntimeOptions, RuntimeReport, TickRecorder } from './runtime-types.js';

export class VirtualClockRuntime {
  readonly ring: ActionRing;
  readonly buffer: ActionBuffer;
  readonly safety: SafetyFilter;
  readonly ticker: ControlTicker;
  readonly latency: LatencyEstimator;
  private readonly injector: LatencyInjector;
  private readonly layout;
  private readonly dt_ms: number;
  private latest: JointState | undefined;
  private holdReason: string | undefined;

  constructor(private readonly driver: SimDriver, private readonly policy: Policy, private readonly opts: RuntimeOptions) {
    const desc = driver.describe();
    this.dt_ms = 1000 / desc.control_hz;
    this.ring = ActionRing.create({ capacity: DEFAULT_RING_TICKS, dim: desc.action_names.length }, false);
    this.buffer = new ActionBuffer(this.ring, { blend: opts.blend, fixed_delay_ticks: opts.fixed_delay_ticks });
    this.safety = new SafetyFilter(safetyLimits(desc, { max_step_rad: opts.max_step_rad }));
    this.ticker = new ControlTicker(this.ring, this.safety);
    this.latency = new LatencyEstimator({ prior_ms: opts.latency_prior_ms });
    this.injector = new LatencyInjector(opts.injected, opts.seed ?? 0);
    this.layout = stateLayout(desc);
    driver.state$.subscribe((s) => { this.latest = s; });
  }

  async runEpisode(seed: number, recorder?: TickRecorder, max_ticks = this.opts.max_ticks): Promise<EpisodeOutcome> {
    const driver = this.driver;
    driver.reset(seed);
    this.policy.reset?.(seed);
    this.ring.clear();
    Atomics.store(this.ring.header, H_HOLD, 0);
    const dim = this.ring.dim;
    const start = new Float64Array(dim);
    stateVector(this.layout, this.latest!, start);
    this.ticker.reset(start);
    let pending: { chunk: ActionChunk; arrival_tick: number } | undefined;
    this.holdReason = undefined;
    let fault = await this.warmUp();
    // the warm-up must leave nothing behind in a stateful policy (an expert would keep its plan)
    this.policy.reset?.(seed);

    while (!fault && !driver.done && (max_ticks === undefined || driver.tick < max_ticks)) {
      if (this.holdReason) {
        fault = this.holdReason;
        break;
      }
      const k_now = driver.tick; // the last tick executed; the next command is for k_now + 1
      if (pending && pending.arrival_tick <= k_now) {
        this.buffer.insert(pending.chunk, k_now);
        pending = undefined;
      }
      if (!pending && shouldInfer(this.buffer.remaining(k_now), this.expectedDelayTicks(), this.opts.margin_ticks)) {
        const obs = this.observe(this.latest!);
        const t0 = performance.now();
        let chunk: ActionChunk;
        try {
          chunk = await this.policy.infer(obs);
        } catch (err) {
          fault = `inference failed: ${err instanceof Error ? err.message : String(err)}`;
          break;
        }
        const latency_ms = performance.now() - t0 + this.injector.sample_ms();
        this.latency.record(latency_ms);
        const problem = this.safety.screen(chunk);
        if (problem) {
          fault = `rejected a chunk from the policy: ${problem}`;
          break;
        }
        const arrival_tick = k_now + Math.ceil(latency_ms / this.dt_ms);
        if (arrival_tick <= k_now) this.buffer.insert(chunk, k_now);
        else pending = { chunk, arrival_tick };
      }
      const cmd = this.ticker.next(k_now + 1);
      const state = this.latest!;
      if (cmd === null) {
        driver.hold();
      } else {
        recorder?.tick(state, cmd, k_now);
        driver.send(cmd);
      }
    }
    if (fault) {
      // stop where the robot is; nothing more comes from this policy
      Atomics.store(this.ring.header, H_HOLD, 1);
      this.safety.holds++;
      driver.hold();
    }
    return { seed, success: driver.success(), ticks: driver.tick, fault };
  }

  /**
   * One inference before the first episode moves the robot: it pays the policy's cold start and
   * measures its latency, so the first real trigger already knows how early to ask. The chunk is
   * thrown away.
   */
  private async warmUp(): Promise<string | undefined> {
    if (this.latency.summary().calls > 0) return undefined;
    const t0 = performance.now();
    try {
      const chunk = await this.policy.infer(this.observe(this.latest!));
      const problem = this.safety.screen(chunk);
      if (problem) return `rejected a chunk from the policy: ${problem}`;
    } catch (err) {
      return `inference failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    this.latency.record(performance.now() - t0 + this.injector.sample_ms());
    return undefined;
  }

  /** Stop the robot where it is (a fault, or the user pressed Ctrl-C); the episode ends at the next tick. */
  hold(reason: string): void {
    this.holdReason ??= reason;
  }

  report(): RuntimeReport {
    return {
      control: this.ticker.counters, hz: 1000 / this.dt_ms, overruns: 0, jitter_ms: [],
      buffer: this.buffer.stats, latency: this.latency, stale_observations: 0,
      safety: { clamped_actions: this.safety.clamped_actions, rejected_chunks: this.safety.rejected_chunks, holds: this.safety.holds },
    };
  }

  private expectedDelayTicks(): number {
    return Math.max(this.latency.estimateTicks(this.dt_ms), this.opts.fixed_delay_ticks ?? 0);
  }

  private observe(s: JointState): Observation {
    const state = stateVector(this.layout, s, new Float32Array(this.ring.dim)) as Float32Array;
    const desc = this.policy.describe();
    const images: CameraImage[] = desc.cameras.map((c) => {
      const f = this.driver.render(c.name, undefined, c.width);
      return { name: c.name, width: f.width, height: f.height, rgb: f.rgb, t_mono_ms: s.t_mono_ms };
    });
    const committed = desc.max_committed > 0 ? this.buffer.committed(s.tick, Math.min(desc.max_committed, this.expectedDelayTicks())) : undefined;
    return { tick: s.tick, t_mono_ms: s.t_mono_ms, state, images, task: this.driver.taskState(), committed, first_tick_hint: firstTickHint(s.tick, this.buffer.remaining(s.tick), this.latency.soonestTicks(this.dt_ms), this.expectedDelayTicks()) };
  }
}
