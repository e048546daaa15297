// rosapi, which rosbridge is usually launched with: asks the ROS graph who subscribes to a topic. Used once
// at set-up, to refuse a command topic nobody listens to (a controller not loaded, or topic names of
// the other ROS version), instead of streaming commands into the void.
import { type Ros, Service } from './roslib.js';

export const ROSAPI_SUBSCRIBERS = '/rosapi/subscribers';

export type SubscribersAnswer = { kind: 'answer'; subscribers: string[] } | { kind: 'unavailable'; why: string };

export function askSubscribers(ros: Ros, topic: string, timeout_ms: number): Promise<SubscribersAnswer> {
  return new Promise((resolve) => {
    const service = new Service<{ topic: string }, { subscribers?: unknown }>({
      ros,
      name: ROSAPI_SUBSCRIBERS,
      serviceType: 'rosapi/Subscribers',
    });
    const timer = setTimeout(
      () => resolve({ kind: 'unavailable', why: `no answer from ${ROSAPI_SUBSCRIBERS} within ${timeout_ms} ms` }),
      timeout_ms,
    );
    service.callService(
      { topic },
      (r) => {
        clearTimeout(timer);
        const subs = Array.isArray(r.subscribers)
          ? r.subscribers.filter((x): x is string => typeof x === 'string')
          : [];
        resolve({ kind: 'answer', subscribers: subs });
      },
      (err) => {
        clearTimeout(timer);
        resolve({ kind: 'unavailable', why: String(err) });
      },
    );
  });
}
