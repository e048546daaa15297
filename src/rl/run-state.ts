// A fine-tuning run's whole state, and its checkpoints on disk: runs/NAME/checkpoints/round-NNNNNN/ (atomic,
// checksummed: checkpoint.ts), one per evaluation, plus best.json naming the best evaluated round. A checkpoint
// holds the learner (networks, targets, optimiser moments, temperature, its random stream), the weights of the
// round that was in flight, both replay buffers, the counters and the collapse history: resuming from it
// continues the run exactly. Only the newest two keep their replay buffers (they grow every round: a 45-minute
// session on a robot otherwise left 3 GB of them); an older one keeps its learner, which is all an export or a
// rollback reads.
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
/** The newest checkpoints that keep their replay buffers: the newest, and the one a damaged newest falls back to. */
export const CHECKPOINTS_WITH_BUFFERS = 2;

/** A checkpoint whose replay buffers were dropped: its learner exports and rolls back, it does not resume. */
export type LearnerCheckpoint = Omit<RunState, 'online' | 'offline' | 'interventions'> & { buffers_dropped?: true };

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

/** Writes round s.round's checkpoint, then drops the buffers of those older than the newest two. */
export async function saveRunState(runDir: string, s: RunState): Promise<string> {
  const dir = checkpointDir(runDir, s.round);
  await writeCheckpoint(dir, s);
  await dropOldBuffers(runDir);
  return dir;
}

/**
 * Rewrites each checkpoint older than the newest CHECKPOINTS_WITH_BUFFERS without its replay buffers, newest
 * first, stopping at the first that has none left (the ones before it were done by an earlier save). A damaged
 * checkpoint is left as it is.
 */
async function dropOldBuffers(runDir: string): Promise<void> {
  for (const name of (await checkpointNames(runDir)).slice(CHECKPOINTS_WITH_BUFFERS)) {
    const dir = join(runDir, CHECKPOINTS, name);
    try {
      const s = await readCheckpoint<Partial<RunState> & LearnerCheckpoint>(dir);
      if (s.buffers_dropped) return;
      const { online: _o, offline: _f, interventions: _i, ...learner } = s;
      await writeCheckpoint(dir, { ...learner, buffers_dropped: true } satisfies LearnerCheckpoint);
    } catch (err) {
      // saving disk space never ends a session: the checkpoint just written is whole
      if (!(err instanceof CheckpointError))
        process.emitWarning(`could not drop the replay buffers of ${dir}: ${(err as Error).message}`);
    }
  }
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

/** A checkpoint that reads back whole but cannot be resumed from: its buffers were dropped. */
export class BuffersDropped extends CheckpointError {}

/** A checkpoint to resume from: its learner and its replay buffers. */
export async function loadRunState(dir: string): Promise<RunState> {
  const s = await loadLearnerCheckpoint(dir);
  if (s.buffers_dropped)
    throw new BuffersDropped(
      `${dir}: its replay buffers were dropped (only the newest ${CHECKPOINTS_WITH_BUFFERS} checkpoints keep them); ` +
        'it exports, it does not resume',
    );
  const full = s as Partial<RunState>;
  if (!full.online || !full.offline) throw new CheckpointError(`${dir}: not a fine-tuning checkpoint (no buffers)`);
  return s as RunState;
}

/** Round `round`'s checkpoint as an export or a rollback reads it: its learner and counters. */
export function learnerOfRound(runDir: string, round: number): Promise<LearnerCheckpoint> {
  return loadLearnerCheckpoint(checkpointDir(runDir, round));
}

/** A checkpoint's learner and counters, with its buffers or without. */
async function loadLearnerCheckpoint(dir: string): Promise<LearnerCheckpoint> {
  const s = await readCheckpoint<LearnerCheckpoint>(dir);
  if (typeof s?.round !== 'number' || !s.learner)
    throw new CheckpointError(`${dir}: not a fine-tuning checkpoint (no round or learner)`);
  return s;
}

/** A checkpoint passed over on the way to one to resume from: damaged, or without its buffers. */
export interface SkippedCheckpoint {
  dir: string;
  why: string;
  damaged: boolean;
}

/** The newest checkpoint that resumes, and the ones skipped on the way. Undefined when there is none. */
export async function latestRunState(
  runDir: string,
): Promise<{ state: RunState; dir: string; skipped: SkippedCheckpoint[] } | undefined> {
  const names = await checkpointNames(runDir);
  const skipped: SkippedCheckpoint[] = [];
  for (const name of names) {
    const dir = join(runDir, CHECKPOINTS, name);
    try {
      return { state: await loadRunState(dir), dir, skipped };
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      skipped.push({ dir, why: err.message, damaged: !(err instanceof BuffersDropped) });
    }
  }
  return undefined;
}

/**
 * Moves a damaged checkpoint out of the run's list (round-NNNNNN.damaged), kept for a look: it no longer counts
 * among the newest that keep their buffers, and the round it held is written again when the run gets there.
 */
export async function setAsideDamaged(dir: string): Promise<string> {
  for (let n = 0; ; n++) {
    const to = `${dir}.damaged${n === 0 ? '' : `-${n}`}`;
    const free = await stat(to).then(
      () => false,
      () => true,
    );
    if (!free) continue;
    await rename(dir, to);
    return to;
  }
}

/** Whether the run has any checkpoint folder at all (readable or not). */
export async function hasCheckpoints(runDir: string): Promise<boolean> {
  return (await checkpointNames(runDir)).length > 0;
}

/** The run's checkpoint folders by name, newest first (none: an empty list). */
async function checkpointNames(runDir: string): Promise<string[]> {
  try {
    return (await readdir(join(runDir, CHECKPOINTS)))
      .filter((n) => /^round-\d+$/.test(n))
      .sort()
      .reverse();
  } catch {
    return [];
  }
}
