// vla-replay eval on 100 recorded ur5e pick-place episodes with the shipped model (target: under 2 minutes on
// this 2-core machine). The episodes are recorded first (scripted expert, virtual clock, 96 px frames: vla-run's
// defaults) and not timed; then the command runs once as a user runs it, and its whole wall time counts
// (process start, model load, reading every MCAP, inference, metrics, the schedule, the summary).
//   VLA_BENCH_REPLAY_EPISODES  episodes to record and evaluate (default 100)
//   VLA_BENCH_REPLAY_DEMOS     an existing folder of recordings to evaluate instead (nothing is recorded)
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = (name: string) => resolve(import.meta.dirname, `../../bin/${name}.js`);
const MODEL = resolve(import.meta.dirname, '../../models/ur5e-pick-place.onnx');
const TARGET_S = 120;

interface EvalJson {
  settings: { stride: number; delay_ticks: number };
  episodes: { evaluated: number };
  overall: { ticks: number; chunks: number; l1: { mean: number } };
  inference: { calls: number; round_trip_ms: { p50: number; p99: number } };
  recommendation: { horizon: number };
  wall_s: number;
}

async function record(dir: string, episodes: number): Promise<number> {
  const t0 = performance.now();
  const args = ['--robot', 'ur5e', '--sim', '--policy', 'expert', '--episodes', String(episodes), '--clock', 'fast'];
  await run(process.execPath, [BIN('vla-run'), ...args, '--record', dir, '--json'], { maxBuffer: 64 << 20 });
  return (performance.now() - t0) / 1000;
}

export async function benchmarkReplay(log: (m: string) => void): Promise<object> {
  const episodes = Number(process.env.VLA_BENCH_REPLAY_EPISODES ?? 100);
  const given = process.env.VLA_BENCH_REPLAY_DEMOS;
  const dir = given ?? (await mkdtemp(join(tmpdir(), 'vla-bench-replay-')));
  try {
    let recording_s: number | null = null;
    if (!given) {
      log(`replay: recording ${episodes} ur5e pick-place expert episodes (not timed)`);
      recording_s = Math.round((await record(dir, episodes)) * 10) / 10;
    }
    log(`replay: vla-replay eval of ${given ?? `${episodes} episodes`} with ${MODEL}`);
    const t0 = performance.now();
    const r = await run(process.execPath, [BIN('vla-replay'), 'eval', dir, '--policy', MODEL, '--json'], {
      maxBuffer: 64 << 20,
    });
    const wall_s = (performance.now() - t0) / 1000;
    const o = JSON.parse(r.stdout) as EvalJson;
    return {
      episodes: o.episodes.evaluated,
      ticks_recorded: o.overall.ticks,
      ticks_evaluated: o.overall.chunks,
      stride: o.settings.stride,
      delay_ticks: o.settings.delay_ticks,
      inferences: o.inference.calls,
      wall_s: Math.round(wall_s * 100) / 100,
      inferences_per_s: Math.round((o.inference.calls / wall_s) * 10) / 10,
      round_trip_ms: o.inference.round_trip_ms,
      l1_mean: o.overall.l1.mean,
      recommended_horizon: o.recommendation.horizon,
      target_s: TARGET_S,
      met: wall_s < TARGET_S,
      recording_s,
    };
  } finally {
    if (!given) await rm(dir, { recursive: true, force: true });
  }
}
