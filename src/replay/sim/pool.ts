// Replays on several cores: one worker thread per core asked for, each with its own sim, handed one episode at a
// time (the next as soon as it answers). With one worker the replay runs in this thread: nothing to start, and
// the same code. Episodes on the virtual clock do not depend on timing, so results are the same either way.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Episode } from '../../recording/index.js';
import { type EpisodeReplay, replayInSim, type SimReplayJob } from './replay-episode.js';
import { ReplayInputError } from './replay-input.js';
import type { WorkerReply } from './worker.js';

/** A worker's answer that was an error: bad input (exit 2) or a failure. */
export class ReplayFailed extends Error {
  constructor(
    message: string,
    readonly input: boolean,
  ) {
    super(message);
  }
}

/** Workers for `n` episodes: what the user asked for, else one per core, never more than there are episodes. */
export function workerCount(asked: number | undefined, episodes: number): number {
  return Math.max(1, Math.min(asked ?? availableParallelism(), episodes));
}

export class ReplayPool {
  private readonly idle: Worker[] = [];
  private readonly pending = new Map<number, { resolve(r: EpisodeReplay): void; reject(e: Error): void }>();
  private nextId = 0;
  private closed = false;

  private constructor(private readonly workers: Worker[]) {
    this.idle.push(...workers);
    for (const w of workers) {
      w.on('message', (m: WorkerReply) => this.answer(w, m));
      w.on('error', (err) => this.crashed(err));
    }
  }

  /** `n` worker threads (1: replays run in this thread). */
  static start(n: number): ReplayPool {
    const url = new URL('./worker.js', import.meta.url);
    return new ReplayPool(n > 1 ? Array.from({ length: n }, () => new Worker(url)) : []);
  }

  get size(): number {
    return Math.max(1, this.workers.length);
  }

  /** Replays one episode on a free worker: keep at most `size` replays under way. */
  async replay(episode: Episode, job: SimReplayJob): Promise<EpisodeReplay> {
    if (this.closed) throw new ReplayFailed('the replays were stopped', false);
    if (this.workers.length === 0) return this.inline(episode, job);
    const w = this.idle.shift();
    if (!w) throw new Error(`more than ${this.size} replays at once`);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // the episode's arrays are copied: the caller may keep it
      w.postMessage({ id, episode, job });
    });
  }

  /** Ends every worker (a replay under way is dropped): after Ctrl-C, or when all is done. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    for (const p of this.pending.values()) p.reject(new ReplayFailed('stopped before it finished', false));
    this.pending.clear();
  }

  private async inline(episode: Episode, job: SimReplayJob): Promise<EpisodeReplay> {
    try {
      return await replayInSim(episode, job);
    } catch (err) {
      if (err instanceof ReplayInputError) throw new ReplayFailed(err.message, true);
      throw err;
    }
  }

  private answer(w: Worker, m: WorkerReply): void {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    this.idle.push(w);
    if (!p) return;
    if ('error' in m) p.reject(new ReplayFailed(m.error.message, m.error.input));
    else p.resolve(m.result);
  }

  private crashed(err: Error): void {
    for (const p of this.pending.values()) p.reject(new ReplayFailed(`a replay worker crashed: ${err.message}`, false));
    this.pending.clear();
  }
}
