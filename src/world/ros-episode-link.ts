// What a real UR cell gets from its operator, from the simulated endpoint over ROS: start an episode
// (/vla_sim/reset with a seed), whether the task has succeeded (/vla_sim/success), and the privileged
// task state (/vla_sim/task_state) that only a scripted expert may read. Kept apart from UrDriver so
// that the driver stays the same for a real robot.

import type { RosSettings } from '../../calibration/ros-settings.js';
import { type Ros, Service, Topic } from '../../drivers/ur/roslib.js';
import { MSG_TYPES } from '../../protocols/ros/messages.js';
import type { TaskState } from '../../sim/tasks/task.js';

/** The task state as the endpoint publishes it: the sim's TaskState plus the episode's bookkeeping. */
export interface PublishedTaskState extends TaskState {
  seed: number;
  /** Controller ticks since the reset (at the controller rate, not the runtime's). */
  tick: number;
  sim_time_s: number;
  success: boolean;
}

export class RosEpisodeLink {
  private succeeded = false;
  private task: PublishedTaskState | undefined;
  private readonly successTopic: Topic<{ data: boolean }>;
  private readonly taskTopic: Topic<{ data: string }>;

  constructor(
    private readonly ros: Ros,
    private readonly settings: RosSettings,
  ) {
    this.successTopic = new Topic({ ros, name: settings.topics.success, messageType: MSG_TYPES.bool });
    this.successTopic.subscribe((m) => {
      this.succeeded = m.data === true;
    });
    this.taskTopic = new Topic({
      ros,
      name: settings.topics.task_state,
      messageType: MSG_TYPES.string,
      queue_length: 1,
    });
    this.taskTopic.subscribe((m) => {
      try {
        this.task = JSON.parse(m.data) as PublishedTaskState;
      } catch {
        // a malformed message leaves the last good state in place
      }
    });
  }

  /** Start a new episode from `seed`; resolves when the endpoint has reset (the success flag is cleared). */
  reset(seed: number, timeout_s = 5): Promise<void> {
    return new Promise((resolve, reject) => {
      new Service<{ seed: number }, { success: boolean; message: string }>({
        ros: this.ros,
        name: this.settings.topics.reset_service,
        serviceType: MSG_TYPES.trigger,
      }).callService(
        { seed },
        (r) => {
          if (!r.success) {
            reject(new Error(`${this.settings.topics.reset_service} refused: ${r.message}`));
            return;
          }
          this.succeeded = false;
          // the endpoint publishes the new episode's state before it answers: keep it if it is here
          if (this.task?.seed !== seed) this.task = undefined;
          resolve();
        },
        (err) => reject(new Error(`${this.settings.topics.reset_service} failed: ${err}`)),
        timeout_s,
      );
    });
  }

  /** The task has succeeded this episode (as last published). */
  success(): boolean {
    return this.succeeded;
  }

  /** Privileged: object poses and target. For scripted experts only; undefined until published after a reset. */
  taskState(): PublishedTaskState | undefined {
    return this.task;
  }

  close(): void {
    this.successTopic.unsubscribe();
    this.taskTopic.unsubscribe();
  }
}
