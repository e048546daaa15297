// The learner's side of a fine-tuning run, in rounds: each round a few training episodes run on the actors with
// exploration, their transitions join the online buffer, and the learner updates (RLPD: half of every batch from
// the base policy's own episodes). Rounds are pipelined one deep: round r runs with the weights trained on rounds
// 0..r-2, so actors work while the learner trains; which weights a round uses depends only on r, so a run repeats
// exactly and resumes exactly. Every few rounds a deterministic evaluation on held-out seeds decides the best
// checkpoint and guards against collapse.
import type * as TF from '@tensorflow/tfjs';
import { type FailureOutcome, failureOutcome } from '../runtime/episode/failure-outcome.js';
import { wilson } from '../util/stats.js';
import { judgeEvaluation } from './collapse-guard.js';
import type { FinetuneConfig } from './finetune-config.js';
import { captureLearner, restoreLearner } from './learner-state.js';
import type { EvalLine, RoundLine } from './metric-lines.js';
import { ReplayBuffer } from './replay-buffer.js';
import type { ActorWeights, EpisodeJob, RolloutPool } from './rollout-pool.js';
import { checkpointExists, learnerOfRound, markBest, type RunState, saveRunState } from './run-state.js';
import { type SacConfig, SacLearner, type UpdateMetrics } from './sac-learner.js';
import type { RolloutEpisode } from './sim-rollouts.js';
import { addEpisode } from './transitions.js';
import { type WarmStartLine, warmStart } from './warm-start.js';

export interface FinetuneHooks {
  line(
    l: RoundLine | EvalLine | WarmStartLine | { type: 'rollback' | 'stop' | 'offline'; [k: string]: unknown },
  ): Promise<void> | void;
  /** A checkpoint of `round` was written (`best`: it is the new best). */
  checkpointed?(round: number, best: boolean): Promise<void> | void;
  /** Asked at every round's end: stop now (Ctrl-C), after writing a checkpoint. */
  stopRequested?(): boolean;
  /** The warm start's progress: operator episodes, then fitting epochs. */
  warmStartProgress?(phase: 'episodes' | 'epochs', done: number, total: number): void;
}

export interface FinetuneContext {
  config: FinetuneConfig;
  runDir: string;
  tf: typeof TF;
  pool: RolloutPool;
  obs_dim: number;
  action_dim: number;
  hooks: FinetuneHooks;
  /** Stop after this many rounds in total, or once this much wall time has passed in this session. */
  budget: { rounds?: number; minutes?: number };
  now_s: () => number;
}

export type FinetuneEnd = { reason: 'budget' | 'collapse' | 'interrupted'; message: string; state: RunState };

export function sacConfig(c: FinetuneConfig, obs_dim: number, action_dim: number): SacConfig {
  const { hidden, critic_hidden } = c.residual;
  const critics = critic_hidden ? { critic_hidden } : {};
  return { ...c.learner, obs_dim, action_dim, hidden, ...critics, actor_last_scale: 0.01, seed: c.seed };
}

/** Sizes of the actor network: inputs, hidden layers, mean and log std per action dimension. */
export const actorSizes = (c: FinetuneConfig, obs_dim: number, action_dim: number): number[] => [
  obs_dim,
  ...c.residual.hidden,
  2 * action_dim,
];

/** A seed from (run seed, round, index, stream): stateless, so any round's jobs can be made again on resume. */
export function mixSeed(seed: number, round: number, index: number, stream: number): number {
  let h = (Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) ^ Math.imul(round + 1, 0x165667b1)) >>> 0;
  h =
    (Math.imul(h ^ (h >>> 15), 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35) ^ Math.imul(stream + 1, 0x9e3779b9)) >>>
    0;
  return (h ^ (h >>> 13)) >>> 0;
}

/** The trust region of round r (see the config's initial_bound). */
export function boundAt(c: FinetuneConfig, round: number): number {
  const { initial_bound: b0, bound_ramp_rounds: n } = c.schedule;
  return n > 0 ? Math.min(1, b0 + ((1 - b0) * Math.max(0, round)) / n) : 1;
}

export function trainingJobs(c: FinetuneConfig, round: number): EpisodeJob[] {
  return Array.from({ length: c.schedule.episodes_per_round }, (_, i) => ({
    seed: mixSeed(c.seed, round, i, 0) % c.train_seed_limit,
    explore_seed: mixSeed(c.seed, round, i, 1),
  }));
}

function evalJobs(c: FinetuneConfig): EpisodeJob[] {
  return Array.from({ length: c.schedule.eval_episodes }, (_, i) => ({
    seed: c.schedule.eval_seed0 + i,
    explore_seed: null,
  }));
}

/**
 * A fresh run's state: offline episodes of the base (residual near zero), then critic warm-up on them; with a warm
 * start, the actor fitted to the operator's episodes and evaluated (round 0).
 */
