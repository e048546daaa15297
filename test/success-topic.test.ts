// A detector's success topic over a real rosbridge WebSocket (the simulated endpoint's server, roslib as the
// client): success is a change to true while an episode is watched; a true already there, or one outside an
// episode, ends nothing; the connection is closed with it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RosbridgeServer } from '../sim/rosbridge/rosbridge-server.js';
import { SuccessTopic } from '../src/world/success-topic.js';

const settle = () => new Promise((r) => setTimeout(r, 100));

test('success is a change to true while an episode is watched', async () => {
  const server = await RosbridgeServer.listen({ port: 0 });
  const detector = server.advertise('/detector/success', 'std_msgs/Bool', { latch: true });
  detector.publish({ data: true }); // latched from an earlier episode
  const topic = await SuccessTopic.open({ url: server.url, topic: '/detector/success' });
  try {
    await settle();
    let ended = 0;
    topic.watch(() => ended++);
    detector.publish({ data: true }); // still true: no change
    await settle();
    assert.equal(ended, 0, 'a true that was already there ends nothing');
    detector.publish({ data: false });
    detector.publish({ data: true });
    await settle();
    assert.equal(ended, 1, 'false then true: success');
    detector.publish({ data: false });
    detector.publish({ data: true });
    await settle();
    assert.equal(ended, 1, 'once per watch');
    topic.unwatch();
    detector.publish({ data: false });
    detector.publish({ data: true });
    await settle();
    assert.equal(ended, 1, 'between episodes: ignored');
    assert.deepEqual(topic.counts, { ended: 1, ignored: 3 });
  } finally {
    await topic.close();
    await server.close();
  }
});

test('no rosbridge at the address: open fails naming it (nothing has moved)', async () => {
  await assert.rejects(SuccessTopic.open({ url: 'ws://127.0.0.1:9', topic: '/detector/success' }), /127\.0\.0\.1:9/);
});
