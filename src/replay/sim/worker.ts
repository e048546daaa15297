// A replay worker thread: replays the episodes it is handed in its own sim, one at a time, and answers with the
// result or with what went wrong (bad input is told apart from a failure, for the exit code).
import { parentPort } from 'node:worker_threads';
import { type Episode, EpisodeFileError } from '../../recording/index.js';
import { replayInSim, type SimReplayJob } from './replay-episode.js';
import { ReplayInputError } from './replay-input.js';

export interface WorkerRequest {
  id: number;
  episode: Episode;
  job: SimReplayJob;
}

export type WorkerReply =
  | { id: number; result: Awaited<ReturnType<typeof replayInSim>> }
  | { id: number; error: { message: string; input: boolean } };

const port = parentPort;
if (!port) throw new Error('src/replay/sim/worker.ts runs as a worker thread');

port.on('message', (m: WorkerRequest) => {
  replayInSim(m.episode, m.job).then(
    (result) => port.postMessage({ id: m.id, result } satisfies WorkerReply),
    (err: unknown) => {
      const input = err instanceof ReplayInputError || err instanceof EpisodeFileError;
      const message = err instanceof Error ? err.message : String(err);
      port.postMessage({ id: m.id, error: { message, input } } satisfies WorkerReply);
    },
  );
});
