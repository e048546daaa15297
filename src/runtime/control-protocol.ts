// Messages between the main thread and the control-loop worker. Actions do not travel here: they go
// through the shared action ring. The worker's loop never yields to its event loop, so it reads this
// port synchronously (receiveMessageOnPort) once per tick.
import type { MessagePort } from 'node:worker_threads';
import type { RobotDescription } from '../../drivers/driver.js';
import type { TaskState } from '../../sim/tasks/task.js';
import type { SimSnapshot } from '../../sim/sim-env.js';
import type { BlendMode } from './action-buffer.js';
import type { CommandSource, ControlCounters } from './control-ticker.js';

export interface SimDriverConfig {
  kind: 'sim';
  robot: 'ur5' | 'ur5e' | 'aloha';
  task?: string;
  physics_hz?: number;
  control_hz?: number;
}

export type DriverConfig = SimDriverConfig;

export interface ControlWorkerData {
  driver: DriverConfig;
  ring: SharedArrayBuffer;
  ring_capacity: number;
  control_hz: number;
  max_step_rad?: number;
  /** The loop sleeps until this long before a tick is due, then spins (ms). */
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
  t_mono_ms: number;
  position_rad: Float64Array;
  gripper: Float64Array;
  /** The simulated scene's pose, for rendering the cameras off the control thread. */
  snapshot?: SimSnapshot;
  task?: TaskState;
}

export interface LoopStats {
  counters: ControlCounters;
  clamped_actions: number;
  overruns: number;
  /** |wake-up - deadline| per tick (ms). */
  jitter_ms: Float64Array;
}

export type FromWorker =
  | { type: 'ready'; description: RobotDescription }
  | StateMessage
  | ObservationMessage
  | { type: 'episode_end'; seed: number; success: boolean; ticks: number }
  | { type: 'stats'; stats: LoopStats }
  | { type: 'error'; message: string };
