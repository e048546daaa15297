// Choosing the residual to ship (rl/checkpoint-selection.ts): at the end of a sim run, and as
// `vla-finetune select RUN_DIR` for a run that ended before it existed or to select again on other seeds.
// The chosen round's residual becomes RUN_DIR/residual.onnx and selected.json says which it is and how it did.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inputSize } from '../../policy/residual/residual-manifest.js';
import { zeroActor } from '../../rl/actor-net.js';
import {
  type Selection,
  type SelectionSettings,
  type SelectLine,
  selectCheckpoint,
  selectionCandidates,
} from '../../rl/checkpoint-selection.js';
import { type FinetuneConfig, runLatencyModel } from '../../rl/finetune-config.js';
import { actorSizes } from '../../rl/finetune-loop.js';
import type { EvalLine } from '../../rl/metric-lines.js';
import { LocalPool, type RolloutPool } from '../../rl/rollout-pool.js';
import { checkpointExists } from '../../rl/run-state.js';
import type { RobotDescription } from '../../robot/index.js';
import { progress } from '../../telemetry/progress.js';
import { intArg, UsageError } from '../common.js';
import { robotDescription } from '../run/robot-args.js';
import { exportResidual, MetricsLog, RESIDUAL_FILE, readRunConfig, runManifest } from './finetune-run.js';

export const SELECTED_FILE = 'selected.json';

export const SELECT_HELP = `
Examples:
  vla-finetune select runs/pp-1                                   the 8 best-evaluated rounds, 200 episodes each
  vla-finetune select runs/pp-1 --candidates 14 --episodes 400 --seed0 40000

Each candidate runs deterministically (no exploration, no operator) in the embedded sim on seeds SEED0 and up, on
the run's virtual clock; the best (the later round on a tie) is exported as RUN-DIR/residual.onnx, and
RUN-DIR/selected.json and metrics.jsonl ("type":"select") hold every candidate's score; a round metrics.jsonl
already scores on the same seeds is not run again (it would score the same). Keep the seeds apart from
your own test (10000-19999 by convention). Exit codes: 0 selected, 2 no such run or no evaluated checkpoint.`;

/**
 * Selects among a run's evaluated checkpoints with `pool`, exports the winner as residual.onnx and writes
 * selected.json; undefined when the run has no evaluations to choose from.
 */
export async function selectForRun(
  pool: RolloutPool,
  runDir: string,
  config: FinetuneConfig,
  desc: RobotDescription,
  log: MetricsLog,
  s: SelectionSettings,
  json: boolean,
): Promise<Selection | undefined> {
  const evals = await checkpointedEvals(runDir, log.evals);
  const rounds = selectionCandidates(evals, s.candidates);
  if (rounds.length === 0 || s.episodes === 0) return undefined;
  const candidates = rounds.map((round) => ({ round, eval_success: evals.find((e) => e.round === round)!.success }));
  const bar = progress('selecting', { unit: 'checkpoints', json });
  bar.update(0, candidates.length, `${s.episodes} episodes each from seed ${s.seed0}`);
  let done = 0;
  const report = async (l: SelectLine) => {
    await log.add(l);
    bar.update(++done, candidates.length, `round ${l.round}: ${l.successes}/${l.episodes}`);
  };
  const chosen = await selectCheckpoint(pool, runDir, config, candidates, s, report, log.selects);
  bar.end();
  await exportResidual(runDir, config, desc, chosen.round);
  const tmp = join(runDir, `.${SELECTED_FILE}.tmp`);
  const { results, ...pick } = chosen;
  await writeFile(tmp, `${JSON.stringify({ ...pick, seed0: s.seed0, candidates: results })}\n`);
  await rename(tmp, join(runDir, SELECTED_FILE));
  return chosen;
}

/**
 * A run's evaluations of the checkpoints it kept, each round's last (a resumed run may have evaluated a round
 * twice). A collapsed evaluation describes no checkpoint: a rollback saved the best round's learner under its
 * round, and a stop saved none.
 */
async function checkpointedEvals(runDir: string, evals: readonly EvalLine[]): Promise<EvalLine[]> {
  const byRound = new Map<number, EvalLine>();
  for (const e of evals) byRound.set(e.round, e);
  const kept: EvalLine[] = [];
  for (const e of byRound.values())
    if ((e.verdict === 'best' || e.verdict === 'ok') && (await checkpointExists(runDir, e.round))) kept.push(e);
  return kept;
}

export interface SelectFlags {
  candidates?: string;
  episodes?: string;
  seed0?: string;
  json?: boolean;
}

export async function selectCommand(runDir: string, o: SelectFlags): Promise<void> {
  const config = await readRunConfig(runDir);
  if (config.robot_link) throw new UsageError(`${runDir} ran on a robot: select runs episodes in the embedded sim`);
  const d = config.selection ?? { candidates: 8, episodes: 200, seed0: 30000 };
  const s: SelectionSettings = {
    candidates: intArg('--candidates', o.candidates ?? String(d.candidates), 1, 1000),
    episodes: intArg('--episodes', o.episodes ?? String(d.episodes || 200), 1, 100_000),
    seed0: intArg('--seed0', o.seed0 ?? String(d.seed0), 0),
  };
  const log = new MetricsLog(runDir);
  await log.loadPrevious(Number.MAX_SAFE_INTEGER);
  if (log.evals.length === 0) throw new UsageError(`${runDir} has no evaluated checkpoint to select from`);
  const desc = await robotDescription(config.robot, undefined, 50);
  const manifest = await runManifest(config, desc);
  const sizes = actorSizes(config, inputSize(manifest), desc.action_names.length);
  const pool = await LocalPool.create(
    {
      description: desc,
      task: config.task as Parameters<typeof LocalPool.create>[0]['task'],
      base_path: config.base.path,
      manifest,
      latency_model: runLatencyModel(config),
      seed: config.seed,
      actor_sizes: sizes,
      ...(config.residual.privileged_head ? { privileged_head: true } : {}),
    },
    zeroActor(sizes),
  );
  let chosen: Selection | undefined;
  try {
    chosen = await selectForRun(pool, runDir, config, desc, log, s, o.json === true);
  } finally {
    await pool.close();
  }
  if (!chosen) throw new UsageError(`${runDir}: nothing to select from`);
  await log.dashboard(config, desc);
  const out = join(runDir, RESIDUAL_FILE);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ run_dir: runDir, residual: out, ...chosen })}\n`);
    return;
  }
  const rows = chosen.results.map(
    (r) => `  round ${r.round}: ${r.successes}/${r.episodes} (its evaluation in the run: ${pct(r.eval_success)})`,
  );
  process.stdout.write(
    `${rows.join('\n')}\nselected round ${chosen.round} (${chosen.successes}/${chosen.episodes}): wrote ${out}\n`,
  );
}

const pct = (x: number) => `${Math.round(100 * x)}%`;
