// A fine-tuning run's whole state, and its checkpoints on disk: runs/NAME/checkpoints/round-NNNNNN/ (atomic,
// checksummed: checkpoint.ts), one per evaluation, plus best.json naming the best evaluated round. A checkpoint
// holds the learner (networks, targets, optimiser moments, temperature, its random stream), the weights of the
// round that was in flight, both replay buffers, the counters and the collapse history: resuming from it
// continues the run exactly.
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { LearnerState } from './learner-state.js';
import type { ReplayBufferState } from './replay-buffer.js';

export interface RunCounters {
  episodes: number;
  env_ticks: number;
  updates: number;
  train_successes: number;
  /** Wall time spent in this run across sessions (s). */
  wall_s: number;
}

export interface RunState {
  /** Rounds trained on so far: the learner's actor is v_round. */
  round: number;
  learner: LearnerState;
  /** v_{round-1}: the weights the round in flight when the checkpoint was taken runs with. */
  pipeline_actor: Float32Array[];
  online: ReplayBufferState;
  offline: ReplayBufferState;
  /** The operator's decisions alone, for the actor's imitation term (absent in runs from before it existed). */
  interventions?: ReplayBufferState;
  best: { round: number; success: number } | null;
  collapses: number;
  /** Learning rates now (collapses lower them). */
  lr: { critic: number; actor: number };
  counters: RunCounters;
  /** The last 50 training episodes' outcomes (1/0), oldest first. */
  recent: number[];
}

const CHECKPOINTS = 'checkpoints';
const BEST = 'best.json';

export function checkpointDir(runDir: string, round: number): string {
  return join(runDir, CHECKPOINTS, `round-${String(round).padStart(6, '0')}`);
}

/** Whether round `round` has a checkpoint folder (read or not). */
export function checkpointExists(runDir: string, round: number): Promise<boolean> {
  return stat(checkpointDir(runDir, round)).then(
    () => true,
    () => false,
  );
}

export async function saveRunState(runDir: string, s: RunState): Promise<string> {
  const dir = checkpointDir(runDir, s.round);
  await writeCheckpoint(dir, s);
  return dir;
}

export async function markBest(runDir: string, best: { round: number; success: number }): Promise<void> {
  const tmp = join(runDir, `.${BEST}.tmp`);
  await writeFile(tmp, `${JSON.stringify(best)}\n`);
  await rename(tmp, join(runDir, BEST));
}

export async function readBest(runDir: string): Promise<{ round: number; success: number } | null> {
  try {
    return JSON.parse(await readFile(join(runDir, BEST), 'utf8'));
  } catch {
    return null;
  }
}

export async function loadRunState(dir: string): Promise<RunState> {
  const s = await readCheckpoint<RunState>(dir);
  if (typeof s?.round !== 'number' || !s.learner || !s.online || !s.offline)
    throw new CheckpointError(`${dir}: not a fine-tuning checkpoint (no round, learner or buffers)`);
  return s;
}

/**
 * The newest checkpoint that reads back whole, and the ones skipped on the way (damaged: named with what is
 * wrong). Undefined when there is none.
 */
export async function latestRunState(
  runDir: string,
): Promise<{ state: RunState; dir: string; skipped: string[] } | undefined> {
  let names: string[];
  try {
    names = (await readdir(join(runDir, CHECKPOINTS)))
      .filter((n) => /^round-\d+$/.test(n))
      .sort()
      .reverse();
  } catch {
    return undefined;
  }
  const skipped: string[] = [];
  for (const name of names) {
    const dir = join(runDir, CHECKPOINTS, name);
    try {
      return { state: await loadRunState(dir), dir, skipped };
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      skipped.push(err.message);
    }
  }
  return undefined;
}
