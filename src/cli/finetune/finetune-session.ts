// One vla-finetune session: start or resume the run, run rounds until the budget, Ctrl-C or the collapse guard
// ends it, and keep what a user looks at up to date (metrics.jsonl, the dashboard and the best residual at every
// checkpoint), then print the summary.

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { inputSize } from '../../policy/residual/residual-manifest.js';
import { ActorUnit, actorLayers, zeroActor } from '../../rl/actor-net.js';
import type { Selection } from '../../rl/checkpoint-selection.js';
import { type FinetuneConfig, runLatencyModel } from '../../rl/finetune-config.js';
import { actorSizes, type FinetuneContext, type FinetuneEnd, initialState, runRounds } from '../../rl/finetune-loop.js';
import type { OperatorSettings } from '../../rl/operator/scripted-operator.js';
import type { ActorSetup } from '../../rl/rollout-pool.js';
import {
  hasCheckpoints,
  latestRunState,
  markBest,
  type RunState,
  readBest,
  saveRunState,
  setAsideDamaged,
} from '../../rl/run-state.js';
import { measureBaseLatency } from '../../rl/sim-rollouts.js';
import type { RobotDescription } from '../../robot/index.js';
import { type Progress, progress } from '../../telemetry/progress.js';
import { tfWasm } from '../../train/tf-backend.js';
import { monotonicMs } from '../../util/clock.js';
import { UsageError } from '../common.js';
import type { StopSignal } from '../run/interrupts.js';
import { type PoolFlags, startPool } from './actor-command.js';
import { createRunDir, exportResidual, METRICS_FILE, MetricsLog, RESIDUAL_FILE, runManifest } from './finetune-run.js';
import { forwardKeys } from './keys.js';
import { whereOf } from './robot-link-args.js';
import { selectForRun } from './select-command.js';

export interface SessionArgs {
  config: FinetuneConfig;
  runDir: string;
  resume: boolean;
  /** Rounds in total, or training episodes in this session (whole rounds), or minutes in this session. */
  budget: { rounds?: number; episodes?: number; minutes?: number };
  desc: RobotDescription;
  json: boolean;
  /** Where episodes run: local actor processes, actors joining over ZeroMQ, or this thread. */
  pool: PoolFlags;
  /** --latency-ms measured: time the base model here before the run starts (a new run in the sim). */
  measure_latency?: boolean;
}

/** The config with the base model's latency on this machine, timed in one base-only episode of the sim. */
async function withMeasuredLatency(c: FinetuneConfig, desc: RobotDescription): Promise<FinetuneConfig> {
  const manifest = await runManifest(c, desc);
  const A = desc.action_names.length;
  const sizes = actorSizes(c, inputSize(manifest), A);
  const samples = await measureBaseLatency({
    description: desc,
    task: c.task as ActorSetup['task'],
    base_path: c.base.path,
    manifest,
    actor: new ActorUnit(actorLayers(zeroActor(sizes), sizes), A),
    seed: c.seed,
  });
  const sorted = [...samples].sort((x, y) => x - y);
  process.stderr.write(
    `vla-finetune: the base model takes ${sorted[0]}-${sorted.at(-1)} ms here (median ` +
      `${sorted[sorted.length >> 1]} ms, ${samples.length} calls); the virtual clock charges draws from these\n`,
  );
  return { ...c, latency_samples_ms: samples };
}

/** How the session ended; `signal`: the one that stopped it (the exit code follows it: 130 or 143). */
export type SessionEnd = FinetuneEnd & { signal?: StopSignal };

