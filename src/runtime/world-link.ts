// What the main thread knows about the robot's world beyond joint state: how an episode begins, whether
// the task succeeded, and what the cameras see. The embedded sim answers from the control thread's
// snapshots (SimWorld); a UR cell answers over ROS topics (drivers/ur/ros-world.ts): the reset service
// and success topic of the simulated endpoint, camera topics, and nothing of the kind on a real robot.
import type { CameraImage } from '../policy/policy.js';
import type { TaskState } from '../../sim/tasks/task.js';
import type { ObservationMessage } from './control-protocol.js';

export interface CameraWant {
  name: string;
  /** Square size the policy wants (a hint: sources that cannot render to size send what they have). */
  size: number;
}

export interface WorldView {
  images: CameraImage[];
  /** Privileged task state, for scripted experts only. */
  task?: TaskState;
}

export interface WorldLink {
  /**
   * Put the world in the seed's start state before the control thread starts the episode. Absent when
   * the control thread's driver resets it (the embedded sim) or when nothing can (a real robot).
   */
  reset?(seed: number): Promise<void>;
  /** Whether the task succeeded this episode, where it is known here; absent: the control thread reports it. */
  success?(): boolean;
  /** Images and task state for an observation taken by the control thread. */
  view(m: ObservationMessage, want: CameraWant[]): WorldView;
  close(): Promise<void>;
}
