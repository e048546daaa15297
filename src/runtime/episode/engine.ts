// The episode engine, one episode loop for every use (real time, robot or sim; virtual clock; expert demos; replay;
// RL). It owns the trigger, warm-up, observations, chunk screening, buffer insertion, holds and faults; the control
// loop it talks to (ControlPort) and the clock it keeps (EngineClock) are what differ.
//
//   ticks$ (every tick the control loop executed)
//     -> filter: actions left (and promised by requests out) <= expected delay + margin, driver healthy,
//        no fault, fewer than max_in_flight requests out (triggers beyond are dropped, never queued)
//     -> mergeMap: observe -> world view (cameras; frames too old: skip) -> policy.infer -> charged latency
//     -> screen (an older chunk never lands after a newer one) -> ActionBuffer.insert (drops what the
//        control loop has already executed)
// A policy that cannot be reached for now is a fault like a driver's (policy-outage.ts).

import { filter, mergeMap, Observable, tap } from 'rxjs';
import {
  type ActionChunk,
  type CameraImage,
  type Observation,
  type Policy,
  PolicyUnavailable,
} from '../../policy/policy.js';
import { ActionBuffer } from '../action-buffer.js';
import { H_HOLD } from '../action-ring.js';
import { DEFAULT_STALE_IMAGE_MS, DEFAULT_STALE_STATE_MS, FreshnessWatch } from '../control/freshness.js';
import type { ControlPort } from '../control/port.js';
import type { LoopStats, ObservationMessage } from '../control/protocol.js';
import type { TickRecord } from '../control/tick-board.js';
import type { EpisodeOutcome, RuntimeOptions, RuntimeReport, TickRecorder } from '../runtime-types.js';
import { chunkProblem } from '../safety.js';
import { LatencyEstimator } from '../timing/latency-estimator.js';
import { coveredTicks, expectedDelayTicks, shouldInfer } from '../timing/trigger.js';
import type { CameraWant, WorldLink } from '../world-link.js';
import type { EngineClock } from './clocks.js';
import { InFlight } from './in-flight.js';
import { buildObservation } from './observation.js';
import { PolicyOutage } from './policy-outage.js';
import { runtimeReport } from './report.js';

const DEFAULT_FAULT_TIMEOUT_MS = 5000;
/** A warm-up call that found the policy unreachable (a server still starting) is asked again after (ms). */
const WARM_UP_RETRY_MS = 200;
/** Timed calls that make the virtual clock's measured latency model. */
const LATENCY_MODEL_CALLS = 10;

export interface EpisodeRequest {
  seed: number;
  /** End the episode after this many ticks, if the task has not ended it. */
  max_ticks?: number;
  recorder?: TickRecorder;
}

export class EpisodeEngine {
  readonly buffer: ActionBuffer;
  readonly latency: LatencyEstimator;
  private readonly freshness: FreshnessWatch;
  private readonly dt_ms: number;
  private readonly wanted: CameraWant[];
  private episode = 0;
  private fault: string | undefined;
  private warmingUp = false;
  private successSeen = false;
  private cameraStaleSince: number | undefined;
  private rejected_chunks = 0;
  /** Calls that returned no usable chunk before their latency was measured (the warm-up's): still calls. */
  private unmeasured_calls = 0;
  private holds = 0;
  /** Settles when the policy's last request has (its chunk is dropped if its episode is over). */
  private policyBusy: Promise<void> | undefined;
  /** Ticks seen on the board (the report's count when the control thread died with its statistics). */
  private ticks_seen = 0;
  private stale_observations = 0;
  private readonly inFlight: InFlight;
  private readonly outage = new PolicyOutage();

  constructor(
    private readonly port: ControlPort,
    private readonly policy: Policy,
    private readonly world: WorldLink,
    private readonly clock: EngineClock,
    private readonly opts: RuntimeOptions,
  ) {
    this.buffer = new ActionBuffer(port.ring, { blend: opts.blend, fixed_delay_ticks: opts.fixed_delay_ticks });
    this.latency = new LatencyEstimator({ prior_ms: opts.latency_prior_ms });
    this.freshness = new FreshnessWatch(
      opts.stale_observation_ms ?? DEFAULT_STALE_STATE_MS,
      opts.stale_image_ms ?? DEFAULT_STALE_IMAGE_MS,
    );
    this.dt_ms = 1000 / port.description.control_hz;
    this.wanted = policy.describe().cameras.map((c) => ({ name: c.name, size: c.width }));
    this.inFlight = new InFlight(opts.max_in_flight ?? 1);
  }

