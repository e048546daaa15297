// Settings and results shared by the real-time and the virtual-clock runtime.
import type { JointState } from '../../drivers/driver.js';
import type { BlendMode, BufferStats } from './action-buffer.js';
import type { ControlCounters } from './control-ticker.js';
import type { LatencyEstimator } from './latency.js';
import type { InjectedLatency } from './injected-latency.js';
import type { DriverFaultReport } from './driver-faults.js';

export interface RuntimeOptions {
  blend: BlendMode;
  /** UAC per-robot delay in ticks; undefined = measured ("auto"). */
  fixed_delay_ticks?: number;
  /** Extra ticks of buffer the trigger keeps on top of the expected delay. */
  margin_ticks: number;
  injected: InjectedLatency;
  /** Per-tick step cap on top of the velocity limits (rad). */
  max_step_rad?: number;
  /** Latency assumed before the first inference has been measured (ms). */
  latency_prior_ms?: number;
  /** Seed of the injected-latency jitter. */
  seed?: number;
  /** End an episode after this many ticks even if the task has not ended it. */
  max_ticks?: number;
  /** Never run inference on an observation older than this (ms). */
  stale_observation_ms?: number;
  /** Never run inference on a camera image older than this (ms). */
  stale_image_ms?: number;
}

export interface EpisodeOutcome {
  seed: number;
  success: boolean;
  ticks: number;
  /** Why the runtime held the robot and stopped (a fault), if it did. */
  fault?: string;
}

/** Called once per tick with the state the command was computed at and the command sent. */
export interface TickRecorder {
  tick(state: JointState, command: Float64Array, k: number): void;
}

/** What the summary is built from, whichever thread the control loop ran on. */
export interface RuntimeReport {
  control: ControlCounters;
  hz: number;
  overruns: number;
  /** |wake-up - deadline| per tick (ms); empty on the virtual clock. */
  jitter_ms: ArrayLike<number>;
  buffer: BufferStats;
  safety: { clamped_actions: number; rejected_chunks: number; holds: number };
  latency: LatencyEstimator;
  /** Observations too old to infer on (skipped, never sent to the policy). */
  stale_observations: number;
  /** The driver's faults and the holds they caused (real-time runtime only). */
  driver?: DriverReport;
}

export interface DriverReport extends DriverFaultReport {
  kind: string;
  /** The driver's own fault counters (e.g. UR: stale_states, disconnects, reconnects, held_ticks). */
  faults: Record<string, number>;
  /** Monotonic send time of each command put on the wire (network drivers), for latency benchmarks. */
  command_t_mono_ms?: Float64Array;
}
