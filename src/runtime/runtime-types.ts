// Settings and results of the runtime, whichever clock and robot it runs on.

import type { MessagePort } from 'node:worker_threads';
import type { JointState } from '../../drivers/driver.js';
import type { TaskOutcome } from '../../sim/sim-driver.js';
import type { ResidualFile } from '../policy/residual/frozen-residual.js';
import type { ResidualFigures } from '../policy/residual/residual-corrector.js';
import type { MissedTicksReport } from '../telemetry/stall-classifier.js';
import type { BlendMode, BufferStats } from './action-buffer.js';
import type { FaultReport } from './control/fault-stretch.js';
import type { CommandSource, ControlCounters } from './control/ticker.js';
import type { WorkspaceBox } from './safety.js';
import type { LatencyEstimator } from './timing/latency-estimator.js';

export interface RuntimeOptions {
  blend: BlendMode;
  /** UAC per-robot delay in ticks; undefined = measured ("auto"). */
  fixed_delay_ticks?: number;
  /** Extra ticks of buffer the trigger keeps on top of the expected delay. */
  margin_ticks: number;
  /** Per-tick step cap on top of the velocity limits (rad); default: the robot profile's. */
  max_step_rad?: number;
  /** A workspace box in joint space inside the profile's limits (safety.ts), e.g. a fine-tuning session's. */
  workspace_box?: WorkspaceBox;
  /** Latency assumed before the first inference has been measured (ms). */
  latency_prior_ms?: number;
  /** A joint state older than this holds the robot (ms). Default 100. */
  stale_state_ms?: number;
  /** Never run inference on an observation older than this (ms). Default 100. */
  stale_observation_ms?: number;
  /** Never run inference on a camera image older than this (ms). Default 250. */
  stale_image_ms?: number;
  /** A driver fault, a stale camera or an unreachable policy lasting longer ends the run (ms). Default 5000. */
  fault_timeout_ms?: number;
  /** Inference requests out at once (in-flight.ts). Default 1. */
  max_in_flight?: number;
  /** A trained residual applied in the control tick (`--residual`), checked against the robot and base policy. */
  residual?: ResidualFile;
  /** A residual built in the control thread by a module of its own (the fine-tuner's exploring actor). */
  residual_plugin?: ResidualPlugin;
}

/**
 * A residual the control thread builds from a module named by URL: the module's `createControlResidual(desc,
 * init, port, features)` returns the ResidualCorrection the tick runs. The fine-tuner's exploring actor is one
 * (src/rl/robot/control-actor.ts); the runtime knows only this contract, so it does not depend on the learner.
 * `port` is the plug-in's own channel to the main thread (weights between episodes, decisions after them); it is
 * served while the thread sleeps between ticks, so only drivers whose loop yields take a plug-in (UR, ALOHA; not
 * the embedded sim's blocking loop, which is refused).
 */
export interface ResidualPlugin {
  module: string;
  init: unknown;
  port: MessagePort;
}

export interface EpisodeOutcome {
  seed: number;
  success: boolean;
  ticks: number;
  /** Why the runtime held the robot and stopped (a fault), if it did. */
  fault?: string;
  /**
   * The fault was the robot's link (a driver fault that is not latched: connection lost, stale state, no reply),
   * or the robot could not be started: it may come back, by itself or by a person's hand (engine.robotReady()).
   */
  link_lost?: boolean;
  /** In the embedded sim: the task's figures when the episode ended (e.g. cube_to_target_m), why it failed. */
  task_outcome?: TaskOutcome;
}

/**
 * Called once per tick with the state the command was computed from, the command, the tick of that
 * state (the command is for tick k + 1), where the command came from (buffer, underrun, ...) and when the
 * control loop executed the command's tick (monotonic ms; on the virtual clock, its time).
 */
export interface TickRecorder {
  tick(state: JointState, command: Float64Array, k: number, source: CommandSource, t_ms: number): void;
}

/** What the summary is built from, whichever clock the control loop ran on. */
export interface RuntimeReport {
  control: ControlCounters;
  hz: number;
  overruns: number;
  /** Late ticks by cause, host stall or the runtime's own (real time only; see telemetry/stall-classifier.ts). */
  missed_ticks?: MissedTicksReport;
  /** |wake-up - deadline| per tick (ms); empty on the virtual clock. */
  jitter_ms: ArrayLike<number>;
  buffer: BufferStats;
  /** holds: times the runtime stopped the robot and held it (a fault, or an interrupt), ending the episode. */
  /** box_holds: commands held at the edge of a Cartesian workspace box (counted in clamped_actions too). */
  safety: { clamped_actions: number; box_holds: number; rejected_chunks: number; holds: number };
  /** Inference calls that failed or were rejected before their latency was measured (not in `latency`). */
  unmeasured_calls: number;
  /** Calls that found the policy unreachable for now (a remote server down): held and asked again. */
  unavailable_calls: number;
  /** Chunks dropped for landing after one from a later observation (only with max_in_flight > 1). */
  out_of_order_chunks: number;
  max_in_flight: number;
  latency: LatencyEstimator;
  /** Observations too old to infer on (skipped, never sent to the policy). */
  stale_observations: number;
  /** Driver health: the holds it caused, and the driver's own fault counters. */
  driver: FaultReport & { counters: Record<string, number>; command_t_mono_ms?: Float64Array };
  /** Garbage collections in the control thread (real time only). */
  control_gc?: { scavenges: number; other: number; between_episodes: number; between_episodes_max_ms: number };
  /** The virtual clock's latency model as the flag that reproduces it (--latency-model); null in real time. */
  latency_model: string | null;
  /** What the residual policy did (with --residual). */
  residual?: ResidualFigures;
}