export async function runSession(args: SessionArgs): Promise<SessionEnd> {
  const a = args.measure_latency ? { ...args, config: await withMeasuredLatency(args.config, args.desc) } : args;
  const { config: c, desc } = a;
  const manifest = await runManifest(c, desc);
  if (manifest.base.sha256 !== c.base.sha256)
    throw new UsageError(`${c.base.path} is not the base model the run started with (its SHA-256 differs)`);
  const O = inputSize(manifest);
  const A = desc.action_names.length;
  const sizes = actorSizes(c, O, A);
  const setup: ActorSetup = {
    description: desc,
    task: c.task as ActorSetup['task'],
    base_path: c.base.path,
    manifest,
    latency_model: runLatencyModel(c),
    seed: c.seed,
    actor_sizes: sizes,
    ...(c.operator?.kind === 'scripted' ? { operator: operatorSettings(c.operator) } : {}),
    ...(c.residual.privileged_head ? { privileged_head: true } : {}),
  };
  // bound first (a bad --learner-bind fails before the run folder exists), actor processes once it does
  const { pool, startActors, interruptActors, processes, close } = await startPool(
    a.pool,
    setup,
    zeroActor(sizes),
    (line) => process.stderr.write(`vla-finetune: ${line}\n`),
  );
  let resumed: RunState | undefined;
  let log: MetricsLog;
  try {
    resumed = a.resume ? await resumeState(a.runDir) : undefined;
    if (!a.resume) await createRunDir(a.runDir, c);
    log = new MetricsLog(a.runDir);
    if (resumed) await log.loadPrevious(resumed.round);
  } catch (err) {
    await close();
    throw err;
  }
  startActors();
  let stop = false;
  let signal: StopSignal | undefined;
  const onSignal = (sig: StopSignal) => {
    stop = true;
    signal ??= sig;
    // on a robot the episode in progress ends now, held: local actors get the signal, actors that joined from
    // elsewhere the learner's bye; in the sim the round finishes (it moves nothing)
    if (!c.robot_link) return;
    interruptActors();
    void pool.close('interrupted');
  };
  const handlers = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM') };
  process.once('SIGINT', handlers.SIGINT);
  process.once('SIGTERM', handlers.SIGTERM);
  // a person at the keyboard: this process has the terminal, the robot actor beside it gets the keys; q stops
  const stopKeys =
    c.operator?.kind === 'keyboard' && c.robot_link
      ? forwardKeys(processes, (key) => {
          if (key.toLowerCase() === 'q') stop = true;
        })
      : undefined;
  const budget = sessionBudget(a, resumed);
  const bar = progress('fine-tuning', { unit: 'rounds', json: a.json });
  const t0 = monotonicMs();
  const ctx: FinetuneContext = {
    config: c,
    runDir: a.runDir,
    tf: await tfWasm(),
    pool,
    obs_dim: O,
    action_dim: A,
    budget,
    now_s: () => monotonicMs() / 1000,
    hooks: {
      line: async (l) => {
        await log.add(l);
        if (l.type === 'round') bar.update(l.round, budget.rounds ?? l.round + 1, progressNote(log));
        if (l.type === 'eval') await log.dashboard(c, desc);
      },
      checkpointed: async (round, best) => {
        // without held-out evaluations (on a robot) nothing is judged best: the newest residual is the one to try
        if (c.schedule.eval_episodes === 0) return void (await exportResidual(a.runDir, c, desc, round));
        const b = best ? await readBest(a.runDir) : null;
        if (b) await exportResidual(a.runDir, c, desc, b.round);
      },
      stopRequested: () => stop,
      warmStartProgress: warmStartBars(a.json),
    },
  };
  try {
    const start: RunState = resumed ?? (await initialState(ctx));
    // a run that stops before its first round (a robot that refuses the setup) can still be resumed
    if (!resumed) await saveRunState(a.runDir, start);
    // a warm start's actor was evaluated (round 0): the run's residual until a round does better
    if (!resumed && start.best) {
      await markBest(a.runDir, start.best);
      await ctx.hooks.checkpointed?.(0, true);
    }
    const end = await runRounds(ctx, start);
    bar.end();
    // Ctrl-C wants the run to stop now; a collapse stop still has checkpoints worth choosing among
    const sel = c.selection;
    const selectNow = sel && end.reason !== 'interrupted' && c.schedule.eval_episodes > 0 && !c.robot_link;
    const selected = selectNow ? await selectForRun(pool, a.runDir, c, desc, log, sel, a.json) : undefined;
    await log.dashboard(c, desc);
    printSummary(a, end, log, (monotonicMs() - t0) / 1000, selected);
    return signal ? { ...end, signal } : end;
  } finally {
    process.off('SIGINT', handlers.SIGINT);
    process.off('SIGTERM', handlers.SIGTERM);
    stopKeys?.();
    await close();
  }
}

