// `vla-finetune export RUN_DIR --round N`: the residual of any checkpoint of a run as ONNX. The session keeps the
// best evaluated round as residual.onnx; a user who evaluates several rounds on a larger held-out set of their own
// (evaluations during a run are short, so the best of them is partly luck) deploys the one they chose.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from '../../rl/checkpoint.js';
import type { EvalLine } from '../../rl/metric-lines.js';
import { intArg, UsageError } from '../common.js';
import { robotDescription } from '../run/robot-args.js';
import { rebindBase } from './base-model-args.js';
import { exportResidual, METRICS_FILE, readRunConfig } from './finetune-run.js';

export const EXPORT_HELP = `
Examples:
  vla-finetune export runs/pp-1 --round 210
  vla-finetune export runs/pp-1 --round 210 --out models/ur5e-pick-place.residual.onnx
  vla-finetune export runs/rp-1 --round 210 --base models/ur5e-pick-place.cube_yaw.sharper.onnx
  vla-run --robot ur5e --sim --policy models/ur5e-pick-place.onnx --residual runs/pp-1/residual-round210.onnx \\
      --clock fast --seed 10000 --episodes 200

Checkpoints exist for every evaluated round (--eval-every). --base: a run trained with --privileged-head learnt on
the true values its copy's head stands for, never on the head's estimates; its residual can be bound to another
copy of the same base model whose head gives the same outputs, e.g. a sharper head made since (vla-finetune head).
Exit codes: 0 written, 2 no such run or round, or a --base that is no such copy.`;

export interface ExportFlags {
  round?: string;
  /** A --privileged-head run: bind the residual to this copy of the base model (same head outputs). */
  base?: string;
  out?: string;
  json?: boolean;
}

export async function exportCommand(runDir: string, o: ExportFlags): Promise<void> {
  const run = await readRunConfig(runDir);
  const config = o.base === undefined ? run : await rebindBase(run, o.base);
  if (o.round === undefined) throw new UsageError(`--round N is required; ${runDir} has ${await roundsOf(runDir)}`);
  const round = intArg('--round', o.round, 0);
  const out = o.out ?? join(runDir, `residual-round${round}.onnx`);
  const desc = await robotDescription(config.robot, undefined, 50);
  try {
    await exportResidual(runDir, config, desc, round, out);
  } catch (err) {
    if (err instanceof CheckpointError)
      throw new UsageError(`${runDir} has no readable checkpoint of round ${round}; it has ${await roundsOf(runDir)}`);
    throw err;
  }
  const ev = await evalOf(runDir, round);
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ run_dir: runDir, round, residual: out, base: config.base.path, eval: ev ?? null })}\n`,
    );
    return;
  }
  const seen = ev ? ` (its evaluation during the run: ${ev.successes}/${ev.episodes})` : '';
  const bound = o.base === undefined ? '' : `, for ${o.base} (vla-run --policy ${o.base})`;
  process.stdout.write(`wrote ${out}: round ${round} of ${config.run}${seen}${bound}\n`);
}

/** The checkpointed rounds of a run, for a message: "rounds 5, 10, ... 220". */
async function roundsOf(runDir: string): Promise<string> {
  const names = await readdir(join(runDir, 'checkpoints')).catch(() => [] as string[]);
  const rounds = names.filter((n) => /^round-\d+$/.test(n)).map((n) => Number(n.slice(6)));
  if (rounds.length === 0) return 'no checkpoints';
  rounds.sort((a, b) => a - b);
  const list = rounds.length > 6 ? `${rounds.slice(0, 3).join(', ')}, ... ${rounds.at(-1)}` : rounds.join(', ');
  return `checkpoints of rounds ${list}`;
}

async function evalOf(runDir: string, round: number): Promise<EvalLine | undefined> {
  const text = await readFile(join(runDir, METRICS_FILE), 'utf8').catch(() => '');
  let found: EvalLine | undefined;
  for (const line of text.split('\n')) {
    if (!line.includes('"eval"')) continue;
    const l = JSON.parse(line) as EvalLine;
    if (l.type === 'eval' && l.round === round) found = l;
  }
  return found;
}
