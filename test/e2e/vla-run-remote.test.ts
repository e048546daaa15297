// vla-run on a policy served by vla-serve in another process, in real time, while the server crashes and comes
// back on the same port: the robot holds (the buffer runs out, calls find the policy unreachable), the client
// reconnects, checks the server's manifest again and the run goes on with fresh chunks, no fault, exit 0.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ZmqPolicy } from '../../src/policy/remote/zmq-policy.js';
import { sleep, waitFor } from '../fixtures/remote.js';
import { killServers, RUN, runNode, serveChild, UR5E_MODEL } from '../fixtures/serve-child.js';

after(killServers);

test('the policy server killed mid-run and restarted: hold, reconnect, resume; exit 0', async () => {
  const first = await serveChild(['--policy', UR5E_MODEL, '--bind', 'tcp://127.0.0.1:0']);
  const port = first.endpoint.split(':').at(-1);
  const run = runNode(RUN, ['--robot', 'ur5e', '--sim', '--policy', first.url, '--episodes', '1', '--json']);
  // the run is under way once the server has answered a few of its calls (asked through a client of our own)
  const probe = await ZmqPolicy.connect({ endpoint: first.endpoint });
  try {
    await waitFor('the run to get chunks', async () => (await probe.health()).served >= 5, 1200);
  } finally {
    await probe.close();
  }
  await first.kill();
  await sleep(1000);
  const second = await serveChild(['--policy', UR5E_MODEL, '--bind', `tcp://127.0.0.1:${port}`]);
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.fault, null, r.stdout);
  assert.equal(s.holds.stops, 0);
  assert.ok(s.inference.unavailable_calls > 0, `no call found the server down: ${JSON.stringify(s.inference)}`);
  assert.ok(s.episode_ends.fault === 0 && s.episodes === 1, r.stdout);
  const end = await second.stop();
  assert.equal(end.code, 0);
  assert.match(end.stderr, /"chunks":[1-9]\d*.*client vla-run ur5e pid/);
});
