// The remote policy over real ZeroMQ sockets on loopback, with real ONNX models: what the robot gets from a
// server is what the model gives locally, mismatches are refused, restarts and late replies are survived, and
// bad messages are rejected and counted while other clients go on being served. Behaviour only, no timings.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Dealer } from 'zeromq';
import { header, type ServerMessage } from '../protocols/policy-server/protocol.js';
import { PolicyMismatch } from '../src/policy/load-policy.js';
import { writeTestPolicy } from '../src/policy/onnx/model-writer.js';
import { OnnxPolicy } from '../src/policy/onnx/onnx-policy.js';
import { buildResizeMap, writeImageTensor } from '../src/policy/onnx/preprocess.js';
import { PolicyUnavailable } from '../src/policy/policy.js';
import { loadRemotePolicy, parseRemoteSpec } from '../src/policy/remote/load-remote.js';
import { PolicyServer } from '../src/policy/remote/policy-server.js';
import { ZmqPolicy } from '../src/policy/remote/zmq-policy.js';
import { loadRobot } from '../src/robot/index.js';
import { modelPath } from './fixtures/onnx.js';
import { eventually, observation, REMOTE_UR5E, SlowCalls, sameBits, waitFor } from './fixtures/remote.js';

let model: string;
let local: OnnxPolicy;
const open: { close(): Promise<void> }[] = [];
const track = <T extends { close(): Promise<void> }>(x: T): T => {
  open.push(x);
  return x;
};

before(async () => {
  model = (await writeTestPolicy(modelPath(), REMOTE_UR5E)).path;
  local = await OnnxPolicy.load(model);
});
after(async () => {
  for (const x of open.reverse()) await x.close();
  await local.close();
});

async function serve(
  opts: { bind?: string; max_message_bytes?: number; inject_latency_ms?: number } = {},
  pool?: (OnnxPolicy | SlowCalls)[],
) {
  const policies = pool ?? [track(await OnnxPolicy.load(model))];
  return track(await PolicyServer.start(policies, { bind: opts.bind ?? 'tcp://127.0.0.1:0', ...opts }));
}

