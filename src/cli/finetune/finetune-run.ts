// A fine-tuning session on disk: runs/NAME/ holds config.json (what the run is), metrics.jsonl (a line per round,
// evaluation, rollback), checkpoints/, best.json, residual.onnx (the best residual, exported at every new best),
// dashboard.html and success.png. This module starts or resumes the session and writes what the loop reports.
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { residualManifestFor } from '../../policy/residual/residual-draft.js';
import { writeResidualOnnx } from '../../policy/residual/residual-onnx.js';
import { actorLayers, meanHead } from '../../rl/actor-net.js';
import { writeDashboard } from '../../rl/dashboard.js';
import { type FinetuneConfig, parseFinetuneConfig } from '../../rl/finetune-config.js';
import { actorSizes, boundAt, type EvalLine, type RoundLine } from '../../rl/finetune-loop.js';
import { checkpointDir, loadRunState } from '../../rl/run-state.js';
import type { RobotDescription } from '../../robot/index.js';
import { UsageError } from '../common.js';

export const CONFIG_FILE = 'config.json';
export const METRICS_FILE = 'metrics.jsonl';
export const RESIDUAL_FILE = 'residual.onnx';

/** A new run's folder; refuses one that exists (SERL's learner crashed on it; here: say what to do). */
export async function createRunDir(runDir: string, config: FinetuneConfig): Promise<void> {
  if (await stat(runDir).catch(() => undefined))
    throw new UsageError(`${runDir} exists: continue it with --resume ${runDir}, or choose another --run / --runs-dir`);
  await mkdir(runDir, { recursive: true });
  await writeFile(join(runDir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

export async function readRunConfig(runDir: string): Promise<FinetuneConfig> {
  let text: string;
  try {
    text = await readFile(join(runDir, CONFIG_FILE), 'utf8');
  } catch (err) {
    throw new UsageError(
      `--resume ${runDir}: no ${CONFIG_FILE} (${(err as NodeJS.ErrnoException).code}); not a run folder`,
    );
  }
  try {
    return parseFinetuneConfig(JSON.parse(text), join(runDir, CONFIG_FILE));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Collects the loop's lines: appends them to metrics.jsonl and keeps them for the dashboard. */
export class MetricsLog {
  readonly rounds: RoundLine[] = [];
  readonly evals: EvalLine[] = [];

  constructor(private readonly runDir: string) {}

  /** The lines of earlier sessions (a resumed run's dashboard shows its whole history). */
  async loadPrevious(upToRound: number): Promise<void> {
    const text = await readFile(join(this.runDir, METRICS_FILE), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const l = JSON.parse(line) as RoundLine | EvalLine;
      if (l.round > upToRound) continue; // rounds redone after the checkpoint resumed from
      if (l.type === 'round') this.rounds.push(l);
      if (l.type === 'eval') this.evals.push(l);
    }
  }

  async add(l: { type: string; round?: number }): Promise<void> {
    if (l.type === 'round') this.rounds.push(l as RoundLine);
    if (l.type === 'eval') this.evals.push(l as EvalLine);
    await appendFile(join(this.runDir, METRICS_FILE), `${JSON.stringify(l)}\n`);
  }

  dashboard(config: FinetuneConfig, actionNames: readonly string[]): Promise<void> {
    return writeDashboard(this.runDir, config.run, this.rounds, this.evals, actionNames);
  }
}

/** The best checkpoint's actor, deterministic (mean head), as runs/NAME/residual.onnx with its manifest. */
export async function exportBestResidual(
  runDir: string,
  config: FinetuneConfig,
  desc: RobotDescription,
  best_round: number,
  obs_dim: number,
): Promise<string> {
  const state = await loadRunState(checkpointDir(runDir, best_round));
  const A = desc.action_names.length;
  const layers = meanHead(actorLayers(state.learner.actor, actorSizes(config, obs_dim, A)), A);
  // the weights of round r were trained for (and evaluated with) the trust region of round r + 1
  const bound = boundAt(config, best_round + 1);
  const manifest = await residualManifestFor(desc, {
    name: `${config.run}-round${best_round}`,
    base_path: config.base.path,
    base_horizon: config.base.horizon,
    joint_scale_rad: config.residual.joint_scale_rad * bound,
    gripper_scale: config.residual.gripper_scale * bound,
    every_ticks: config.residual.every_ticks,
    base_features: config.residual.base_features,
    hidden: config.residual.hidden,
  });
  if (manifest.base.sha256 !== config.base.sha256)
    throw new UsageError(`${config.base.path} changed since the run started (its SHA-256 differs): not exporting`);
  const path = join(runDir, RESIDUAL_FILE);
  await writeResidualOnnx(path, manifest, layers);
  return path;
}
