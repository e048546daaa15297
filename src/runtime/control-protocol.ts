// Messages between the main thread and the control-loop worker. Actions do not travel here: they go
// through the shared action ring. The worker reads this port synchronously (receiveMessageOnPort) once
// per tick, whether its loop blocks between ticks (sim) or yields to its event loop (network drivers).
import type { MessagePort } from 'node:worker_threads';
import type { RobotDescription } from '../../drivers/driver.js';
import type { TaskState } from '../../sim/tasks/task.js';
import type { SimSnapshot } from '../../sim/sim-env.js';
import type { RosSettings, UrRobotName } from '../../calibration/ros-settings.js';
import type { AlohaSide } from '../../drivers/aloha/motor-map.js';
import type { BlendMode } from './action-buffer.js';
import type { CommandSource, ControlCounters } from './control-ticker.js';

export interface SimDriverConfig {
  kind: 'sim';
  robot: 'ur5' | 'ur5e' | 'aloha';
  task?: string;
  physics_hz?: number;
  control_hz?: number;
}

/** A UR5/UR5e through rosbridge (drivers/ur), a real cell or the simulated endpoint. */
export interface UrDriverConfig {
  kind: 'ur';
  robot: UrRobotName;
  /** rosbridge server, ws://host:port. */
  url: string;
  settings: RosSettings;
  control_hz: number;
  /** The far end is `vla-sim serve` (only reported by describe()). */
  sim_endpoint: boolean;
}

/** The two ALOHA follower arms over serial (drivers/aloha), a real rig or the Dynamixel emulator. */
export interface AlohaDriverConfig {
  kind: 'aloha';
  robot: 'aloha';
  /** Serial port of each follower arm. */
  ports: Record<AlohaSide, string>;
  /** LeRobot calibration file of each arm (checked before anything moves). */
  calibration_paths: Record<AlohaSide, string>;
  control_hz: number;
  /** Per-tick bus settings; default: the bus's (15 ms per attempt, 2 retries). */
  bus?: { timeout_ms?: number; retries?: number };
  /** A joint state older than this is a fault: the loop holds (ms). */
  stale_state_ms: number;
  /** The ports are the emulator's (only reported by describe()). */
  sim_endpoint: boolean;
  /**
   * The user rested the arms (vla-run --allow-torque-off): an EEPROM register that differs from the
   * calibration may be written by switching that motor's torque off. Absent: refused, nothing written.
   */
  allow_torque_off?: boolean;
}

/**
 * What the control thread needs to build the driver it owns. One member per kind of driver; each kind
 * has its binding in driver-bindings/ (the only place that knows how to build and pace it).
 */
export type DriverConfig = SimDriverConfig | UrDriverConfig | AlohaDriverConfig;
export type DriverKind = DriverConfig['kind'];

export interface ControlWorkerData {
  driver: DriverConfig;
  ring: SharedArrayBuffer;
  ring_capacity: number;
  control_hz: number;
  max_step_rad?: number;
  /** The loop waits until this long before a tick is due, then spins (ms). */
  spin_ms: number;
  port: MessagePort;
  /** Only used to label the summary. */
  blend: BlendMode;
}

export type ToWorker =
  | { type: 'reset'; seed: number }
  | { type: 'observe' }
  | { type: 'end_episode' }
  | { type: 'stop' };

export interface StateMessage {
  type: 'state';
  tick: number;
  t_mono_ms: number;
  position_rad: Float64Array;
  velocity_rad_s: Float64Array;
  gripper: Float64Array;
  /** The command sent at this tick (after safety), or null if the robot was told to hold. */
  command: Float64Array | null;
  /** Where the command came from: the buffer, or held because it was empty (underrun, start-up) or a fault. */
  source: CommandSource;
  done: boolean;
  success: boolean;
}

export interface ObservationMessage {
  type: 'observation';
  tick: number;
  /** Monotonic time the joint state was measured (network drivers: received). */
  t_mono_ms: number;
  position_rad: Float64Array;
  gripper: Float64Array;
  /** The simulated scene's pose, for rendering the cameras off the control thread. */
  snapshot?: SimSnapshot;
  task?: TaskState;
}

/** The driver's health as the control thread sees it; any status but ok makes the loop hold. */
export interface DriverStatusMessage {
  type: 'driver_status';
  ok: boolean;
  /** Driver-specific name ('ok', 'stale', 'program_stopped', 'disconnected', ...). */
  status: string;
  reason: string;
  t_mono_ms: number;
  /** The fault cannot clear by itself (a servo's hardware alert needs a person): the run ends at once. */
  latched?: boolean;
}

/** What a driver binding reports at the end: fault counters and, for network drivers, command send times. */
export interface DriverStats {
  kind: DriverKind;
  faults: Record<string, number>;
  /** Monotonic send time of each command put on the wire (the last 65536), for latency benchmarks. */
  command_t_mono_ms?: Float64Array;
}

export interface LoopStats {
  counters: ControlCounters;
  clamped_actions: number;
  overruns: number;
  /** |wake-up - deadline| per tick (ms). */
  jitter_ms: Float64Array;
  driver: DriverStats;
}

export type FromWorker =
  | { type: 'ready'; description: RobotDescription }
  | StateMessage
  | ObservationMessage
  | DriverStatusMessage
  | { type: 'episode_end'; seed: number; success: boolean; ticks: number; fault?: string }
  | { type: 'stats'; stats: LoopStats }
  /** `connection`: the driver could not reach the robot or refused its set-up at start (bad input: exit 2, nothing moved). */
  | { type: 'error'; message: string; connection?: boolean };
