// One recorded episode, evaluated open loop: the policy runs on the observation of every stride-th tick and its
// chunk is compared with the recorded actions that followed (ChunkMetrics); then the runtime's schedule for the
// chosen delay and margin (schedule.ts) says which of those actions the robot would have executed, and where
// a landing chunk would have replaced an old one (seams). A policy without a committed-prefix input gives the
// same chunk for a tick whatever the buffer holds, so the schedule reuses the open-loop chunks and asks only for
// the ticks the stride skipped; a prefix-conditioned one is asked again with the schedule's buffer.
import type { Policy } from '../../policy/policy.js';
import { ActionBuffer } from '../../runtime/action-buffer.js';
import { ActionRing } from '../../runtime/action-ring.js';
import { LatencyEstimator } from '../../runtime/timing/latency-estimator.js';
import type { EpisodeView } from './episode-view.js';
import { DimStats } from './l1-stats.js';
import { ChunkMetrics } from './metrics.js';
import { type BufferState, type ObservationSetup, recordedObservation } from './observation.js';
import { runSchedule, type ScheduleCounts, type ScheduleParams } from './schedule.js';

export interface EpisodeEvalParams {
  stride: number;
  schedule: ScheduleParams;
  /** Keep every n-th open-loop chunk for the fan plot (a multiple of the stride). */
  fan_every: number;
}

export interface FanChunk {
  obs_tick: number;
  first_tick: number;
  actions: Float32Array;
}

export interface EpisodeEval {
  /** Open-loop chunks compared (at least one recorded action after them). */
  chunks: number;
  open: ChunkMetrics;
  executed: DimStats;
  /** |new - old| on every tick where a landing chunk replaced the old plan, and at the first such tick. */
  seam_overlap: DimStats;
  seam_first: DimStats;
  schedule: ScheduleCounts;
  /** Round trip of every policy call (ms), open-loop and schedule alike. */
  call_ms: number[];
  /** Calls the schedule needed beyond the open-loop ones. */
  schedule_calls: number;
  fan: FanChunk[];
  /** Rows before every camera the policy reads had shown a frame: nothing to look at, not evaluated. */
  rows_without_frames: number;
}

/** An empty buffer: what an open-loop observation is taken with (no committed prefix). */
export function emptyBufferState(dim: number, delay_ticks: number): BufferState {
  const ring = ActionRing.create({ capacity: 64, dim }, false);
  return {
    buffer: new ActionBuffer(ring, { blend: 'replace' }),
    latency: new LatencyEstimator({ prior_ms: 0 }),
    expected_delay_ticks: delay_ticks,
  };
}

export async function evaluateEpisode(
  view: EpisodeView,
  policy: Policy,
  setup: ObservationSetup,
  p: EpisodeEvalParams,
): Promise<EpisodeEval> {
  const { horizon: H, dim: D, offset } = p.schedule;
  const first_row = view.firstRowWithFrames(setup.policy.cameras.map((c) => c.name));
  // a chunk is worth asking for while its first action still has a recorded one to compare with
  const last_obs_tick = view.last_tick - offset + 1;
  const out: EpisodeEval = {
    chunks: 0,
    open: new ChunkMetrics(H, D),
    executed: new DimStats(D),
    seam_overlap: new DimStats(D),
    seam_first: new DimStats(D),
    schedule: { chunks_landed: 0, ticks_executed: 0, startup_ticks: 0, underruns: 0, index_counts: [] },
    call_ms: [],
    schedule_calls: 0,
    fan: [],
    rows_without_frames: Math.min(first_row, view.rows),
  };
  if (first_row >= view.rows || view.episode.tick[first_row] > last_obs_tick) {
    out.schedule.index_counts = new Array(H).fill(0);
    return out;
  }
  const call = async (row: number, state: BufferState): Promise<Float32Array> => {
    const obs = recordedObservation(view, row, setup, state);
    const t0 = performance.now();
    const chunk = await policy.infer(obs);
    out.call_ms.push(performance.now() - t0);
    return chunk.actions;
  };
  const cacheable = setup.policy.max_committed === 0;
  const cache = new Map<number, Float32Array>();
  const empty = emptyBufferState(D, p.schedule.delay_ticks);
  for (let row = first_row; row < view.rows && view.episode.tick[row] <= last_obs_tick; row += p.stride) {
    const tick = view.episode.tick[row];
    const actions = await call(row, empty);
    if (out.open.add(actions, tick + offset, view) > 0) out.chunks++;
    if (cacheable) cache.set(tick, actions);
    if ((row - first_row) % p.fan_every === 0) out.fan.push({ obs_tick: tick, first_tick: tick + offset, actions });
  }
  out.schedule = await runSchedule(p.schedule, view.episode.tick[first_row], view.last_tick + 1, {
    chunkAt: async (tick, state) => {
      const row = view.rowOfTick(tick);
      if (row < first_row || tick > last_obs_tick) return undefined;
      const cached = cache.get(tick);
      if (cached) return cached;
      out.schedule_calls++;
      return call(row, state);
    },
    executed: (tick, action) => {
      const row = view.rowOfActionFor(tick);
      if (row >= 0) out.executed.addRow(action, 0, view.action, row * D);
    },
    seam: (_tick, old, next, at, first) => {
      out.seam_overlap.addRow(old, 0, next, at);
      if (first) out.seam_first.addRow(old, 0, next, at);
    },
  });
  return out;
}