export async function initialState(ctx: FinetuneContext): Promise<RunState> {
  const { config: c, obs_dim: O, action_dim: A } = ctx;
  const t0 = ctx.now_s();
  const learner = new SacLearner(ctx.tf, sacConfig(c, O, A));
  try {
    const offline = new ReplayBuffer(c.schedule.buffer_capacity, O, A);
    const v0: ActorWeights = { version: 0, values: learner.actor.values() };
    const jobs = Array.from({ length: c.schedule.offline_episodes }, (_, i) => ({
      seed: mixSeed(c.seed, -1, i, 2) % c.train_seed_limit,
      explore_seed: null,
    }));
    const eps = jobs.length ? await ctx.pool.run(jobs, v0) : [];
    for (const ep of eps) addEpisode(offline, ep, O, A);
    for (let i = 0; i < c.schedule.warmup_updates && offline.size > 0; i++) learner.update(offline);
    const successes = eps.filter((e) => e.success).length;
    await ctx.hooks.line({ type: 'offline', episodes: eps.length, successes, transitions: offline.size });
    const demos = new ReplayBuffer(c.schedule.buffer_capacity, O, A);
    const warm = c.warm_start
      ? await warmStart(c, c.warm_start, ctx.pool, learner, demos, mixSeed(c.seed, -2, 0, 2), {
          progress: ctx.hooks.warmStartProgress,
        })
      : undefined;
    if (warm) await ctx.hooks.line(warm);
    const s: RunState = {
      round: 0,
      learner: captureLearner(learner),
      pipeline_actor: warm ? learner.actor.values() : v0.values,
      online: new ReplayBuffer(c.schedule.buffer_capacity, O, A).state(),
      offline: offline.state(),
      ...(warm ? { interventions: demos.state() } : {}),
      best: null,
      collapses: 0,
      lr: { critic: c.learner.lr, actor: c.learner.actor_lr },
      counters: {
        episodes: eps.length + (warm?.episodes ?? 0),
        env_ticks: sumTicks(eps) + (warm?.env_ticks ?? 0),
        updates: learner.updates,
        train_successes: 0,
        // the learning curve's clock includes the offline episodes and the warm start
        wall_s: ctx.now_s() - t0,
      },
      recent: [],
    };
    if (!warm || c.schedule.eval_episodes === 0) return s;
    // the warm-started actor is a residual in its own right: evaluated as round 0, the selection may choose it
    const judged = await evaluate(ctx, s, { version: 0, values: learner.actor.values(), bound: boundAt(c, 1) });
    return { ...s, best: judged.best, counters: { ...s.counters, wall_s: ctx.now_s() - t0 } };
  } finally {
    learner.dispose();
  }
}

