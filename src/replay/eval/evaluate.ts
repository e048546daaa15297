// vla-replay eval over many episodes: each is read (the next one while the policy works on this one), checked
// against the policy and robot (fit.ts), evaluated (episode-eval.ts) and merged into the totals; then the
// recommended execution horizon and the schedules it is compatible with. A damaged file stops the run naming
// it, or with keep_going is left out and listed.
import { type Quantiles, quantilesOf } from '../../latency/budget.js';
import type { Policy, PolicyDescription } from '../../policy/policy.js';
import { type Episode, EpisodeFileError } from '../../recording/index.js';
import type { RobotDescription } from '../../robot/index.js';
import type { BlendMode } from '../../runtime/action-buffer.js';
import { LatencyEstimator } from '../../runtime/timing/latency-estimator.js';
import { expectedDelayTicks } from '../../runtime/timing/trigger.js';
import { type EpisodeSource, EpisodeSourceError } from '../sources.js';
import { emptyBufferState, evaluateEpisode } from './episode-eval.js';
import { EpisodeView } from './episode-view.js';
import { checkRecording, EvalInputError } from './fit.js';
import { compatibleSchedule, recommendedHorizon, type ScheduleFit, scheduleFit } from './horizon.js';
import { type ObservationSetup, recordedObservation } from './observation.js';
import type { ScheduleParams } from './schedule.js';
import {
  dimensionUnits,
  type EpisodeReport,
  EvalTotals,
  episodeReport,
  type FanEpisode,
  type OverallReport,
  WorstEpisodes,
} from './summary.js';

export interface EvalSettings {
  stride: number;
  /** Ticks from asking to landing; 'auto': measured as the runtime measures it (p90 of timed calls). */
  delay: number | 'auto';
  margin_ticks: number;
  blend: BlendMode;
  /** Threshold of the horizon recommendation per dimension name; `default` for the others. */
  max_l1: { default: number; by_name: Record<string, number> };
  keep_going: boolean;
  allow_robot_mismatch: boolean;
  /** Episodes kept for the fan plots. */
  worst_kept: number;
  onProgress?: (done: number, total: number, note: string) => void;
}

export interface EvalInput {
  policy: Policy;
  robot: RobotDescription;
  sources: EpisodeSource[];
  /** The first readable episode, already read to choose the robot (and its place in `sources`). */
  first: { index: number; episode: Episode };
  /** Sources before it that could not be read (keep_going). */
  skipped: SkippedEpisode[];
}

export interface SkippedEpisode {
  episode: string;
  reason: string;
}

export interface Recommendation {
  horizon: number;
  max_l1: Record<string, number>;
  limited_by: string | null;
  /** The horizon other thresholds (the same for every dimension) would give, to see how sensitive it is. */
  horizon_by_max_l1: Record<string, number>;
  max_delay_ticks: number | null;
  max_delay_ms: number | null;
  margin_ticks: number | null;
  /** What the evaluated schedule (--delay, --margin) executes, and whether it stays within the horizon. */
  evaluated_schedule: ScheduleFit & { within_horizon: boolean };
}

export interface EvalResult {
  delay_ticks: number;
  delay_source: string;
  inference: { calls: number; open_loop_calls: number; schedule_calls: number; round_trip_ms: Quantiles };
  overall: OverallReport;
  per_episode: EpisodeReport[];
  worst_episodes: { label: string; l1_mean: number }[];
  recommendation: Recommendation;
  skipped: SkippedEpisode[];
  /** Kept for the plots, not the JSON. */
  fan: FanEpisode[];
}

export async function evaluate(input: EvalInput, s: EvalSettings): Promise<EvalResult> {
  const run = await prepare(input, s);
  const acc = await evaluateAll(input, s, run);
  const names = [...input.robot.action_names];
  const { totals, per_episode } = acc;
  return {
    delay_ticks: run.schedule.delay_ticks,
    delay_source: run.delay_source,
    inference: {
      calls: totals.call_ms.length,
      open_loop_calls: totals.open_calls,
      schedule_calls: totals.schedule_calls,
      round_trip_ms: quantilesOf(totals.call_ms),
    },
    overall: totals.report(names, dimensionUnits(input.robot)),
    per_episode,
    worst_episodes: [...per_episode]
      .filter((e) => e.chunks > 0)
      .sort((a, b) => b.l1.mean - a.l1.mean)
      .slice(0, 10)
      .map((e) => ({ label: e.label, l1_mean: e.l1.mean })),
    recommendation: await recommend(totals, run.schedule, names, s.max_l1, run.setup.dt_ms),
    skipped: acc.skipped,
    fan: acc.worst.kept,
  };
}

