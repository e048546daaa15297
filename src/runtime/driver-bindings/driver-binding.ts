// The seam between the control thread and one kind of driver: how to build it, how the loop must wait
// for ticks (blocking, or yielding to the event loop for drivers that do I/O there), how an episode
// starts, and whether commands may flow right now. The control loop (control-worker.ts) knows nothing
// else about drivers; a new kind (ALOHA over serial, ...) is one more binding and one line in index.ts.
import type { Observable } from 'rxjs';
import type { Driver, JointState } from '../../../drivers/driver.js';
import type { PacingKind } from '../pacing.js';
import type { DriverStats, DriverStatusMessage, ObservationMessage } from '../control-protocol.js';

export type DriverHealth = Omit<DriverStatusMessage, 'type'>;

export interface DriverBinding {
  readonly driver: Driver;
  readonly pacing: PacingKind;
  /**
   * Start an episode: the sim resets its world from the seed; a robot restarts its tick count (its world
   * was reset, if at all, by the main thread before). Returns the measured state the episode starts
   * from, or why it cannot start (no fresh state). A yielding binding may answer asynchronously (a
   * serial driver reads the arms first); a blocking one must answer at once (its loop never awaits).
   */
  startEpisode(seed: number): JointState | string | Promise<JointState | string>;
  /**
   * The episode is over: resolve once the last command is on the wire, so that whatever the main
   * thread does next (resetting the world) comes after it. Absent: nothing can be in flight.
   */
  endEpisode?(): Promise<void>;
  /** Undefined while commands may flow; otherwise why the robot must hold (called once per tick). */
  fault(): string | undefined;
  /** A fresh measurement to restart the command stream from after a fault cleared. */
  measured(): JointState | undefined;
  /**
   * Asked once when a fault clears: whether that hold left the actuators exactly on the last command
   * (only reads were missed, for a few ticks at most, and nothing else could move the robot). The loop
   * then goes on with the buffered plan; otherwise (absent, or false) it restarts from the measured pose
   * and waits for a chunk computed after the fault.
   */
  holdWasTransient?(): boolean;
  /** The episode has ended by itself (the sim: success or time out). Robots never end one themselves. */
  readonly done: boolean;
  /** Whether the task succeeded, where this thread can know it (the sim); false otherwise. */
  success(): boolean;
  /** Parts of an observation only this thread can supply (the sim's scene snapshot and task state). */
  observationExtras(): Pick<ObservationMessage, 'snapshot' | 'task'>;
  /** Health changes (network drivers); reported to the main thread, which counts holds and times out. */
  readonly health$?: Observable<DriverHealth>;
  /** Called right after each tick's send()/hold(), with the monotonic time the tick started (ms). */
  afterTick?(t_mono_ms: number): void;
  stats(): DriverStats;
}

export interface BindingContext {
  control_hz: number;
}

/** The robot could not be reached when the control thread started: nothing was sent (bad input, exit 2). */
export class DriverUnreachable extends Error {
  override readonly name: string = 'DriverUnreachable';
}

/**
 * The driver refused what it was given before it sent anything (a malformed calibration file, a port
 * that cannot be opened). A kind of DriverUnreachable, so every caller that refuses one (exit 2) refuses
 * this too.
 */
export class DriverSetupError extends DriverUnreachable {
  override readonly name: string = 'DriverSetupError';
}