/** One bar per phase of the warm start (its operator episodes, then its fitting epochs), ended when full. */
function warmStartBars(json: boolean): (phase: 'episodes' | 'epochs', done: number, total: number) => void {
  const bars = new Map<string, Progress>();
  return (phase, done, total) => {
    const bar = bars.get(phase) ?? progress(`warm start (${phase})`, { unit: phase, json });
    bars.set(phase, bar);
    bar.update(done, total);
    if (done >= total) bar.end();
  };
}

/** What the residual was before the actor's first update: the warm start's fit, or near zero. */
const startedAs = (c: FinetuneConfig): string =>
  c.warm_start ? "the warm start's fit to the operator" : 'the near-zero one it started as';

function sessionBudget(a: SessionArgs, resumed: RunState | undefined): { rounds?: number; minutes?: number } {
  const { episodes, ...rest } = a.budget;
  if (episodes === undefined) return rest;
  const rounds = (resumed?.round ?? 0) + Math.ceil(episodes / a.config.schedule.episodes_per_round);
  return { ...rest, rounds };
}

/** The state to resume from; undefined: the run stopped before its first checkpoint, and starts again afresh. */
async function resumeState(runDir: string): Promise<RunState | undefined> {
  const found = await latestRunState(runDir);
  if (!found && !(await hasCheckpoints(runDir))) {
    // a session that failed before its first checkpoint (no actor came, a refused base model) left only config.json
    await rm(join(runDir, METRICS_FILE), { force: true });
    process.stderr.write(`vla-finetune: ${runDir} has no checkpoint yet: starting it afresh from its config.json\n`);
    return undefined;
  }
  if (!found) throw new UsageError(`--resume ${runDir}: no readable checkpoint in ${runDir}/checkpoints`);
  for (const skip of found.skipped) {
    const aside = skip.damaged ? `; moved aside to ${await setAsideDamaged(skip.dir)}` : '';
    process.stderr.write(`vla-finetune: skipped ${skip.damaged ? 'a damaged checkpoint: ' : ''}${skip.why}${aside}\n`);
  }
  process.stderr.write(`vla-finetune: resuming from ${found.dir} (round ${found.state.round})\n`);
  return found.state;
}

function operatorSettings(o: NonNullable<FinetuneConfig['operator']>): OperatorSettings {
  const { takeover_rad, takeover_decisions } = o;
  return {
    takeover_rad,
    takeover_decisions,
    ...(o.label_all ? { label_all: true } : {}),
    ...(o.expert === 'feedback' ? { expert: 'feedback' as const } : {}),
  };
}

function progressNote(log: MetricsLog): string {
  const r = log.rounds.at(-1);
  const e = log.evals.at(-1);
  const pct = (x: number) => `${Math.round(100 * x)}%`;
  const ev = e ? `, eval ${pct(e.success)} [${pct(e.ci95[0])}-${pct(e.ci95[1])}]` : '';
  const took = r?.intervention_rate ? `, takeovers ${pct(r.intervention_rate)}` : '';
  return r ? `train ${pct(r.train_success_last50)} (last 50)${ev}${took}, ${r.updates_per_s.toFixed(0)} updates/s` : '';
}