  async runEpisode(req: EpisodeRequest): Promise<EpisodeOutcome> {
    const { seed } = req;
    this.beginEpisode(seed);
    // a request of the last episode still in the policy (it ended while one was asked): the policy serves one
    // request at a time, so the first of this episode waits for it
    await this.policyBusy;
    if (this.world.reset) {
      try {
        await this.world.reset(seed);
      } catch (err) {
        return { seed, success: false, ticks: 0, fault: `cannot reset the episode: ${(err as Error).message}` };
      }
    }
    const why = await this.port.start(seed, req.max_ticks);
    if (why) return { seed, success: false, ticks: 0, fault: `cannot start the episode: ${why}`, link_lost: true };
    const ended = this.port.ended();
    const episode = this.episode;
    const pipeline = ticks(this.port)
      .pipe(
        tap((r) => this.watchTick(r, req.recorder)),
        filter((r) => this.wantsChunk(r)),
        mergeMap(() => this.inference(episode), this.inFlight.max),
      )
      .subscribe();
    if (this.latency.calls === 0) {
      // one request at a time: the trigger waits for the warm-up
      this.warmingUp = true;
      await this.warmUp(ended);
      this.warmingUp = false;
      // the warm-up must leave nothing behind in a stateful policy (an expert would keep its plan)
      this.policy.reset?.(seed);
    }
    const end = await ended;
    pipeline.unsubscribe();
    const fault = this.fault ?? end.fault;
    return {
      seed,
      success: this.world.success ? this.world.success() : end.success,
      ticks: end.ticks,
      ...(fault ? { fault } : {}),
      ...(this.fault === undefined && end.link_lost ? { link_lost: true } : {}),
      ...(end.task_outcome ? { task_outcome: end.task_outcome } : {}),
    };
  }

  /**
   * The state after the next executed tick, with what only the control side has (the sim's scene): for a
   * recorder that renders camera frames off the control thread. Unanswered while no episode runs.
   */
  observe(): Promise<ObservationMessage> {
    return this.port.observe();
  }

  /** Between episodes: undefined when the robot could start one now, else why not (nothing moves). */
  robotReady(): Promise<string | undefined> {
    return this.port.probe();
  }

  /** Stop the robot where it is (a fault, or the user pressed Ctrl-C) and end the episode. */
  hold(reason: string): void {
    this.fault ??= reason;
    if (Atomics.exchange(this.port.ring.header, H_HOLD, 1) === 0) this.holds++;
    this.port.requestEnd(reason);
  }

  /** Stop the control loop and the world; what was measured. */
  async stop(): Promise<RuntimeReport> {
    const stats = await this.port.stop();
    await this.world.close();
    return this.report(stats);
  }

  private beginEpisode(seed: number): void {
    this.episode++;
    this.fault = undefined;
    this.warmingUp = false;
    this.successSeen = false;
    this.cameraStaleSince = undefined;
    this.outage.recovered();
    this.inFlight.reset();
    this.port.ring.clear();
    Atomics.store(this.port.ring.header, H_HOLD, 0);
    this.policy.reset?.(seed);
  }

  /** What every tick feeds besides the trigger: the recorder, and the end of a succeeded episode. */
  private watchTick(r: TickRecord, recorder: TickRecorder | undefined): void {
    this.ticks_seen++;
    if (recorder && r.command) recorder.tick(r.state, r.command, r.tick - 1, r.source, r.t_ms);
    if (!this.successSeen && this.world.success?.()) {
      // the episode ends right after the world reports success, as the sim ends it itself
      this.successSeen = true;
      this.port.requestEnd();
    }
  }

  /** The trigger: the buffer is about to run shorter than the expected delay, and nothing stands in the way. */
  private wantsChunk(r: TickRecord): boolean {
    if (this.warmingUp || this.fault || r.health !== 'ok' || this.inFlight.full) return false;
    if (!this.outage.mayAsk(this.clock.now())) return false;
    const k = this.port.ring.executedTick();
    const covered = coveredTicks(this.buffer, this.inFlight, k);
    return shouldInfer(covered, this.expectedDelay(), this.opts.margin_ticks);
  }

