// What the runtime needs from the robot's world beyond joint state: how an episode begins, whether the
// task succeeded, and what the cameras see. Implementations live in src/world/: the embedded sim's
// renders, a UR cell's ROS topics, the Dynamixel emulator's sim link, cameras on the robot host.
import type { CameraImage } from '../policy/policy.js';
import type { ObservationMessage } from './control/protocol.js';

export interface CameraWant {
  name: string;
  /** Square size the policy wants (a hint: sources that cannot render to size send what they have). */
  size: number;
}

export interface WorldView {
  images: CameraImage[];
  /** Simulator-only state for scripted experts; absent on a robot. */
  privileged?: unknown;
}

export interface WorldLink {
  /**
   * Put the world in the seed's start state before the control loop starts the episode. Absent when
   * the control loop's driver resets it (the embedded sim) or when nothing can (a real robot).
   */
  reset?(seed: number): Promise<void>;
  /** Whether the task succeeded this episode, where it is known here; absent: the control loop reports it. */
  success?(): boolean;
  /** Images and privileged state for an observation taken by the control loop. */
  view(m: ObservationMessage, want: CameraWant[]): WorldView;
  close(): Promise<void>;
}

/** A world with nothing beyond the driver: no cameras, no episodes (a bare robot). */
export const EMPTY_WORLD: WorldLink = { view: () => ({ images: [] }), close: async () => undefined };
