// What the episode engine needs from a control loop, whichever clock drives it: the real-time loop in its
// own thread (threaded-control.ts) or the virtual clock in this thread (inline-control.ts).
import type { RobotDescription } from '../../robot/index.js';
import type { ActionRing } from '../action-ring.js';
import type { EpisodeEnd } from './control-loop.js';
import type { LoopStats, ObservationMessage } from './protocol.js';
import type { TickRecord } from './tick-board.js';

export interface ControlPort {
  /** The robot as the driver describes it (an ALOHA rig narrows the limits to its calibration). */
  readonly description: RobotDescription;
  readonly ring: ActionRing;
  /** Start an episode (the sim resets from the seed); resolves once it ticks, or with why it cannot start. */
  start(seed: number, max_ticks?: number): Promise<string | undefined>;
  /**
   * Between episodes: whether the driver could start one now (a fresh measurement, nothing moves); why not.
   * What a session waits on after the robot's link was lost.
   */
  probe(): Promise<string | undefined>;
  /** Called for every tick the loop executes, in order (`record` is a view: copy what you keep). */
  onTick(listener: (record: TickRecord) => void): () => void;
  /**
   * The state measured after the last executed tick, with what only the control side has (sim scene, privileged
   * state).
   */
  observe(): Promise<ObservationMessage>;
  /** When the latest stretch of non-ok driver health began (monotonic ms; -Infinity: never). */
  lastFaultStart_ms(): number;
  /** Ask for the episode to end after the current tick. */
  requestEnd(fault?: string): void;
  /** Resolves when the episode ended (asked for, by the sim itself, at its tick limit, or by a driver fault). */
  ended(): Promise<EpisodeEnd>;
  /** Stop the loop and the driver; what the loop measured. */
  stop(): Promise<LoopStats | undefined>;
}