/** Runs rounds from `state` until the budget ends or the collapse guard stops the run. */
export async function runRounds(ctx: FinetuneContext, start: RunState): Promise<FinetuneEnd> {
  const { config: c, obs_dim: O, action_dim: A } = ctx;
  let s = start;
  let learner = withRates(restoreLearner(ctx.tf, s.learner), s.lr);
  const online = ReplayBuffer.fromState(s.online);
  const offline = ReplayBuffer.fromState(s.offline);
  const demos = s.interventions
    ? ReplayBuffer.fromState(s.interventions)
    : new ReplayBuffer(c.schedule.buffer_capacity, O, A);
  const buffers = () => ({ online: online.state(), offline: offline.state(), interventions: demos.state() });
  const session_t0 = ctx.now_s();
  const wall0 = s.counters.wall_s;
  const rate = (now: RunState) => {
    const dt = Math.max(1e-6, ctx.now_s() - session_t0);
    return {
      env_ticks_per_s: (now.counters.env_ticks - start.counters.env_ticks) / dt,
      updates_per_s: (now.counters.updates - start.counters.updates) / dt,
    };
  };
  // round r runs with v_{r-1}: the round in flight at the checkpoint uses pipeline_actor, the next the learner's
  const weightsFor = (round: number, w: ActorWeights): ActorWeights => ({ ...w, bound: boundAt(c, round) });
  let inFlight = ctx.pool.run(
    trainingJobs(c, s.round),
    weightsFor(s.round, { version: s.round - 1, values: s.pipeline_actor }),
  );
  inFlight.catch(() => undefined);
  let current: ActorWeights = { version: s.round, values: learner.actor.values() };
  // a round the budget will not reach is not run (on a robot, four episodes nobody would learn from)
  const within = (round: number) => ctx.budget.rounds === undefined || round < ctx.budget.rounds;
  const dispatch = (round: number): Promise<RolloutEpisode[]> => {
    const p = within(round) ? ctx.pool.run(trainingJobs(c, round), weightsFor(round, current)) : Promise.resolve([]);
    p.catch(() => undefined); // handled where it is awaited; a round never awaited (the run ended) is not an error
    return p;
  };
  let next = dispatch(s.round + 1);
  /** Ctrl-C stopped the episodes: keep a checkpoint of what was learnt (round s.round's, if it has none yet). */
  const interruptedAt = async (now: RunState): Promise<FinetuneEnd> => {
    let st = now;
    if (!(await checkpointExists(ctx.runDir, st.round))) {
      st = { ...st, learner: captureLearner(learner), ...buffers() };
      await saveRunState(ctx.runDir, st);
      await ctx.hooks.checkpointed?.(st.round, false);
    }
    const message = `interrupted in round ${st.round + 1}; resumes after round ${st.round}`;
    return { reason: 'interrupted', message, state: st };
  };
  try {
    for (;;) {
      let eps: RolloutEpisode[];
      try {
        eps = await inFlight;
      } catch (err) {
        // Ctrl-C on a robot ends the episode in progress at once (its actor holds): the round is lost, not the run
        if (!ctx.hooks.stopRequested?.()) throw err;
        return await interruptedAt(s);
      }
      inFlight = next;
      learner.actionBound = boundAt(c, s.round + 2); // the weights trained now first run in round + 2
      const metrics = trainOn(learner, eps, { online, offline, demos }, c, O, A);
      const previous = current;
      current = { version: s.round + 1, values: learner.actor.values() };
      s = advance(s, eps, learner, previous.values, wall0 + ctx.now_s() - session_t0);
      await ctx.hooks.line({ ...roundLine(s, eps, metrics), ...rate(s) });
      if (s.round % c.schedule.eval_every_rounds === 0) {
        const judged = c.schedule.eval_episodes > 0 ? evaluate(ctx, s, weightsFor(s.round + 1, current)) : null;
        const verdict = judged ? await judged.catch(() => null) : notJudged(s);
        if (!verdict) {
          if (!ctx.hooks.stopRequested?.()) await judged; // throws its error
          return await interruptedAt(s);
        }
        s = { ...s, best: verdict.best };
        if (verdict.kind === 'stop') return { reason: 'collapse', message: verdict.why, state: s };
        if (verdict.kind === 'rollback') {
          learner.dispose();
          ({ learner, s } = await rollback(ctx, s, verdict.to_round, verdict.why));
          current = { version: s.round, values: learner.actor.values() };
        }
        s = { ...s, learner: captureLearner(learner), ...buffers() };
        await saveRunState(ctx.runDir, s);
        if (verdict.kind === 'best' && s.best) await markBest(ctx.runDir, s.best);
        await ctx.hooks.checkpointed?.(s.round, verdict.kind === 'best');
      }
      const minutes = (ctx.now_s() - session_t0) / 60;
      const interrupted = ctx.hooks.stopRequested?.() ?? false;
      const spent =
        (ctx.budget.rounds !== undefined && s.round >= ctx.budget.rounds) ||
        minutes >= (ctx.budget.minutes ?? Infinity);
      if (interrupted || spent) {
        await inFlight.catch(() => undefined); // let the actors finish what they hold
        s = { ...s, learner: captureLearner(learner), ...buffers() };
        await saveRunState(ctx.runDir, s);
        await ctx.hooks.checkpointed?.(s.round, false);
        const reason = interrupted ? 'interrupted' : 'budget';
        return {
          reason,
          message: `stopped after round ${s.round} (${interrupted ? 'interrupted' : 'budget'})`,
          state: s,
        };
      }
      next = dispatch(s.round + 1);
    }
  } finally {
    learner.dispose();
  }
}

function trainOn(
  learner: SacLearner,
  eps: RolloutEpisode[],
  b: { online: ReplayBuffer; offline: ReplayBuffer; demos: ReplayBuffer },
  c: FinetuneConfig,
  O: number,
  A: number,
): UpdateMetrics | null {
  let added = 0;
  for (const ep of eps) {
    added += addEpisode(b.online, ep, O, A);
    // DAgger: the operator's label of every decision the actor made, for the actor to imitate
    if (ep.labels) addEpisode(b.demos, { ...ep, u: ep.labels }, O, A);
    if (ep.interventions.length === 0) continue;
    // HIL-SERL: the operator's decisions are demonstrations too, in the offline half of every batch, and in a
    // buffer of their own that the actor imitates (already there when every decision is labelled)
    const taken = new Set(ep.interventions);
    addEpisode(b.offline, ep, O, A, taken);
    if (!ep.labels) addEpisode(b.demos, ep, O, A, taken);
  }
  const updates = Math.round(added * c.schedule.updates_per_transition);
  let last: UpdateMetrics | null = null;
  for (let i = 0; i < updates && b.online.size > 0; i++) last = learner.update(b.online, b.offline, b.demos);
  return last;
}