interface Run {
  setup: ObservationSetup;
  schedule: ScheduleParams;
  delay_source: string;
  firstView: EpisodeView;
}

/** The first episode checked, the delay measured when asked to, the schedule's parameters. */
async function prepare(input: EvalInput, s: EvalSettings): Promise<Run> {
  const { policy, robot } = input;
  const desc = policy.describe();
  const setup = { robot, policy: desc, dt_ms: 1000 / robot.control_hz };
  const firstView = new EpisodeView(input.first.episode);
  checkRecording(input.first.episode, fitTarget(input, s));
  const delay = s.delay === 'auto' ? await measureDelay(policy, firstView, setup) : undefined;
  const schedule: ScheduleParams = {
    delay_ticks: delay?.ticks ?? (s.delay as number),
    margin_ticks: s.margin_ticks,
    blend: s.blend,
    horizon: desc.horizon,
    offset: desc.action_offset,
    dim: desc.action_dim,
  };
  const delay_source = delay ? `measured: p90 of ${delay.calls} timed calls after a warm-up` : 'given (--delay)';
  return { setup, schedule, delay_source, firstView };
}

interface Accumulated {
  totals: EvalTotals;
  per_episode: EpisodeReport[];
  worst: WorstEpisodes;
  skipped: SkippedEpisode[];
}

/** Every episode from the first readable one on: read (one ahead), checked, evaluated, merged. */
async function evaluateAll(input: EvalInput, s: EvalSettings, run: Run): Promise<Accumulated> {
  const { policy, robot, sources } = input;
  const { horizon, dim } = run.schedule;
  const names = [...robot.action_names];
  const units = dimensionUnits(robot);
  const acc: Accumulated = {
    totals: new EvalTotals(horizon, dim),
    per_episode: [],
    worst: new WorstEpisodes(s.worst_kept),
    skipped: [...input.skipped],
  };
  // chunks drawn in the fan plots: about two per chunk length, on ticks the stride evaluates
  const fan_every = Math.max(1, Math.ceil(Math.ceil(horizon / 2) / s.stride)) * s.stride;
  const reader = new Prefetch(sources, input.first, s.keep_going, acc.skipped);
  for (let i = input.first.index; i < sources.length; i++) {
    const src = sources[i];
    s.onProgress?.(i, sources.length, src.label);
    const ep = await reader.get(i);
    if (!ep) continue;
    checkRecording(ep, fitTarget(input, s));
    const view = i === input.first.index ? run.firstView : new EpisodeView(ep);
    const params = { stride: s.stride, schedule: run.schedule, fan_every };
    const e = await evaluateEpisode(view, policy, run.setup, params);
    acc.totals.add(e, ep.ticks);
    const meta = { label: src.label, origin: src.origin, outcome: ep.outcome, ticks: ep.ticks };
    const rep = episodeReport(meta, e, names, units);
    acc.per_episode.push(rep);
    if (e.chunks > 0 && acc.worst.wants(rep.l1.mean)) acc.worst.offer(fanEpisode(rep, view, e.fan, robot));
  }
  s.onProgress?.(sources.length, sources.length, 'done');
  return acc;
}

/**
 * The first episode that reads (its robot says which profile and policy check apply); sources before it that do
 * not read are skipped with keep_going, else the first failure stops everything.
 */
export async function readFirstEpisode(
  sources: EpisodeSource[],
  keep_going: boolean,
): Promise<{ first: EvalInput['first']; skipped: SkippedEpisode[] }> {
  const reader = new Prefetch(sources, undefined, keep_going, []);
  for (let i = 0; i < sources.length; i++) {
    const episode = await reader.get(i, false);
    if (episode) return { first: { index: i, episode }, skipped: reader.skipped };
  }
  const why = reader.skipped[0];
  throw new EvalInputError(`none of the ${sources.length} episodes could be read (${why?.episode}: ${why?.reason})`);
}

function fitTarget(input: EvalInput, s: EvalSettings) {
  const policy = input.policy.describe() as PolicyDescription & { robot?: string; action_names?: string[] };
  return { robot: input.robot, policy, allow_robot_mismatch: s.allow_robot_mismatch };
}

/** Timed calls the delay is measured from, after one warm-up (as the engine's virtual clock does). */
const DELAY_CALLS = 10;

/**
 * The delay the runtime would plan with for this policy on this machine: a warm-up call, then timed calls on the
 * first observation, through the runtime's LatencyEstimator (the warm-up excluded) and expectedDelayTicks.
 */
