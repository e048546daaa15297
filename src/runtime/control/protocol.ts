// Messages between the main thread and the control thread, for what happens a few times per episode:
// its start and end, observations for the policy, statistics. Per-tick traffic does not go here: actions
// come through the shared action ring and what each tick did goes out on the shared tick board.

import type { MessagePort } from 'node:worker_threads';
import type { RosSettings } from '../../../calibration/ros-settings.js';
import type { AlohaSide } from '../../../protocols/aloha/motor-map.js';
import type { ResidualFile } from '../../policy/residual/frozen-residual.js';
import type { ResidualCorrection, ResidualFigures } from '../../policy/residual/residual-corrector.js';
import type { RobotDescription } from '../../robot/index.js';
import type { MissedTicksReport } from '../../telemetry/stall-classifier.js';
import type { ThreadHeap } from '../../telemetry/thread-heaps.js';
import type { ResidualPlugin } from '../runtime-types.js';
import type { WorkspaceBox } from '../safety.js';
import type { EpisodeEnd } from './control-loop.js';
import type { FaultReport } from './fault-stretch.js';
import type { ControlCounters } from './ticker.js';

/** The embedded MuJoCo sim, stepped by the control loop. */
export interface SimDriverConfig {
  kind: 'sim';
  robot: 'ur5' | 'ur5e' | 'aloha';
  task?: string;
  physics_hz?: number;
}

/** A UR5/UR5e through rosbridge (drivers/ur), a real cell or the simulated endpoint. */
export interface UrDriverConfig {
  kind: 'ur';
  url: string;
  settings: RosSettings;
}

/** The two ALOHA follower arms over serial (drivers/aloha), a real rig or the Dynamixel emulator. */
export interface AlohaDriverConfig {
  kind: 'aloha';
  ports: Record<AlohaSide, string>;
  /** LeRobot calibration file of each arm (checked before anything moves). */
  calibration_paths: Record<AlohaSide, string>;
  /** Per-tick bus settings; default: the bus's (15 ms per attempt, 2 retries). */
  bus?: { timeout_ms?: number; retries?: number };
  /** The user rested the arms: an EEPROM register that differs may be written with that motor's torque off. */
  allow_torque_off?: boolean;
  /** The leader arms, read each tick (a takeover device): their ports and calibration files. */
  leaders?: { ports: Record<AlohaSide, string>; calibration_paths: Record<AlohaSide, string> };
}

/** What the control thread needs to build the driver it owns (driver-factory.ts). */
export type DriverConfig = SimDriverConfig | UrDriverConfig | AlohaDriverConfig;

export interface ControlWorkerData {
  driver: DriverConfig;
  description: RobotDescription;
  ring: SharedArrayBuffer;
  ring_capacity: number;
  /** Features per chunk kept in the ring (0: none). */
  ring_features: number;
  board: SharedArrayBuffer;
  max_step_rad?: number;
  workspace_box?: WorkspaceBox;
  stale_state_ms: number;
  fault_timeout_ms: number;
  /** The loop waits until this long before a tick is due, then spins (ms). */
  spin_ms: number;
  /** A trained residual, corrected into each buffered action in this thread (checked by the main thread). */
  residual?: ResidualFile;
  /** A residual built here by a module of its own (runtime-types.ts); its port is transferred with this data. */
  residual_plugin?: ResidualPlugin;
  port: MessagePort;
}

/** What a residual plug-in module exports (runtime-types.ts ResidualPlugin). */
export type ControlResidualFactory = (
  desc: RobotDescription,
  init: unknown,
  port: MessagePort,
  features: number,
) => ResidualCorrection | Promise<ResidualCorrection>;

export type ToWorker =
  | { type: 'start'; seed: number; max_ticks?: number }
  | { type: 'observe' }
  /** Between episodes: is the robot there (a fresh measurement)? Nothing moves. */
  | { type: 'probe' }
  | { type: 'end'; fault?: string }
  | { type: 'stop' };

export interface ObservationMessage {
  type: 'observation';
  /** The last executed tick: the state is the one measured after its command. */
  tick: number;
  /** Monotonic time the joint state was measured (network drivers: received). */
  t_mono_ms: number;
  position_rad: Float64Array;
  gripper: Float64Array;
  /** The simulated scene's pose, for rendering the cameras off the control thread. */
  snapshot?: { qpos: Float64Array; mocap_pos: Float64Array };
  /** Simulator-only state for scripted experts (object poses); absent on a robot. */
  privileged?: unknown;
}

export interface LoopStats {
  counters: ControlCounters;
  clamped_actions: number;
  /** Commands held because they would have taken the flange out of its workspace box (safety.ts). */
  box_holds: number;
  overruns: number;
  /**
   * Ticks that woke half a period late or more, by cause: host stalls (the whole process was not running,
   * as a watchdog thread or the steal time showed), CPU contention (the control thread waited for a CPU)
   * and the runtime's own. Real time only.
   */
  missed_ticks?: MissedTicksReport;
  /** |wake-up - deadline| per tick (ms), the last 65536. */
  jitter_ms: Float64Array;
  faults: FaultReport;
  driver: Record<string, number>;
  /** Monotonic time each command was put on the wire (network drivers; the last 65536), for benchmarks. */
  command_t_mono_ms?: Float64Array;
  /**
   * Collections in the control thread while it ran: scavenges and others (major) that V8 started, and the full
   * ones the loop ran itself between episodes (no tick due), with the longest of those (ms).
   */
  gc?: { scavenges: number; other: number; between_episodes: number; between_episodes_max_ms: number };
  /** What the residual policy did (with --residual). */
  residual?: ResidualFigures;
}

export type FromWorker =
  | { type: 'ready'; description: RobotDescription }
  /** The driver could not set the robot up (unreachable, refused, malformed calibration): nothing moved. */
  | { type: 'setup_failed'; message: string }
  | { type: 'started' }
  | { type: 'start_failed'; reason: string }
  /** The answer to a probe: `reason` why the robot cannot start an episode now, none when it can. */
  | { type: 'probed'; reason?: string }
  | ObservationMessage
  | ({ type: 'episode_end' } & EpisodeEnd)
  | { type: 'stats'; stats: LoopStats }
  /** The thread's own V8 heap now and then (the main thread cannot read it from outside). */
  | {
      type: 'heap';
      heap: ThreadHeap;
      /** The stall watchdog thread's, which this thread owns. */
      watchdog?: ThreadHeap;
    }
  | { type: 'error'; message: string };
