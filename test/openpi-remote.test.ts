// openpi compatibility over real WebSockets on loopback: our openpi client against our openpi server serving a real
// ONNX model (the chunk is the model's own output for the same observation after openpi's resize), the metadata
// frame, tracebacks, /healthz, H/D mismatches, timeouts and a server restart; and both ends against hand-built bytes
// of openpi's format (what its Python client sends, what its server answers). Behaviour only, no timings.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { parseOpenpiMapping } from '../protocols/openpi/mapping.js';
import { NdArray, packb, type UnpackedValue, unpackb } from '../protocols/openpi/msgpack-numpy.js';
import { PolicyMismatch } from '../src/policy/load-policy.js';
import { type TestPolicySpec, writeTestPolicy } from '../src/policy/onnx/model-writer.js';
import { OnnxPolicy } from '../src/policy/onnx/onnx-policy.js';
import {
  type ActionChunk,
  type Observation,
  type Policy,
  PolicyFailure,
  PolicyUnavailable,
} from '../src/policy/policy.js';
import { PadResizer } from '../src/policy/remote/openpi-image.js';
import { loadOpenpiPolicy } from '../src/policy/remote/openpi-load.js';
import { OpenpiPolicy, OpenpiServerError } from '../src/policy/remote/openpi-policy.js';
import { OPENPI_CLOSE_REASON, startOpenpiServer } from '../src/policy/remote/openpi-server.js';
import { loadRobot } from '../src/robot/index.js';
import { modelPath } from './fixtures/onnx.js';
import { REMOTE_UR5E, observation as remoteObservation } from './fixtures/remote.js';

const SPEC: TestPolicySpec = { ...REMOTE_UR5E, name: 'ur5e-openpi-test', seed: 5 };
const MAP = 'observation/image=top@32x24,observation/wrist_image=wrist@16x16,state=observation/state,horizon=10,dim=7';

/** A robot-side observation: cameras at their native sizes (not the model's), a random state. */
const observation = (tick: number): Observation =>
  remoteObservation(SPEC, tick, tick + 10, { top: { width: 64, height: 40 }, wrist: { width: 30, height: 40 } });

const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

let model: string;
let local: OnnxPolicy;
const open: { close(): Promise<void> }[] = [];
const track = <T extends { close(): Promise<void> }>(x: T): T => {
  open.push(x);
  return x;
};

before(async () => {
  model = (await writeTestPolicy(modelPath(), SPEC)).path;
  local = await OnnxPolicy.load(model);
});
after(async () => {
  for (const x of open.reverse()) await x.close();
  await local.close();
});

async function serveModel(port = 0) {
  const policy = track(await OnnxPolicy.load(model));
  // a spec string: horizon, dim, offset and rate default to the policy's
  const mapping = MAP.replace(',horizon=10,dim=7', '');
  return track(await startOpenpiServer({ policy, port, mapping }));
}

/** A policy that answers a fixed chunk and keeps what it was asked; throws when `fail` says so. */
class Recorder implements Policy {
  seen: Observation[] = [];
  fail: Error | undefined;
  describe() {
    return {
      name: 'recorder',
      kind: 'diagnostic' as const,
      horizon: 2,
      action_dim: 3,
      action_offset: 1,
      cameras: [{ name: 'top', width: 2, height: 2 }],
      max_committed: 0,
    };
  }
  async infer(obs: Observation): Promise<ActionChunk> {
    this.seen.push(obs);
    if (this.fail) throw this.fail;
    const actions = new Float32Array([1, 2, 3, 4, 5, 6]);
    return { obs_tick: obs.tick, first_tick: obs.tick + 1, horizon: 2, dim: 3, actions, infer_ms: 0 };
  }
  async close() {}
}

/** A bare WebSocket server that behaves as `answer` says (an openpi-style server we control byte by byte). */
async function fakeServer(answer: (ws: WebSocket, msg: Buffer) => void, metadata: Uint8Array = packb({})) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const received: Buffer[] = [];
  wss.on('connection', (ws) => {
    ws.send(metadata);
    ws.on('message', (data) => {
      received.push(data as Buffer);
      answer(ws, data as Buffer);
    });
  });
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  return track({ url, received, wss, close: () => new Promise<void>((r) => wss.close(() => r())) });
}

