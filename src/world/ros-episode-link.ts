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

/** Between attempts to reach the reset service while the endpoint comes back. */
const RESET_RETRY_MS = 250;
/** Longest wait for one call's answer before it is sent again. */
const RESET_ATTEMPT_MS = 2000;

/** The endpoint answered and said no (or its handler failed): retrying would not help. */
class ResetRefused extends Error {}

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

  /**
   * Start a new episode from `seed`; resolves when the endpoint has reset (the success flag is cleared). A call
   * that fails or goes unanswered (the connection is being re-established, or the endpoint restarted and has not
   * advertised the service yet) is retried every 250 ms until `timeout_s` has passed; a refusal is final.
   */
  async reset(seed: number, timeout_s = 5): Promise<void> {
    const until = performance.now() + timeout_s * 1000;
    for (;;) {
      const left_ms = until - performance.now();
      try {
        return await this.resetOnce(seed, Math.max(500, Math.min(RESET_ATTEMPT_MS, left_ms)));
      } catch (err) {
        if (err instanceof ResetRefused || performance.now() + RESET_RETRY_MS >= until) throw err;
        await new Promise((r) => setTimeout(r, RESET_RETRY_MS));
      }
    }
  }

  /**
   * One call. roslib has no client-side timeout (its timeout goes to the server), and a call sent while the
   * socket is down can be lost without an answer: so the wait is bounded here, and a late answer is ignored.
   */
  private resetOnce(seed: number, timeout_ms: number): Promise<void> {
    const service = this.settings.topics.reset_service;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const timer = setTimeout(
        () => settle(() => reject(new Error(`${service}: no answer within ${timeout_ms} ms`))),
        timeout_ms,
      );
      new Service<{ seed: number }, { success: boolean; message: string }>({
        ros: this.ros,
        name: service,
        serviceType: MSG_TYPES.trigger,
      }).callService(
        { seed },
        (r) =>
          settle(() => {
            if (!r.success) return reject(new ResetRefused(`${service} refused: ${r.message}`));
            this.succeeded = false;
            // the endpoint publishes the new episode's state before it answers: keep it if it is here
            if (this.task?.seed !== seed) this.task = undefined;
            resolve();
          }),
        (err) =>
          settle(() => {
            // the service not (yet) advertised is worth waiting for; an error its handler raised is final
            const missing = /does not exist|not available|unknown service/i.test(String(err));
            reject(missing ? new Error(`${service} failed: ${err}`) : new ResetRefused(`${service} failed: ${err}`));
          }),
        timeout_ms / 1000,
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