function advance(
  s: RunState,
  eps: RolloutEpisode[],
  l: SacLearner,
  pipeline: Float32Array[],
  wall_s: number,
): RunState {
  const wins = eps.filter((e) => e.success).length;
  return {
    ...s,
    round: s.round + 1,
    pipeline_actor: pipeline,
    counters: {
      episodes: s.counters.episodes + eps.length,
      env_ticks: s.counters.env_ticks + sumTicks(eps),
      updates: l.updates,
      train_successes: s.counters.train_successes + wins,
      wall_s,
    },
    recent: [...s.recent, ...eps.map((e) => (e.success ? 1 : 0))].slice(-50),
  };
}

function withRates(l: SacLearner, lr: RunState['lr']): SacLearner {
  l.criticOpt.lr = lr.critic;
  l.actorOpt.lr = lr.actor;
  return l;
}

function roundLine(
  s: RunState,
  eps: RolloutEpisode[],
  m: UpdateMetrics | null,
): Omit<RoundLine, 'updates_per_s' | 'env_ticks_per_s'> {
  const A = eps[0]?.mean_abs_u.length ?? 0;
  const abs = Array.from({ length: A }, (_, j) => eps.reduce((x, e) => x + e.mean_abs_u[j], 0) / eps.length);
  const ticks = sumTicks(eps);
  return {
    type: 'round',
    round: s.round,
    wall_s: s.counters.wall_s,
    episodes: s.counters.episodes,
    env_ticks: s.counters.env_ticks,
    updates: s.counters.updates,
    train_success: eps.filter((e) => e.success).length / Math.max(1, eps.length),
    train_success_last50: s.recent.reduce((a, b) => a + b, 0) / Math.max(1, s.recent.length),
    episode_ticks_mean: ticks / Math.max(1, eps.length),
    metrics: m,
    residual_abs_u: abs.map((x) => Math.round(x * 1e4) / 1e4),
    intervention_rate: eps.reduce((n, e) => n + e.interventions.length, 0) / Math.max(1, stepsOf(eps)),
    lr: s.lr,
  };
}

async function evaluate(
  ctx: FinetuneContext,
  s: RunState,
  weights: ActorWeights,
): Promise<{ kind: 'best' | 'ok' | 'rollback' | 'stop'; to_round: number; why: string; best: RunState['best'] }> {
  const eps = await ctx.pool.run(evalJobs(ctx.config), weights);
  const wins = eps.filter((e) => e.success).length;
  const success = wins / eps.length;
  const v = judgeEvaluation(success, s.best, s.collapses, ctx.config.collapse);
  const best = v.kind === 'best' ? { round: s.round, success } : s.best;
  await ctx.hooks.line({
    type: 'eval',
    round: s.round,
    wall_s: s.counters.wall_s,
    env_ticks: s.counters.env_ticks,
    successes: wins,
    episodes: eps.length,
    success,
    ci95: wilson(wins, eps.length),
    best,
    verdict: v.kind,
    ...failuresOf(eps),
  });
  return { kind: v.kind, to_round: v.kind === 'rollback' ? v.to_round : -1, why: 'why' in v ? v.why : '', best };
}

function failuresOf(eps: readonly RolloutEpisode[]): { failures?: FailureOutcome } {
  const failures = failureOutcome(eps.filter((e) => !e.success && !e.fault).map((e) => e.task_outcome));
  return failures ? { failures } : {};
}

/** No held-out evaluation (eval_episodes 0): the checkpoint is written, nothing is judged. */
function notJudged(s: RunState): { kind: 'ok'; to_round: number; why: string; best: RunState['best'] } {
  return { kind: 'ok', to_round: -1, why: '', best: s.best };
}

/** Back to the best checkpoint's learner (buffers and counters stay), with lower learning rates. */
async function rollback(
  ctx: FinetuneContext,
  s: RunState,
  to_round: number,
  why: string,
): Promise<{ learner: SacLearner; s: RunState }> {
  const saved = await learnerOfRound(ctx.runDir, to_round);
  const f = ctx.config.collapse.lr_factor;
  const lr = { critic: s.lr.critic * f, actor: s.lr.actor * f };
  const learner = withRates(restoreLearner(ctx.tf, saved.learner), lr);
  await ctx.hooks.line({ type: 'rollback', round: s.round, to_round, why, lr });
  return {
    learner,
    s: {
      ...s,
      collapses: s.collapses + 1,
      lr,
      learner: saved.learner,
    },
  };
}

const sumTicks = (eps: RolloutEpisode[]): number => eps.reduce((n, e) => n + e.ticks, 0);
const stepsOf = (eps: RolloutEpisode[]): number => eps.reduce((n, e) => n + e.steps, 0);