/** A raw client: the frames it gets (metadata first), and how the server closed. */
async function rawClient(url: string, send: Uint8Array[]) {
  const ws = new WebSocket(url);
  const frames: { data: Buffer; binary: boolean }[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('message', (data, binary) => {
    frames.push({ data: data as Buffer, binary });
    if (frames.length === 1) for (const s of send) ws.send(s);
  });
  return { ws, frames, closed };
}

describe('openpi: our client against our server', () => {
  test('the chunk is the model’s own output for the same observation after openpi’s resize, bit for bit', async () => {
    const server = await serveModel();
    const client = track(await OpenpiPolicy.connect({ url: server.url, mapping: parseOpenpiMapping(MAP) }));
    const md = client.metadata as Record<string, UnpackedValue>;
    assert.deepEqual([md.action_horizon, md.action_dim, md.action_offset, md.policy], [10, 7, 1, 'ur5e-openpi-test']);
    assert.deepEqual(parseOpenpiMapping(md.openpi_map as string), parseOpenpiMapping(`${MAP},hz=50`), 'a usable spec');
    const d = client.describe();
    assert.deepEqual([d.kind, d.horizon, d.action_dim, d.action_offset], ['remote', 10, 7, 1]);
    assert.deepEqual(d.cameras, [
      { name: 'top', width: 32, height: 24 },
      { name: 'wrist', width: 16, height: 16 },
    ]);
    const resizer = new PadResizer();
    for (const tick of [3, 4, 5]) {
      const obs = observation(tick);
      const remote = await client.infer(obs);
      const wire = { 32: [32, 24], 16: [16, 16] } as Record<number, [number, number]>;
      const images = obs.images.map((img, i) => {
        const [w, h] = wire[i === 0 ? 32 : 16];
        return { ...img, width: w, height: h, rgb: resizer.resize(img.rgb, img.width, img.height, w, h) };
      });
      const direct = await local.infer({ ...obs, images });
      assert.deepEqual([remote.obs_tick, remote.first_tick, remote.horizon, remote.dim], [tick, tick + 1, 10, 7]);
      assert.ok(sameBits(remote.actions, direct.actions), `tick ${tick}: remote and direct chunks differ`);
    }
    const c = client.counters() as Record<string, number>;
    assert.deepEqual([c.requests, c.chunks, c.connects, c.timeouts], [3, 3, 1, 0]);
    assert.ok(c.last_server_infer_ms > 0 && c.last_request_bytes > (32 * 24 + 16 * 16) * 3);
    assert.deepEqual(server.counters(), { connections: 1, requests: 3, replies: 3, errors: 0, refused: 0 });
  });

  test('a server-side exception reaches the client as a clear error carrying the traceback', async () => {
    const rec = new Recorder();
    rec.fail = new Error('CUDA out of memory (simulated)');
    const server = track(await startOpenpiServer({ policy: rec, port: 0 }));
    const map = 'observation/top=top@2x2,horizon=2,dim=3';
    const client = track(await OpenpiPolicy.connect({ url: server.url, mapping: parseOpenpiMapping(map) }));
    const obs: Observation = {
      tick: 1,
      t_mono_ms: 0,
      state: new Float32Array(7),
      images: [{ name: 'top', width: 2, height: 2, rgb: new Uint8Array(12), t_mono_ms: 0 }],
    };
    await assert.rejects(client.infer(obs), (err: Error) => {
      assert.ok(err instanceof OpenpiServerError && err instanceof PolicyFailure);
      assert.match(err.message, /openpi server ws:\/\/127\.0\.0\.1:\d+ failed to answer/);
      assert.match(err.message, /CUDA out of memory \(simulated\)\n\s+at /, 'the message and its stack');
      return true;
    });
    // the server goes on serving: the next call opens a new connection and gets its chunk
    rec.fail = undefined;
    const chunk = await client.infer({ ...obs, tick: 2 });
    assert.deepEqual([...chunk.actions], [1, 2, 3, 4, 5, 6]);
    assert.equal((client.counters() as Record<string, number>).connects, 2);
  });

  test("with an API key the server admits only handshakes carrying it, as openpi's client sends it", async () => {
    const rec = new Recorder();
    const server = track(await startOpenpiServer({ policy: rec, port: 0, api_key: 's3cret' }));
    const mapping = parseOpenpiMapping('observation/top=top@2x2,horizon=2,dim=3');
    for (const api_key of [undefined, 's3cre', 's3cret!']) {
      await assert.rejects(OpenpiPolicy.connect({ url: server.url, mapping, api_key }), (err: Error) => {
        assert.ok(err instanceof PolicyFailure && !(err instanceof PolicyUnavailable), 'not worth retrying');
        assert.match(err.message, api_key ? /HTTP 401: .*\$OPENPI_API_KEY was refused/ : /HTTP 401: .*no key was sent/);
        return true;
      });
    }
    // the exact header openpi_client's WebsocketClientPolicy(api_key=...) sends
    const raw = new WebSocket(server.url, { headers: { Authorization: 'Api-Key s3cret' } });
    const metadata = await new Promise<Buffer>((resolve, reject) => {
      raw.once('message', (d) => resolve(d as Buffer));
      raw.once('error', reject);
    });
    assert.equal((unpackb(metadata) as Record<string, unknown>).action_horizon, 2);
    raw.close();
    const client = track(await OpenpiPolicy.connect({ url: server.url, mapping, api_key: 's3cret' }));
    assert.equal(client.describe().horizon, 2);
    assert.equal(server.counters().refused, 3);
    assert.equal(server.counters().connections, 2, 'refused handshakes never became connections');
  });

  test('a mapping whose H or D disagrees with the server is refused before anything runs', async () => {
    const server = await serveModel();
    const wrong = parseOpenpiMapping(MAP.replace('horizon=10', 'horizon=12'));
    await assert.rejects(
      OpenpiPolicy.connect({ url: server.url, mapping: wrong }),
      (err: Error) =>
        err instanceof PolicyFailure && /horizon: expected 12 \(--openpi-map\), found 10/.test(err.message),
    );
    const ur5e = await loadRobot('ur5e');
    const target = { robot: ur5e, control_hz: 50, cameras: ['top', 'wrist'], square_cameras_only: false };
    await assert.rejects(
      loadOpenpiPolicy(server.url, MAP.replace('dim=7', 'dim=6'), target),
      (err: Error) => err instanceof PolicyMismatch && /dim: expected 6 \(--openpi-map\), found 7/.test(err.message),
    );
    await assert.rejects(
      loadOpenpiPolicy(server.url, MAP.replace('wrist@16x16', 'gripper@16x16'), target),
      (err: Error) =>
        err instanceof PolicyMismatch && /camera: expected one of top, wrist .* found 'gripper'/.test(err.message),
    );
    await assert.rejects(loadOpenpiPolicy(server.url, undefined, target), /needs --openpi-map/);
    const loaded = await loadOpenpiPolicy(server.url, MAP.replace(',dim=7', ''), target);
    assert.equal(loaded.policy.describe().action_dim, 7, "dim defaults to the robot's");
    await loaded.policy.close();
  });

  test('server restart: the call during the outage is PolicyUnavailable, the next one succeeds', async () => {
    const first = await serveModel();
    const client = track(await OpenpiPolicy.connect({ url: first.url, mapping: parseOpenpiMapping(MAP) }));
    await client.infer(observation(1));
    await first.close();
    await assert.rejects(client.infer(observation(2)), PolicyUnavailable);
    await assert.rejects(client.infer(observation(3)), PolicyUnavailable, 'nobody listens');
    const second = await serveModel(first.port);
    const chunk = await client.infer(observation(4));
    assert.equal(chunk.obs_tick, 4);
    assert.equal((client.counters() as Record<string, number>).connects, 2);
    await second.close();
  });

  test('/healthz answers 200 over plain HTTP on the same port; the server binds loopback by default', async () => {
    const server = track(await startOpenpiServer({ policy: new Recorder(), port: 0 }));
    assert.match(server.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
    const ok = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    assert.deepEqual([ok.status, await ok.text()], [200, 'OK\n']);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/`)).status, 426);
    const taken = startOpenpiServer({ policy: new Recorder(), port: server.port });
    await assert.rejects(taken, /cannot listen on .*EADDRINUSE/);
  });

  test('a message over the size limit closes that connection (1009); others are still served', async () => {
    const rec = new Recorder();
    const server = track(await startOpenpiServer({ policy: rec, port: 0, max_message_bytes: 1000 }));
    const big = await rawClient(server.url, [packb({ 'observation/top': new Uint8Array(5000) })]);
    assert.equal((await big.closed).code, 1009);
    const small = await rawClient(server.url, [
      packb({ 'observation/top': new NdArray(new Uint8Array(12), [2, 2, 3]), 'observation/state': [1, 2] }),
    ]);
    while (small.frames.length < 2) await new Promise((r) => setTimeout(r, 10));
    small.ws.close();
    assert.equal(rec.seen.length, 1);
  });
});

// What openpi's Python client sends for {"observation/top": uint8 2x2x3 (0..11), "observation/state": float32
// [0.5, -1.25, 2.0], "prompt": "pick up the fork"}: msgpack with numpy arrays as maps with bin marker keys.
const PY_OBS =
  '83af6f62736572766174696f6e2f746f7084c40b5f5f6e6461727261795f5fc3c40464617461c40c000102030405060708090a0bc40564' +
  '74797065a37c7531c405736861706593020203b16f62736572766174696f6e2f737461746584c40b5f5f6e6461727261795f5fc3c40464' +
  '617461c40c0000003f0000a0bf00000040c4056474797065a33c6634c40573686170659103a670726f6d7074b07069636b207570207468' +
  '6520666f726b';

describe('openpi: against openpi’s own bytes', () => {
  test('our server reads what openpi’s Python client packs and answers in openpi’s format', async () => {
    const rec = new Recorder();
    const server = track(await startOpenpiServer({ policy: rec, port: 0 }));
    const c = await rawClient(server.url, [Buffer.from(PY_OBS, 'hex')]);
    while (c.frames.length < 2) await new Promise((r) => setTimeout(r, 10));
    c.ws.close();
    assert.ok(c.frames.every((f) => f.binary));
    const md = unpackb(c.frames[0].data) as Record<string, UnpackedValue>;
    assert.deepEqual([md.action_horizon, md.action_dim, md.prompt_key], [2, 3, 'prompt']);
    const reply = unpackb(c.frames[1].data) as Record<string, UnpackedValue>;
    const actions = reply.actions as NdArray;
    assert.deepEqual([actions.dtype, actions.shape, [...actions.data]], ['<f4', [2, 3], [1, 2, 3, 4, 5, 6]]);
    assert.equal(typeof (reply.server_timing as Record<string, UnpackedValue>).infer_ms, 'number');
    const seen = rec.seen[0];
    assert.deepEqual([seen.images[0].name, seen.images[0].width, seen.images[0].height], ['top', 2, 2]);
    assert.deepEqual([...seen.images[0].rgb], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual([...seen.state], [0.5, -1.25, 2]);
    assert.equal(seen.instruction, 'pick up the fork');
  });

  test('a bad observation is answered as openpi answers errors: a text frame, then close 1011', async () => {
    const server = track(await startOpenpiServer({ policy: new Recorder(), port: 0 }));
    const c = await rawClient(server.url, [packb({ 'observation/state': [1, 2] })]);
    const closed = await c.closed;
    assert.deepEqual([closed.code, closed.reason], [1011, OPENPI_CLOSE_REASON]);
    assert.equal(c.frames.length, 2);
    assert.equal(c.frames[1].binary, false, 'a text frame');
    assert.match(c.frames[1].data.toString(), /observation key 'observation\/top' \(camera top\): expected an image/);
  });

  test('our client reads an openpi server’s `{}` metadata, float64 actions and a text-frame traceback', async () => {
    // what openpi's server answers: {"actions": float64 [[1.5, -2.0], [0.25, 3.0]], "server_timing": {...}}
    const PY_REPLY =
      '82a7616374696f6e7384c40b5f5f6e6461727261795f5fc3c40464617461c420000000000000f83f00000000000000c000000000000' +
      '0d03f0000000000000840c4056474797065a33c6638c4057368617065920202ad7365727665725f74696d696e6781a8696e6665725f' +
      '6d73cb4029000000000000';
    let calls = 0;
    const server = await fakeServer((ws) => {
      if (++calls < 3) ws.send(Buffer.from(PY_REPLY, 'hex'));
      else {
        ws.send('Traceback (most recent call last):\n  File "policy.py", line 1\nValueError: bad state shape');
        ws.close(1011, OPENPI_CLOSE_REASON);
      }
    });
    const obs: Observation = {
      tick: 40,
      t_mono_ms: 0,
      state: new Float32Array([0.5, -1.25, 2]),
      instruction: 'pick up the fork',
      images: [{ name: 'top', width: 2, height: 2, rgb: Uint8Array.from({ length: 12 }, (_, i) => i), t_mono_ms: 0 }],
    };
    const good = parseOpenpiMapping('observation/top=top@2x2,horizon=2,dim=2');
    const client = track(await OpenpiPolicy.connect({ url: server.url, mapping: good }));
    assert.deepEqual(client.metadata, {});
    const chunk = await client.infer(obs);
    assert.deepEqual([chunk.first_tick, chunk.horizon, chunk.dim, [...chunk.actions]], [41, 2, 2, [1.5, -2, 0.25, 3]]);
    assert.equal((client.counters() as Record<string, number>).last_server_infer_ms, 12.5);
    assert.equal(server.received[0].toString('hex'), PY_OBS, 'the bytes openpi’s Python client would send');
    const wrong = track(
      await OpenpiPolicy.connect({
        url: server.url,
        mapping: parseOpenpiMapping('observation/top=top@2x2,horizon=4,dim=2'),
      }),
    );
    await assert.rejects(wrong.infer(obs), /actions have shape \[2, 2\], the mapping says \[4, 2\]/);
    await assert.rejects(client.infer(obs), (err: Error) => {
      assert.ok(err instanceof OpenpiServerError);
      assert.match(err.message, /Traceback \(most recent call last\):[\s\S]*ValueError: bad state shape/);
      return true;
    });
  });

  test('no reply in time is PolicyUnavailable; the next call reconnects (a late reply is never misread)', async () => {
    const server = await fakeServer(() => undefined);
    const mapping = parseOpenpiMapping('observation/top=top@2x2,horizon=2,dim=2');
    const client = track(await OpenpiPolicy.connect({ url: server.url, mapping, timeout_ms: 100 }));
    const obs: Observation = {
      tick: 1,
      t_mono_ms: 0,
      state: new Float32Array(2),
      images: [{ name: 'top', width: 2, height: 2, rgb: new Uint8Array(12), t_mono_ms: 0 }],
    };
    await assert.rejects(
      client.infer(obs),
      (e: Error) => e instanceof PolicyUnavailable && /no reply within 100 ms/.test(e.message),
    );
    await assert.rejects(client.infer(obs), PolicyUnavailable);
    const c = client.counters() as Record<string, number>;
    assert.deepEqual([c.timeouts, c.connects], [2, 2]);
    await assert.rejects(
      OpenpiPolicy.connect({ url: 'ws://127.0.0.1:1', mapping }),
      (e: Error) => e instanceof PolicyUnavailable && /cannot connect/.test(e.message),
    );
  });
});
