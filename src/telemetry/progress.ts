// Progress of long work (training, many episodes, benchmarks) as a cli-progress bar with rate and ETA on
// stderr, only when stderr is a terminal and never under --json: logs and one-object stdout stay clean.
import { SingleBar } from 'cli-progress';
import { monotonicMs } from '../util/clock.js';

export interface Progress {
  /** `done` of `total` units finished; `note` says what (e.g. '12 succeeded'). */
  update(done: number, total: number, note?: string): void;
  end(): void;
}

export interface ProgressOptions {
  /** What is counted, for the rate ('episodes', 'steps'). */
  unit?: string;
  /** Under --json nothing is drawn. */
  json?: boolean;
  stream?: NodeJS.WriteStream;
}

const SILENT: Progress = { update: () => undefined, end: () => undefined };

export function progress(label: string, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.json || stream.isTTY !== true) return SILENT;
  const unit = opts.unit ?? 'it';
  const bar = new SingleBar({
    stream,
    format: `${label} [{bar}] {value}/{total} {percentage}% | {rate} ${unit}/s | ETA {eta_formatted} | {note}`,
    barsize: 24,
    hideCursor: true,
    clearOnComplete: false,
    etaBuffer: 20,
  });
  let started = false;
  const t0 = monotonicMs();
  return {
    update(done, total, note = '') {
      const rate = done / Math.max(1e-3, (monotonicMs() - t0) / 1000);
      const payload = { note, rate: rate >= 10 ? rate.toFixed(0) : rate.toFixed(2) };
      if (!started) {
        bar.start(total, done, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, payload);
      }
    },
    end() {
      if (started) bar.stop();
    },
  };
}