describe('the remote policy', () => {
  test('a slow server rehearsed (--inject-latency-ms): the same chunk, the extra time is inference', async () => {
    const server = await serve({ inject_latency_ms: 60 });
    const remote = track(await ZmqPolicy.connect({ endpoint: server.endpoint }));
    const obs = observation(REMOTE_UR5E, 3);
    const [r, l] = [await remote.infer(obs), await local.infer(obs)];
    assert.ok(sameBits(r.actions, l.actions));
    // a timer never fires early: the lower bound holds on any machine
    assert.ok(remote.last_call!.inference_ms >= 59, String(remote.last_call!.inference_ms));
  });

  test('round trip: the chunk is the model’s local output for the same observation, bit for bit', async () => {
    const server = await serve();
    const remote = track(await ZmqPolicy.connect({ endpoint: server.endpoint }));
    const d = remote.describe();
    assert.deepEqual(
      [d.kind, d.name, d.robot, d.horizon, d.action_dim, d.action_offset, d.state_dim, d.control_hz],
      ['remote', 'ur5e-remote-test', 'ur5e', 10, 7, 1, 7, 50],
    );
    assert.deepEqual(d.cameras, local.describe().cameras);
    assert.deepEqual(
      remote.server.policy.cameras.map((c) => [c.layout, c.dtype]),
      [
        ['NCHW', 'float32'],
        ['NHWC', 'uint8'],
      ],
    );
    for (const tick of [5, 6, 7]) {
      const obs = observation(REMOTE_UR5E, tick);
      const [r, l] = [await remote.infer(obs), await local.infer(obs)];
      assert.deepEqual([r.obs_tick, r.first_tick, r.horizon, r.dim], [tick, tick + 1, 10, 7]);
      assert.ok(sameBits(r.actions, l.actions), `tick ${tick}: remote and local chunks differ`);
    }
    const timing = remote.last_call!;
    assert.ok(timing.inference_ms > 0 && timing.queue_ms >= 0 && timing.preprocess_ms >= 0);
    assert.ok(timing.bytes_sent > (32 * 24 + 16 * 16) * 3 && timing.bytes_received >= 10 * 7 * 4);
    const c = remote.counters() as { requests: number; chunks: number; bytes_sent: number; last_request_bytes: number };
    assert.deepEqual([c.requests, c.chunks], [3, 3]);
    assert.equal(c.last_request_bytes, timing.bytes_sent);
    const health = await remote.health();
    assert.deepEqual([health.ok, health.policy, health.queued], [true, 'ur5e-remote-test', 0]);
    assert.equal(server.stats().clients[0].chunks, 3);
  });

  test('frames of another size are resized on the robot host with the manifest’s rule; JPEG is smaller', async () => {
    const server = await serve();
    const remote = track(await ZmqPolicy.connect({ endpoint: server.endpoint }));
    const big = observation(REMOTE_UR5E, 9, 9, { top: { width: 64, height: 48 }, wrist: { width: 40, height: 30 } });
    // what the robot host sends: the manifest's bilinear resize, rounded to bytes, at the model's size
    const resized = {
      ...big,
      images: big.images.map((img) => {
        const cam = REMOTE_UR5E.cameras.find((c) => c.name === img.name)!;
        const rgb = new Uint8Array(cam.width * cam.height * 3);
        writeImageTensor(img.rgb, buildResizeMap(img.width, img.height, cam.width, cam.height), 'NHWC', rgb, undefined);
        return { ...img, width: cam.width, height: cam.height, rgb };
      }),
    };
    const r = await remote.infer(big);
    assert.ok(sameBits(r.actions, (await local.infer(resized)).actions));
    const raw = remote.last_call!.bytes_sent;
    const jpeg = track(await ZmqPolicy.connect({ endpoint: server.endpoint, jpeg_quality: 50 }));
    const j = await jpeg.infer(big);
    assert.ok(jpeg.last_call!.bytes_sent < raw, `${jpeg.last_call!.bytes_sent} >= ${raw}`);
    assert.ok(j.actions.every(Number.isFinite));
  });

  test('a model for ur5e served, a client for aloha: refused before anything moves, expected vs found', async () => {
    const server = await serve();
    const aloha = await loadRobot('aloha');
    const target = { robot: aloha, control_hz: 50, cameras: ['top', 'left_wrist'], square_cameras_only: false };
    await assert.rejects(loadRemotePolicy(server.endpoint, target), (err: Error) => {
      assert.ok(err instanceof PolicyMismatch);
      assert.match(err.message, /action dimension: expected 14 \(robot aloha\), found 7/);
      assert.match(err.message, /robot: expected aloha, found ur5e/);
      return true;
    });
    const ur5e = await loadRobot('ur5e');
    const fits = { robot: ur5e, control_hz: 50, cameras: ['top', 'wrist'], square_cameras_only: false };
    const ok = await loadRemotePolicy(server.endpoint.replace('tcp:', 'zmq:'), fits);
    await ok.policy.close();
    await assert.rejects(
      loadRemotePolicy('zmq://127.0.0.1:1?connect_timeout_ms=300', fits),
      (err: Error) =>
        err instanceof PolicyMismatch && /no policy server answers at tcp:\/\/127\.0\.0\.1:1/.test(err.message),
    );
    assert.throws(() => parseRemoteSpec('zmq://h:5555?colour=red'), /unknown option 'colour'/);
    assert.equal(parseRemoteSpec('zmq://gpu-box').endpoint, 'tcp://gpu-box:5555');
  });

  test('the server killed and restarted: calls fail clearly, then succeed after the reconnect', async () => {
    const first = await serve();
    const port = first.endpoint.split(':').at(-1);
    const remote = track(await ZmqPolicy.connect({ endpoint: first.endpoint, timeout_ms: 1000 }));
    await remote.infer(observation(REMOTE_UR5E, 1));
    await first.close();
    await waitFor('the client to see the server gone', async () => {
      try {
        await remote.infer(observation(REMOTE_UR5E, 2));
        return false;
      } catch (err) {
        assert.ok(err instanceof PolicyUnavailable, String(err));
        assert.match(err.message, /policy server tcp:\/\/127\.0\.0\.1:\d+ (unreachable|: no reply)/);
        return true;
      }
    });
    await serve({ bind: `tcp://127.0.0.1:${port}` });
    const obs = observation(REMOTE_UR5E, 3);
    const { value, failures } = await eventually(() => remote.infer(obs));
    assert.ok(
      failures.every((e) => e instanceof PolicyUnavailable),
      failures.map(String).join('; '),
    );
    assert.ok(sameBits(value.actions, (await local.infer(obs)).actions));
    const c = remote.counters() as { reconnects: number; disconnects: number };
    assert.ok(c.reconnects >= 1 && c.disconnects >= 1, JSON.stringify(c));
  });

  test('a late reply is discarded and counted, never returned for a newer request', async () => {
    const counter = { n: 0 };
    const pool = [0, 1].map(
      async () => new SlowCalls(track(await OnnxPolicy.load(model)), counter, new Set([2]), 2500),
    );
    const server = await serve({}, await Promise.all(pool));
    const remote = track(await ZmqPolicy.connect({ endpoint: server.endpoint, timeout_ms: 1000 }));
    await remote.infer(observation(REMOTE_UR5E, 1));
    await assert.rejects(
      remote.infer(observation(REMOTE_UR5E, 2)),
      (err: Error) =>
        err instanceof PolicyUnavailable &&
        /no reply within 1000 ms \(request \d+, observation tick 2\)/.test(err.message),
    );
    const obs3 = observation(REMOTE_UR5E, 3);
    const chunk = await remote.infer(obs3);
    assert.equal(chunk.obs_tick, 3);
    assert.ok(sameBits(chunk.actions, (await local.infer(obs3)).actions));
    await waitFor(
      'the late reply',
      () => (remote.counters() as { late_replies_discarded: number }).late_replies_discarded === 1,
    );
    const c = remote.counters() as { timeouts: number; chunks: number };
    assert.deepEqual([c.timeouts, c.chunks], [1, 2]);
  });

  test('oversized and malformed messages are rejected and counted; the server goes on serving', async () => {
    const server = await serve({ max_message_bytes: 20_000 });
    const evil = new Dealer({ linger: 0, receiveTimeout: 5000 });
    evil.connect(server.endpoint);
    const ask = async (frames: (string | Buffer)[]): Promise<ServerMessage> => {
      await evil.send(frames);
      const [head] = await evil.receive();
      return JSON.parse(head.toString()) as ServerMessage;
    };
    const expectError = async (frames: (string | Buffer)[], code: string, message: RegExp) => {
      const r = await ask(frames);
      assert.equal(r.type, 'error', JSON.stringify(r));
      assert.equal(r.type === 'error' && r.code, code, JSON.stringify(r));
      assert.match(r.type === 'error' ? r.message : '', message);
    };
    try {
      await expectError(['not json', Buffer.alloc(10)], 'malformed', /not a JSON header/);
      await expectError([JSON.stringify({ v: 2, type: 'hello', id: 1 })], 'version', /expected 1, found 2/);
      await expectError([JSON.stringify({ v: 1, type: 'launch', id: 2 })], 'malformed', /type/);
      const huge = [
        header({ v: 1, type: 'health', id: 3 }),
        Buffer.alloc(9000),
        Buffer.alloc(9000),
        Buffer.alloc(9000),
      ];
      await expectError(huge, 'too_large', /27\d+ bytes, over this server's limit of 20000/);
      const cams = [{ name: 'top', width: 64, height: 64, encoding: 'raw' as const, bytes: 12 }];
      const bad = header({ v: 1, type: 'infer', id: 4, tick: 1, state: 7, cameras: cams });
      const wrongSize = /camera 'top': expected 32x24 \(the model's input size; the robot host resizes\), found 64x64/;
      await expectError([bad, Buffer.alloc(28), Buffer.alloc(12)], 'bad_request', wrongSize);
      const top = { name: 'top', width: 32, height: 24, encoding: 'raw' as const, bytes: 32 * 24 * 3 };
      const noWrist = header({ v: 1, type: 'infer', id: 5, tick: 1, state: 7, cameras: [top] });
      await expectError(
        [noWrist, Buffer.alloc(28), Buffer.alloc(top.bytes)],
        'bad_request',
        /'wrist': expected a frame/,
      );
      // a single frame over the limit never reaches the server's code: ZeroMQ drops that connection
      await evil.send(Buffer.alloc(30_000));
      await waitFor('the oversized connection to be dropped', () => server.stats().disconnects >= 1);
      const remote = track(await ZmqPolicy.connect({ endpoint: server.endpoint }));
      const obs = observation(REMOTE_UR5E, 11);
      assert.ok(sameBits((await remote.infer(obs)).actions, (await local.infer(obs)).actions));
      const s = server.stats();
      assert.deepEqual(s.rejected, { malformed: 2, version: 1, too_large: 1, bad_request: 2 });
      assert.ok(s.clients.some((c) => c.chunks === 1 && c.client.startsWith('pid ')));
    } finally {
      evil.close();
    }
  });

  test('a busy server answers busy (retry later) instead of queueing without bound', async () => {
    const counter = { n: 0 };
    const slow = new SlowCalls(track(await OnnxPolicy.load(model)), counter, new Set([1]), 1500);
    const server = track(await PolicyServer.start([slow], { bind: 'tcp://127.0.0.1:0', max_per_client: 1 }));
    const remote = track(await ZmqPolicy.connect({ endpoint: server.endpoint, timeout_ms: 5000 }));
    const first = remote.infer(observation(REMOTE_UR5E, 1));
    await assert.rejects(
      remote.infer(observation(REMOTE_UR5E, 2)),
      (err: Error) =>
        err instanceof PolicyUnavailable && /busy: 1 requests of this client are already queued/.test(err.message),
    );
    assert.equal((await first).obs_tick, 1);
    assert.deepEqual(server.stats().rejected, { busy: 1 });
  });
});