/** Training episodes as the rounds logged them: the last-50 success, and the share of decisions taken over. */
function trainFigures(log: MetricsLog): { episodes: number; success_last50: number; intervention_rate: number } {
  const last = log.rounds.at(-1);
  const n = log.rounds.length;
  const rate = n ? log.rounds.reduce((x, r) => x + r.intervention_rate, 0) / n : 0;
  return {
    episodes: last?.episodes ?? 0,
    success_last50: last?.train_success_last50 ?? 0,
    intervention_rate: Math.round(rate * 1e4) / 1e4,
  };
}

function selectedFigures(s: Selection, c: FinetuneConfig) {
  const { round, successes, episodes } = s;
  const rounds = s.results.map((r) => ({ round: r.round, successes: r.successes }));
  return { round, successes, episodes, seed0: c.selection?.seed0, rounds };
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** The base-only episodes of the offline buffer and the warm start's are counted among a run's: say how many. */
function baseOnly(c: FinetuneConfig): string {
  const n = c.schedule.offline_episodes;
  const parts = [
    n > 0 ? `${n} of them the base alone` : '',
    c.warm_start ? `${c.warm_start.episodes} the warm start's` : '',
  ];
  const said = parts.filter(Boolean).join(', ');
  return said ? ` (${said})` : '';
}

function printSummary(
  a: SessionArgs,
  end: FinetuneEnd,
  log: MetricsLog,
  session_s: number,
  selected: Selection | undefined,
): void {
  const s = end.state;
  const best = s.best;
  const bestEval = best ? log.evals.find((e) => e.round === best.round) : undefined;
  const summary = {
    run: a.config.run,
    run_dir: a.runDir,
    ended: end.reason,
    message: end.message,
    rounds: s.round,
    episodes: s.counters.episodes,
    env_ticks: s.counters.env_ticks,
    updates: s.counters.updates,
    wall_s: Math.round(s.counters.wall_s),
    session_s: Math.round(session_s),
    best: best ? { round: best.round, success: best.success, ci95: bestEval?.ci95 ?? null } : null,
    collapses: s.collapses,
    selected: selected ? selectedFigures(selected, a.config) : null,
    where: whereOf(a.config.robot_link),
    train: trainFigures(log),
    residual: best || a.config.schedule.eval_episodes === 0 ? `${a.runDir}/${RESIDUAL_FILE}` : null,
  };
  const delay = a.config.learner.actor_delay_updates;
  if (s.learner.updates < delay)
    process.stderr.write(
      `vla-finetune: warning: the actor has not started learning yet (${s.learner.updates} of the ${delay} critic ` +
        `updates --actor-delay-updates waits for): the residual is still ${startedAs(a.config)}; ` +
        'resume the run for more rounds\n',
    );
  if (a.json) return void process.stdout.write(`${JSON.stringify(summary)}\n`);
  const pct = (x: number) => `${Math.round(100 * x)}%`;
  const lines = [
    `${a.config.run}: ${end.message}`,
    `  ${s.round} rounds, ${s.counters.episodes} episodes${baseOnly(a.config)}, ${s.counters.env_ticks} env ticks, ` +
      `${s.counters.updates} updates`,
    best
      ? `  best evaluation ${pct(best.success)} at round ${best.round}` +
        (bestEval ? ` (95% CI ${pct(bestEval.ci95[0])}-${pct(bestEval.ci95[1])}, ${bestEval.episodes} seeds)` : '')
      : '  no evaluation yet',
    summary.train.episodes > 0
      ? `  training episodes (last ${s.recent.length}): ${pct(summary.train.success_last50)} succeeded` +
        (a.config.operator && a.config.operator.kind !== 'none'
          ? `; operator took over in ${pct(summary.train.intervention_rate)} of the decisions`
          : '')
      : '',
    `  collapses rolled back: ${s.collapses}`,
    selected
      ? `  selected round ${selected.round}: ${selected.successes}/${selected.episodes} on seeds from ` +
        `${a.config.selection?.seed0} (the best of ${plural(selected.results.length, 'round')} run again)`
      : '',
    summary.residual ? `  residual: ${summary.residual}` : '',
    `  dashboard: ${a.runDir}/dashboard.html`,
  ];
  process.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
}
