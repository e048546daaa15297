// vla-serve as a user runs it: a child process serving the shipped UR5e model, vla-run driving the embedded sim
// through it, refusals before anything moves (another robot, no server, no CURVE key), key pairs on disk, and
// Ctrl-C ending the server with exit 0 and per-client counts.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertRefusedStdout } from './fixtures/cli.js';
import {
  killServers,
  UR5E_MODEL as MODEL,
  RUN,
  runNode as run,
  SERVE,
  serveChild as serve,
} from './fixtures/serve-child.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-serve-'));
});
after(async () => {
  killServers();
  await rm(dir, { recursive: true, force: true });
});

const runArgs = (policy: string, robot = 'ur5e') =>
  ['--robot', robot, '--sim', '--policy', policy, '--clock', 'fast', '--episodes', '1', '--json'] as string[];

describe('vla-serve', () => {
  test('serves the shipped model to vla-run; another robot is refused; Ctrl-C exits 0 with counts', async () => {
    const server = await serve(['--policy', MODEL, '--bind', 'tcp://127.0.0.1:0']);
    const r = await run(RUN, runArgs(server.url));
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.policy, 'ur5e-pick-place');
    assert.equal(summary.episodes, 1);
    assert.ok(summary.control.ticks > 0 && summary.inference.calls > 0, r.stdout);
    const aloha = await run(RUN, runArgs(server.url, 'aloha'));
    assert.equal(aloha.code, 2, aloha.stderr);
    assertRefusedStdout(aloha.stdout);
    assert.match(aloha.stderr, /does not fit aloha: action dimension: expected 14 \(robot aloha\), found 7/);
    const twice = await run(SERVE, ['--policy', MODEL, '--bind', server.endpoint]);
    assert.equal(twice.code, 2, twice.stderr);
    assert.match(twice.stderr, /cannot bind tcp:\/\/127\.0\.0\.1:\d+/);
    const end = await server.stop();
    assert.equal(end.code, 0, end.stderr);
    assert.match(end.stderr, /stopped \(SIGINT\)/);
    assert.match(end.stderr, /"requests":\d+,"chunks":\d+.*client vla-run ur5e pid/);
  });

  test('no server at the address: exit 2 before anything moves', async () => {
    const r = await run(RUN, runArgs('zmq://127.0.0.1:1?connect_timeout_ms=500'));
    assert.equal(r.code, 2, r.stderr);
    assertRefusedStdout(r.stdout);
    assert.match(r.stderr, /no policy server answers at tcp:\/\/127\.0\.0\.1:1/);
  });

  test('CURVE end to end: keys on disk (0600), the robot with its key runs, one without is refused', async () => {
    const keys = join(dir, 'keys');
    const robots = join(dir, 'robots');
    await mkdir(robots);
    const made = await run(SERVE, ['keys', '--out', keys, '--name', 'server', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const files = JSON.parse(made.stdout) as { public_key_file: string; secret_key_file: string; public_key: string };
    assert.equal(files.public_key.length, 40);
    for (const f of [files.public_key_file, files.secret_key_file]) assert.equal((await stat(f)).mode & 0o777, 0o600);
    const again = await run(SERVE, ['keys', '--out', keys, '--name', 'server']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /server\.key(_secret)? exists; --force overwrites it/);
    assert.equal((await run(SERVE, ['keys', '--out', robots, '--name', 'robot1'])).code, 0);
    const server = await serve([
      ...['--policy', MODEL, '--bind', 'tcp://127.0.0.1:0'],
      ...['--curve-secret-key', files.secret_key_file, '--allow-client-key', robots],
    ]);
    try {
      const query = `?server_key=${files.public_key_file}&client_key=${join(robots, 'robot1.key_secret')}`;
      const ok = await run(RUN, runArgs(server.url + query));
      assert.equal(ok.code, 0, ok.stderr);
      const plain = await run(RUN, runArgs(`${server.url}?connect_timeout_ms=1000`));
      assert.equal(plain.code, 2, plain.stderr);
      assert.match(plain.stderr, /the server may require CURVE/);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });

  test('bad usage exits 2; a server open to other machines without CURVE warns', async () => {
    for (const [args, message] of [
      [[], /--policy is required/],
      [['--policy', 'expert'], /scripted expert reads the simulator's task state/],
      [['--policy', join(dir, 'missing.onnx')], /missing\.onnx/],
      [['--policy', MODEL, '--bind', 'udp://1.2.3.4:5'], /expected tcp:\/\/HOST:PORT/],
      [['--policy', MODEL, '--curve-secret-key', join(dir, 'x')], /needs at least one --allow-client-key/],
      [['--policy', MODEL, '--workers', '0'], /--workers must be an integer in \[1, 64\]/],
    ] as const) {
      const r = await run(SERVE, [...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const open = await serve(['--policy', MODEL, '--bind', 'tcp://0.0.0.0:0']);
    const end = await open.stop();
    assert.equal(end.code, 0);
    assert.match(end.stderr, /reachable from other machines and CURVE is off/);
  });
});