async function measureDelay(
  policy: Policy,
  view: EpisodeView,
  setup: ObservationSetup,
): Promise<{ ticks: number; calls: number }> {
  const row = view.firstRowWithFrames(setup.policy.cameras.map((c) => c.name));
  if (row >= view.rows) throw new EvalInputError(`${view.episode.path}: no tick with a frame from every camera`);
  const obs = recordedObservation(view, row, setup, emptyBufferState(setup.policy.action_dim, 0));
  const est = new LatencyEstimator({ window: DELAY_CALLS });
  for (let i = 0; i <= DELAY_CALLS; i++) {
    const t0 = performance.now();
    await policy.infer(obs);
    est.record(performance.now() - t0);
  }
  return { ticks: expectedDelayTicks(est, setup.dt_ms, undefined), calls: DELAY_CALLS };
}

/** Thresholds whose horizons are reported beside the chosen one (rad: about 0.6, 1.1, 2.9 and 5.7 degrees). */
const SENSITIVITY_MAX_L1 = [0.01, 0.02, 0.05, 0.1];

async function recommend(
  totals: EvalTotals,
  schedule: ScheduleParams,
  names: string[],
  max_l1: EvalSettings['max_l1'],
  dt_ms: number,
): Promise<Recommendation> {
  const limits = names.map((n) => max_l1.by_name[n] ?? max_l1.default);
  const mean_l1 = totals.open.meanMatrix();
  const horizonAt = (max: number[]) => recommendedHorizon({ mean_l1, dim_names: names, max_l1: max });
  const { horizon, limited_by } = horizonAt(limits);
  const horizon_by_max_l1 = Object.fromEntries(
    SENSITIVITY_MAX_L1.map((x) => [String(x), horizonAt(names.map(() => x)).horizon]),
  );
  const { delay_ticks: _d, margin_ticks: _m, ...timing } = schedule;
  const compatible = await compatibleSchedule(timing, horizon);
  const fit = await scheduleFit(timing, schedule.delay_ticks, schedule.margin_ticks);
  return {
    horizon,
    max_l1: Object.fromEntries(names.map((n, d) => [n, limits[d]])),
    limited_by,
    horizon_by_max_l1,
    ...compatible,
    max_delay_ms: compatible.max_delay_ticks === null ? null : compatible.max_delay_ticks * dt_ms,
    evaluated_schedule: { ...fit, within_horizon: fit.underruns === 0 && fit.last_index <= horizon },
  };
}

function fanEpisode(rep: EpisodeReport, view: EpisodeView, fan: EpisodeEvalFan, robot: RobotDescription): FanEpisode {
  const ep = view.episode;
  const D = view.dim;
  const J = ep.meta.joint_names.length;
  const G = ep.meta.gripper_names.length;
  const src = robot.action_source;
  const stateAt = (tick: number): Float32Array => {
    const row = view.rowOfTick(tick);
    const out = new Float32Array(D);
    for (let d = 0; d < D; d++)
      out[d] = src[d] >= 0 ? ep.position_rad[row * J + src[d]] : ep.gripper[row * G + (-1 - src[d])];
    return out;
  };
  return {
    label: rep.label,
    l1_mean: rep.l1.mean,
    action_ticks: ep.tick.map((t) => t + 1),
    actions: ep.action,
    chunks: fan.map((c) => ({ ...c, state: stateAt(c.obs_tick) })),
  };
}

type EpisodeEvalFan = Awaited<ReturnType<typeof evaluateEpisode>>['fan'];

/** Reads episode i + 1 while episode i is evaluated: the file's decoding overlaps the policy's inference. */
class Prefetch {
  private readonly pending = new Map<number, Promise<Episode | Error>>();

  constructor(
    private readonly sources: EpisodeSource[],
    private readonly first: { index: number; episode: Episode } | undefined,
    private readonly keep_going: boolean,
    readonly skipped: SkippedEpisode[],
  ) {}

  /** Episode i, or undefined when it was skipped; `ahead`: start reading i + 1 now. */
  async get(i: number, ahead = true): Promise<Episode | undefined> {
    const got = i === this.first?.index ? this.first.episode : await (this.pending.get(i) ?? this.start(i));
    this.pending.delete(i);
    if (ahead && i + 1 < this.sources.length && !this.pending.has(i + 1)) this.pending.set(i + 1, this.start(i + 1));
    if (!(got instanceof Error)) return got;
    const src = this.sources[i];
    if (this.keep_going) {
      this.skipped.push({ episode: src.label, reason: got instanceof EpisodeFileError ? got.problem : got.message });
      return undefined;
    }
    if (got instanceof EpisodeFileError || got instanceof EpisodeSourceError)
      throw new EvalInputError(`${got.message} (--keep-going evaluates the other episodes and lists this one)`);
    throw got;
  }

  private start(i: number): Promise<Episode | Error> {
    return this.sources[i]
      .read({ frames: true })
      .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  }
}