  /**
   * One inference as a stream that completes the moment its chunk has landed (or was given up), so
   * exhaustMap admits the next trigger from the very tick after the landing, on either clock.
   */
  private inference(episode: number): Observable<never> {
    return new Observable<never>((sub) => {
      const d = this.policy.describe();
      const ticket = this.inFlight.ask(this.port.ring.executedTick(), d.action_offset, d.horizon);
      void this.inferOnce(episode, () => {
        this.inFlight.settle(ticket);
        sub.complete();
      });
    });
  }

  private async inferOnce(episode: number, done: () => void): Promise<void> {
    // measured from the decision to ask, not from the observation: the trigger has to plan for the wait
    // until the control loop takes the observation (up to a tick) as well
    const asked = this.clock.now();
    try {
      const chunk = await this.clock.work(this.observeAndInfer(this.port.ring.executedTick(), episode));
      if (!chunk || episode !== this.episode) {
        done();
        return;
      }
      const latency_ms = this.clock.charge(asked);
      await this.clock.deliver(asked + latency_ms, () => {
        done();
        this.land(chunk, asked, latency_ms, episode);
      });
    } catch (err) {
      done();
      if (episode !== this.episode) return;
      if (err instanceof PolicyUnavailable) this.policyUnavailable(err);
      else this.hold(`inference failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The policy cannot be reached now: hold on (the buffer runs out) and ask again, up to the fault timeout. */
  private policyUnavailable(err: PolicyUnavailable): void {
    const timeout_ms = this.opts.fault_timeout_ms ?? DEFAULT_FAULT_TIMEOUT_MS;
    const fault = this.outage.failed(this.clock.now(), timeout_ms, err.message);
    if (fault) this.hold(fault);
  }

  /** The observation of now and the policy's chunk for it; undefined for one too old, or of the next episode. */
  private async observeAndInfer(asked_tick: number, episode: number): Promise<ActionChunk | undefined> {
    const msg = await this.port.observe();
    if (episode !== this.episode) return undefined;
    const now = this.clock.now();
    if (!this.freshness.stateIsFresh(msg.t_mono_ms, now)) {
      this.stale_observations++;
      return undefined;
    }
    const view = this.world.view(msg, this.wanted);
    const stale = view.images.find((img) => !this.freshness.imageIsFresh(img.t_mono_ms, now));
    if (stale) {
      this.stale_observations++;
      this.watchStaleCamera(stale, now);
      return undefined;
    }
    this.cameraStaleSince = undefined;
    const chunk = this.policy.infer(this.observation(msg, view, asked_tick));
    this.policyBusy = chunk.then(noop, noop);
    return chunk;
  }

  /** The chunk's latency has passed: it lands in the buffer, unless it must not. */
  private land(chunk: ActionChunk, asked: number, latency_ms: number, episode: number): void {
    if (episode !== this.episode) return;
    this.latency.record(latency_ms);
    this.outage.recovered();
    if (!this.inFlight.mayLand(chunk.obs_tick)) return;
    // planned from a state measured before a driver fault: motion resumes only from a fresh one
    if (this.port.lastFaultStart_ms() >= asked) return;
    const problem = chunkProblem(chunk, this.port.ring.dim);
    if (problem) {
      this.rejected_chunks++;
      this.hold(`rejected a chunk from the policy: ${problem}`);
      return;
    }
    this.buffer.insert(chunk, this.port.ring.executedTick());
  }

  /**
   * One inference before the robot moves: pays the cold start and measures the latency (on the virtual
   * clock without a given latency model, a few more calls make that model). The chunk is thrown away.
   * Asked again while the policy cannot be reached (a server starting), up to the fault timeout, and not
   * after the episode has ended (its time ran out, or a hold ended it).
   */
  private async warmUp(ended: Promise<unknown>): Promise<void> {
    let over = false;
    void ended.then(() => {
      over = true;
    });
    const give_up_ms = performance.now() + (this.opts.fault_timeout_ms ?? DEFAULT_FAULT_TIMEOUT_MS);
    for (;;) {
      const err = await this.warmUpOnce(ended);
      if (!(err instanceof PolicyUnavailable) || over || this.fault) return;
      this.outage.calls++;
      if (performance.now() > give_up_ms) {
        this.hold(`the policy could not be reached before the first action: ${err.message}`);
        return;
      }
      // through the clock: on the virtual clock no tick passes while the policy is being waited for
      await this.clock.work(new Promise((r) => setTimeout(r, WARM_UP_RETRY_MS)));
      if (over || this.fault) return;
    }
  }

  /** One warm-up call; a PolicyUnavailable is returned for the caller to retry, any other failure holds. */
  private async warmUpOnce(ended: Promise<unknown>): Promise<PolicyUnavailable | undefined> {
    const asked = this.clock.now();
    try {
      // the control loop sends observations only while the episode runs: one that has ended sends none
      const obs = await this.clock.work(
        Promise.race([
          this.port.observe().then((m) => this.observation(m, this.world.view(m, this.wanted), m.tick)),
          ended.then(() => undefined),
        ]),
      );
      if (obs === undefined) return;
      const chunk = await this.clock.work(this.policy.infer(obs));
      const problem = chunkProblem(chunk, this.port.ring.dim);
      if (problem) {
        this.unmeasured_calls++;
        this.rejected_chunks++;
        this.hold(`rejected a chunk from the policy: ${problem}`);
        return;
      }
      if (this.clock.needsLatencyModel) this.clock.setLatencyModel(await this.clock.work(this.timedCalls(obs)));
    } catch (err) {
      if (err instanceof PolicyUnavailable) return err;
      this.unmeasured_calls++;
      this.hold(`inference failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.latency.record(this.clock.charge(asked));
  }

  private async timedCalls(obs: Observation): Promise<number[]> {
    const samples: number[] = [];
    for (let i = 0; i < LATENCY_MODEL_CALLS; i++) {
      const t0 = performance.now();
      await this.policy.infer(obs);
      samples.push(performance.now() - t0);
    }
    return samples;
  }

  /**
   * A camera whose newest frame is too old stops inference, so the buffer runs out and the robot holds;
   * if no fresh frame comes within the fault timeout the run ends with the camera named.
   */
  private watchStaleCamera(img: CameraImage, now: number): void {
    this.cameraStaleSince ??= now;
    const timeout_ms = this.opts.fault_timeout_ms ?? DEFAULT_FAULT_TIMEOUT_MS;
    if (now - this.cameraStaleSince <= timeout_ms) return;
    const age_s = ((now - img.t_mono_ms) / 1000).toFixed(1);
    this.hold(
      `camera '${img.name}' stale: its newest frame is ${age_s} s old (no inference on frames older than ` +
        `${this.freshness.stale_image_ms} ms) for more than ${(timeout_ms / 1000).toFixed(1)} s`,
    );
  }

  private observation(m: ObservationMessage, view: Parameters<typeof buildObservation>[1], tick: number): Observation {
    return buildObservation(m, view, tick, {
      robot: this.port.description,
      policy: this.policy.describe(),
      buffer: this.buffer,
      latency: this.latency,
      dt_ms: this.dt_ms,
      expected_delay_ticks: this.expectedDelay(),
    });
  }

  private expectedDelay(): number {
    return expectedDelayTicks(this.latency, this.dt_ms, this.opts.fixed_delay_ticks);
  }

  private report(stats: LoopStats | undefined): RuntimeReport {
    return runtimeReport(stats, {
      hz: 1000 / this.dt_ms,
      buffer: this.buffer.stats,
      rejected_chunks: this.rejected_chunks,
      holds: this.holds,
      ticks_seen: this.ticks_seen,
      latency: this.latency,
      stale_observations: this.stale_observations,
      unmeasured_calls: this.unmeasured_calls,
      unavailable_calls: this.outage.calls,
      out_of_order_chunks: this.inFlight.out_of_order,
      max_in_flight: this.inFlight.max,
      latency_model: this.clock.latencyModelSpec() ?? null,
    });
  }
}

const noop = () => undefined;

/** Every tick the control loop executes, in order; unsubscribing stops listening. */
function ticks(port: ControlPort): Observable<TickRecord> {
  return new Observable<TickRecord>((sub) => port.onTick((r) => sub.next(r)));
}
