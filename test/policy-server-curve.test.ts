// CurveZMQ between a robot and vla-serve: Z85 keys and key files, then real sockets on loopback: a client with
// the server's key and an allowed key of its own is served; an unknown key, no CURVE at all, or the wrong
// server key gets nothing.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { curveKeyPair } from 'zeromq';
import { keyFileText, parseKeyText, z85Decode, z85Encode } from '../protocols/policy-server/curve.js';
import { writeTestPolicy } from '../src/policy/onnx/model-writer.js';
import { OnnxPolicy } from '../src/policy/onnx/onnx-policy.js';
import { PolicyFailure } from '../src/policy/policy.js';
import { loadRemotePolicy } from '../src/policy/remote/load-remote.js';
import { PolicyServer } from '../src/policy/remote/policy-server.js';
import { ZmqPolicy } from '../src/policy/remote/zmq-policy.js';
import { loadRobot } from '../src/robot/index.js';
import { modelPath } from './fixtures/onnx.js';
import { observation, REMOTE_UR5E, sameBits } from './fixtures/remote.js';

test('Z85 as ZeroMQ RFC 32 defines it, and key files', () => {
  const hello = Uint8Array.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
  assert.equal(z85Encode(hello), 'HelloWorld');
  assert.deepEqual(z85Decode('HelloWorld'), hello);
  assert.throws(() => z85Decode('Hello Wor'), /multiple of 5/);
  assert.throws(() => z85Decode('Hello~orld'), /not a Z85 character/);
  const pair = curveKeyPair();
  assert.deepEqual(z85Encode(z85Decode(pair.publicKey)), pair.publicKey);
  const both = { public_key: pair.publicKey, secret_key: pair.secretKey };
  assert.deepEqual(parseKeyText(keyFileText('robot1', both), 'f'), both);
  assert.deepEqual(parseKeyText(keyFileText('robot1', { public_key: pair.publicKey }), 'f'), {
    public_key: pair.publicKey,
  });
  assert.deepEqual(parseKeyText(`# a bare key\n${pair.publicKey}\n`, 'f'), { public_key: pair.publicKey });
  assert.throws(() => parseKeyText('public-key = "short"', 'keys/x.key'), /keys\/x\.key: no CURVE public key/);
});

describe('CURVE on the policy server', () => {
  const server_keys = curveKeyPair();
  const allowed = curveKeyPair();
  const stranger = curveKeyPair();
  let model: string;
  let local: OnnxPolicy;
  let served: OnnxPolicy;
  let server: PolicyServer;
  let dir: string;
  const decisions: boolean[] = [];

  before(async () => {
    model = (await writeTestPolicy(modelPath(), REMOTE_UR5E)).path;
    local = await OnnxPolicy.load(model);
    served = await OnnxPolicy.load(model);
    server = await PolicyServer.start([served], {
      bind: 'tcp://127.0.0.1:0',
      curve: { secret_key: server_keys.secretKey, allowed_client_keys: [allowed.publicKey] },
      on_event: (e) => {
        if (e.type === 'client_key') decisions.push(e.allowed);
      },
    });
    dir = await mkdtemp(join(tmpdir(), 'vla-curve-'));
  });
  after(async () => {
    await server.close();
    await served.close();
    await local.close();
    await rm(dir, { recursive: true, force: true });
  });

  const client = (keys: { publicKey: string; secretKey: string }, server_key = server_keys.publicKey) =>
    ZmqPolicy.connect({
      endpoint: server.endpoint,
      connect_timeout_ms: 1500,
      curve: { server_key, public_key: keys.publicKey, secret_key: keys.secretKey },
    });

  test('a client with the server key and an allowed key of its own is served', async () => {
    const remote = await client(allowed);
    try {
      const obs = observation(REMOTE_UR5E, 4);
      assert.ok(sameBits((await remote.infer(obs)).actions, (await local.infer(obs)).actions));
    } finally {
      await remote.close();
    }
    assert.ok(decisions.includes(true));
  });

  test('an unknown client key is refused, naming the fix', async () => {
    await assert.rejects(client(stranger), (err: Error) => {
      assert.ok(err instanceof PolicyFailure, String(err));
      assert.match(err.message, /refused this client's CURVE key .*--allow-client-key/);
      return true;
    });
    assert.ok(server.stats().refused_client_keys >= 1);
    assert.ok(decisions.includes(false));
  });

  test('no CURVE, or the wrong server key: nothing gets through', async () => {
    await assert.rejects(
      ZmqPolicy.connect({ endpoint: server.endpoint, connect_timeout_ms: 1000 }),
      (err: Error) =>
        err instanceof PolicyFailure && /handshake .* failed .*the server may require CURVE/.test(err.message),
    );
    await assert.rejects(
      client(allowed, stranger.publicKey),
      (err: Error) => err instanceof PolicyFailure && /handshake .* failed .*server key must be/.test(err.message),
    );
    assert.equal(server.stats().clients.filter((c) => c.chunks > 0).length, 1);
  });

  test('key files through the address: zmq://host:port?server_key=FILE&client_key=FILE', async () => {
    const pub = join(dir, 'server.key');
    const mine = join(dir, 'robot1.key_secret');
    await writeFile(pub, keyFileText('server', { public_key: server_keys.publicKey }));
    await writeFile(mine, keyFileText('robot1', { public_key: allowed.publicKey, secret_key: allowed.secretKey }));
    const ur5e = await loadRobot('ur5e');
    const target = { robot: ur5e, control_hz: 50, cameras: ['top', 'wrist'], square_cameras_only: false };
    const url = `${server.endpoint.replace('tcp:', 'zmq:')}?server_key=${pub}&client_key=${mine}`;
    const { policy } = await loadRemotePolicy(url, target);
    try {
      const obs = observation(REMOTE_UR5E, 8);
      assert.ok(sameBits((await policy.infer(obs)).actions, (await local.infer(obs)).actions));
    } finally {
      await policy.close();
    }
    await assert.rejects(loadRemotePolicy(`${url.split('?')[0]}?client_key=${mine}`, target), /server's public key/);
  });
});
