// A fine-tuning session on disk: runs/NAME/ holds config.json (what the run is), metrics.jsonl (a line per round,
// evaluation, rollback), checkpoints/, best.json, residual.onnx (the best residual, exported at every new best),
// dashboard.html and success.png. This module starts or resumes the session and writes what the loop reports.

import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { locateModel } from '../../policy/default-policy.js';
import { correctionNames } from '../../policy/residual/correction-frame.js';
import { residualManifestFor } from '../../policy/residual/residual-draft.js';
import { inputSize } from '../../policy/residual/residual-manifest.js';
import { writeResidualOnnx } from '../../policy/residual/residual-onnx.js';
import { actorLayers, meanHead } from '../../rl/actor-net.js';
import type { SelectLine } from '../../rl/checkpoint-selection.js';
import { writeDashboard } from '../../rl/dashboard.js';
import { type FinetuneConfig, parseFinetuneConfig } from '../../rl/finetune-config.js';
import { actorSizes, boundAt } from '../../rl/finetune-loop.js';
import type { EvalLine, RoundLine } from '../../rl/metric-lines.js';
import { learnerOfRound } from '../../rl/run-state.js';
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
    throw new UsageError(`${runDir}: no ${CONFIG_FILE} (${(err as NodeJS.ErrnoException).code}); not a run folder`);
  }
  let config: FinetuneConfig;
  try {
    config = parseFinetuneConfig(JSON.parse(text), join(runDir, CONFIG_FILE));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  // runs from before paths were stored absolute name the base relative to the folder they started in
  const base = locateModel(config.base.path);
  if (!base)
    throw new UsageError(
      `${runDir}: its base model ${config.base.path} is not here (SHA-256 ${config.base.sha256.slice(0, 12)}...); ` +
        'run from the folder the run started in, or put the file back',
    );
  return { ...config, base: { ...config.base, path: base } };
}

/** Collects the loop's lines: appends them to metrics.jsonl and keeps them for the dashboard. */
export class MetricsLog {
  readonly rounds: RoundLine[] = [];
  readonly evals: EvalLine[] = [];
  readonly selects: SelectLine[] = [];

  constructor(private readonly runDir: string) {}

  /** The lines of earlier sessions (a resumed run's dashboard shows its whole history). */
  async loadPrevious(upToRound: number): Promise<void> {
    const text = await readFile(join(this.runDir, METRICS_FILE), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const l = JSON.parse(line) as RoundLine | EvalLine | SelectLine;
      if (l.round > upToRound) continue; // rounds redone after the checkpoint resumed from
      if (l.type === 'round') this.rounds.push(l);
      if (l.type === 'eval') this.evals.push(l);
      if (l.type === 'select') this.selects.push(l); // scores the next selection reuses
    }
  }

  async add(l: { type: string; round?: number }): Promise<void> {
    if (l.type === 'round') this.rounds.push(l as RoundLine);
    if (l.type === 'eval') this.evals.push(l as EvalLine);
    if (l.type === 'select') this.selects.push(l as SelectLine);
    await appendFile(join(this.runDir, METRICS_FILE), `${JSON.stringify(l)}\n`);
  }

  dashboard(config: FinetuneConfig, desc: RobotDescription): Promise<void> {
    const names = correctionNames(desc, config.residual.tool ? 'tool' : 'joint');
    return writeDashboard(this.runDir, config.run, this.rounds, this.evals, names, this.selects);
  }
}

/** The residual's manifest for a run at full bound: what its actor's inputs are (the same for every round). */
export function runManifest(config: FinetuneConfig, desc: RobotDescription, bound = 1, name = config.run) {
  const tool = config.residual.tool;
  return residualManifestFor(desc, {
    name,
    base_path: config.base.path,
    base_horizon: config.base.horizon,
    joint_scale_rad: scaled(config.residual.joint_scale_rad, bound),
    gripper_scale: config.residual.gripper_scale * bound,
    ...(tool
      ? { tool: { translation_m: times(tool.translation_m, bound), rotation_rad: times(tool.rotation_rad, bound) } }
      : {}),
    every_ticks: config.residual.every_ticks,
    base_features: config.residual.base_features,
    start_features: config.residual.start_features === true,
    episode_time: config.residual.episode_time === true,
    tool_pose: config.residual.tool_pose === true,
    measured_tool_pose: config.residual.measured_tool_pose === true,
    hidden: config.residual.hidden,
  });
}

/**
 * The actor of the checkpoint of `round`, deterministic (mean head), as ONNX with its manifest: at `out`, by
 * default runs/NAME/residual.onnx (where the session keeps the best one).
 */
export async function exportResidual(
  runDir: string,
  config: FinetuneConfig,
  desc: RobotDescription,
  round: number,
  out = join(runDir, RESIDUAL_FILE),
): Promise<string> {
  const state = await learnerOfRound(runDir, round);
  const A = desc.action_names.length;
  const obs_dim = inputSize(await runManifest(config, desc));
  const layers = meanHead(actorLayers(state.learner.actor, actorSizes(config, obs_dim, A)), A);
  // the weights of round r were trained for (and evaluated with) the trust region of round r + 1
  const manifest = await runManifest(config, desc, boundAt(config, round + 1), `${config.run}-round${round}`);
  if (manifest.base.sha256 !== config.base.sha256)
    throw new UsageError(`${config.base.path} changed since the run started (its SHA-256 differs): not exporting`);
  await writeResidualOnnx(out, manifest, layers);
  return out;
}

function times(v: readonly [number, number, number], by: number): [number, number, number] {
  return [v[0] * by, v[1] * by, v[2] * by];
}

function scaled(x: number | readonly number[], by: number): number | number[] {
  return typeof x === 'number' ? x * by : x.map((v) => v * by);
}
