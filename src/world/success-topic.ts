// An episode's success from a ROS topic (std_msgs/Bool): a detector's verdict in place of the person's `s` key
// (vla-finetune --success-topic). It has a rosbridge connection of its own (the UR's rosbridge, or one beside the
// ALOHA arms), so a detector's traffic never queues behind the robot's. Success is a change to true while an
// episode is watched: a true that was already there (latched from the last episode and sent again after a
// reconnect, or held through the scene's reset) ends nothing; a detector says false once the scene is reset.

import type { Subscription } from 'rxjs';
import { defaultRosSettings } from '../../calibration/ros-settings.js';
import { RosConnection } from '../../drivers/ur/ros-connection.js';
import { Topic } from '../../drivers/ur/roslib.js';
import { MSG_TYPES } from '../../protocols/ros/messages.js';
import type { Logger } from '../telemetry/log.js';

export interface SuccessTopicOptions {
  /** The rosbridge the topic is on (ws://HOST:PORT). */
  url: string;
  /** The topic's name, e.g. /detector/success. */
  topic: string;
  /** Losing and regaining the detector's rosbridge (episodes meanwhile are judged by the keys alone). */
  onLink?: (line: string) => void;
  log?: Logger;
}

export class SuccessTopic {
  /** How many true messages ended an episode, and how many came while none was watched (ignored). */
  readonly counts = { ended: 0, ignored: 0 };
  private onSuccess: (() => void) | undefined;
  /** The last value the topic had (undefined: none seen yet). */
  private value: boolean | undefined;
  private readonly events: Subscription;

  private constructor(
    /** The topic's name (the operator's prompt names it). */
    readonly name: string,
    private readonly connection: RosConnection,
    private readonly sub: Topic<{ data: boolean }>,
    url: string,
    onLink: ((line: string) => void) | undefined,
  ) {
    sub.subscribe((m) => {
      const was = this.value;
      this.value = m?.data === true;
      if (!this.value || was === true) return;
      const act = this.onSuccess;
      if (!act) return void this.counts.ignored++;
      this.onSuccess = undefined;
      this.counts.ended++;
      act();
    });
    this.events = connection.events$.subscribe((e) => {
      if (e.type === 'disconnected') onLink?.(`the success topic's rosbridge at ${url}: lost (${e.reason}); retrying`);
      else if (e.type === 'connected' && e.reconnect) onLink?.(`the success topic's rosbridge at ${url}: back`);
    });
  }

  /** Connects (RosConnectionError naming the URL when it cannot: nothing has moved yet) and subscribes. */
  static async open(o: SuccessTopicOptions): Promise<SuccessTopic> {
    const s = defaultRosSettings();
    const connection = await RosConnection.open({
      url: o.url,
      connect_timeout_ms: s.connect_timeout_ms,
      reconnect_initial_ms: s.reconnect_initial_ms,
      reconnect_max_ms: s.reconnect_max_ms,
      ...(o.log ? { log: o.log } : {}),
    });
    const sub = new Topic<{ data: boolean }>({
      ros: connection.ros,
      name: o.topic,
      messageType: MSG_TYPES.bool,
      queue_length: 1,
    });
    return new SuccessTopic(o.topic, connection, sub, o.url, o.onLink);
  }

  /** An episode is running: the next change to true calls `act` (once). */
  watch(act: () => void): void {
    this.onSuccess = act;
  }

  /** The episode ended: a true from now on is ignored until the next watch. */
  unwatch(): void {
    this.onSuccess = undefined;
  }

  async close(): Promise<void> {
    this.onSuccess = undefined;
    this.events.unsubscribe();
    this.sub.unsubscribe();
    await this.connection.close();
  }
}
