// The fault matrix, remote-policy column (table.ts): vla-serve in its own process with VLA_INJECT_FAULTS armed on
// the server side (the fault happens where a real server's would), and vla-run on the embedded sim as its client,
// as a user runs them. What the robot was commanded is read back from the run's recording.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { RobotDescription } from '../../../src/robot/index.js';
import { Rng } from '../../../src/util/rng.js';
import { assertRefusedStdout } from '../../fixtures/cli.js';
import {
  type Done,
  killServers,
  runNode,
  SERVE,
  type Served,
  serveChild,
  UR5E_MODEL,
} from '../../fixtures/serve-child.js';
import { finished, firedAt, logged, robot, runWithFaults } from './checks.js';
import { recordedSafe } from './recorded.js';
import { type Row, runCells } from './table.js';

let dir: string;
let ur5e: RobotDescription;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-fault-matrix-remote-'));
  ur5e = await robot('ur5e');
});
after(async () => {
  if (plainServer) assert.equal((await (await plainServer).stop()).code, 0, 'the plain server stops cleanly');
  killServers();
  for (const c of ownServers) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** vla-serve on the shipped UR5e model, on loopback, with these faults armed (spawn copies the environment). */
async function server(faults?: string): Promise<Served> {
  const before = process.env.VLA_INJECT_FAULTS;
  if (faults) process.env.VLA_INJECT_FAULTS = faults;
  try {
    return await serveChild(['--policy', UR5E_MODEL, '--bind', 'tcp://127.0.0.1:0']);
  } finally {
    if (before === undefined) delete process.env.VLA_INJECT_FAULTS;
    else process.env.VLA_INJECT_FAULTS = before;
  }
}

const ownServers = new Set<ChildProcess>();

/** vla-serve with these faults armed, whose exit is waited for (not signalled): one that stops by itself. */
async function serverOwnExit(faults: string): Promise<{ url: string; exited: Promise<Done> }> {
  const child = spawn(process.execPath, [SERVE, '--json', '--policy', UR5E_MODEL, '--bind', 'tcp://127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VLA_INJECT_FAULTS: faults },
  });
  ownServers.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<Done>((r) => child.on('close', (code) => r({ code, stdout, stderr })));
  const line = await new Promise<string>((res, rej) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('\n')) res(stdout.split('\n')[0]);
    });
    void exited.then((d) => rej(new Error(`vla-serve exited (${d.code}): ${d.stderr.slice(-1500)}`)));
  });
  const endpoint = (JSON.parse(line) as { endpoint: string }).endpoint;
  return { url: endpoint.replace(/^tcp:/, 'zmq:'), exited };
}

/** One plain server for the cells that leave it serving (it is stopped, and checked, after them). */
let plainServer: Promise<Served> | undefined;
const plain = (): Promise<Served> => {
  plainServer ??= server();
  return plainServer;
};

/** vla-run on the embedded UR5e, in real time, its policy the server's; no fault armed in vla-run itself. */
const client = (s: { url: string }, ...extra: string[]) =>
  runWithFaults(undefined, ['--robot', 'ur5e', '--sim', '--policy', s.url, '--json', ...extra]);

/** The same, with a no-op hook whose line says the robot moves: it comes at the first inference past tick 10. */
const MOVING = /latency-spike fired at run tick/;
const movingClient = (s: { url: string }, ...extra: string[]) =>
  runWithFaults('latency-spike@tick=10:ms=0', ['--robot', 'ur5e', '--sim', '--policy', s.url, '--json', ...extra]);

const CELLS: Record<string, () => Promise<void>> = {
  'nan-chunk': async () => {
    const s = await server('nan-chunk@tick=60');
    const rec = join(dir, 'nan.mcap');
    const r = await finished(client(s, '--episodes', '1', '--record', rec));
    assert.equal(r.code, 1, r.stderr.slice(-3000));
    assert.match(r.s.fault ?? '', /rejected a chunk from the policy: action \d+ value \d+ is NaN/);
    const at = firedAt(s.stderr(), 'nan-chunk');
    assert.equal(r.s.safety.rejected_chunks, 1);
    assert.equal(r.s.holds.stops, 1);
    // the chunk was asked at tick `at` and lands a call's latency later: the run stopped within a chunk of it
    assert.ok(r.s.control.ticks >= at && r.s.control.ticks <= at + 25, `stopped at ${r.s.control.ticks}, fault ${at}`);
    await recordedSafe(ur5e, r.s.recordings?.[0]?.path);
    assert.equal((await s.stop()).code, 0, 'the server goes on serving after a bad chunk');
  },

  'latency-spike': async () => {
    const s = await server('latency-spike@tick=50:ms=1500');
    const rec = join(dir, 'latency.mcap');
    const r = await finished(client(s, '--duration', '5', '--record', rec));
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.equal(r.s.fault, null);
    firedAt(s.stderr(), 'latency-spike');
    // 1500 ms is 75 ticks and a chunk 25 at most: the buffer ran dry and the arm held, then went on
    assert.ok(r.s.holds.underrun_ticks >= 20, JSON.stringify({ holds: r.s.holds, control: r.s.control }));
    const ticks = await recordedSafe(ur5e, r.s.recordings?.[0]?.path);
    assert.ok(ticks.at(-1)! >= 200, `the run went on after the spike (${ticks.at(-1)} ticks)`);
    assert.equal((await s.stop()).code, 0);
  },

  'endpoint-restart': async () => {
    const s = await server();
    const rec = join(dir, 'gone.mcap');
    const run = movingClient(s, '--episodes', '1', '--fault-timeout', '1', '--record', rec);
    await logged(run, MOVING);
    await sleep(500);
    await s.kill();
    const r = await finished(run);
    assert.equal(r.code, 1, r.stderr.slice(-3000));
    assert.match(r.s.fault ?? '', /the policy could not be reached for \d+\.\d s: policy server \S+ unreachable/);
    assert.ok(r.s.holds.underrun_ticks > 0, 'the buffer ran out while the server was gone');
    assert.equal(r.s.holds.stops, 1);
    assert.equal(r.s.episode_ends.fault, 1);
    await recordedSafe(ur5e, r.s.recordings?.[0]?.path);
  },

  'worker-crash': async () => {
    const s = await serverOwnExit('worker-crash@tick=60');
    const rec = join(dir, 'crash.mcap');
    const r = await finished(client(s, '--episodes', '1', '--fault-timeout', '2', '--record', rec));
    assert.equal(r.code, 1, r.stderr.slice(-3000));
    const end = await s.exited;
    firedAt(end.stderr, 'worker-crash');
    // the server's own error, not a lost connection: the client was told before the server went
    assert.match(
      r.s.fault ?? '',
      /inference failed: policy server \S+: inference_failed: the ONNX inference worker .* exited \(code 3\)/,
    );
    assert.equal(r.s.holds.stops, 1);
    await recordedSafe(ur5e, r.s.recordings?.[0]?.path);
    // a server whose policy died cannot serve: it exits 1 on its own, saying so (vla-serve's contract)
    assert.equal(end.code, 1, end.stderr.slice(-2000));
    assert.match(end.stderr, /stopped \(the policy failed: the ONNX inference worker .* exited \(code 3\)\)/);
  },

  'wrong-robot-chunk': async () => {
    // a server whose model is for another robot: refused when the client connects, before anything moves
    const s = await plain();
    const aloha = await runWithFaults(undefined, ['--robot', 'aloha', '--sim', '--policy', s.url, '--json']).done;
    assert.equal(aloha.code, 2, aloha.stderr.slice(-2000));
    assertRefusedStdout(aloha.stdout);
    assert.match(aloha.stderr, /does not fit aloha: action dimension: expected 14 \(robot aloha\), found 7/);
    const ur5 = await runWithFaults(undefined, ['--robot', 'ur5', '--sim', '--policy', s.url, '--json']).done;
    assert.equal(ur5.code, 2, `a UR5e model served to a UR5 (same dimension): ${ur5.stderr.slice(-2000)}`);
    assertRefusedStdout(ur5.stdout);
    assert.match(ur5.stderr, /does not fit ur5: robot: expected ur5, found ur5e/);
  },

  signals: async () => {
    const s = await plain();
    const rng = new Rng(13);
    const rec = join(dir, 'sigint.mcap');
    const run = movingClient(s, '--duration', '20', '--record', rec);
    await logged(run, MOVING);
    const wait_ms = Math.round(200 + rng.next() * 1500);
    await sleep(wait_ms);
    process.kill(run.pid, 'SIGINT');
    const r = await finished(run);
    assert.equal(r.code, 130, `SIGINT after ${wait_ms} ms: ${r.stderr.slice(-1500)}`);
    assert.equal(r.s.episode_ends.interrupted, 1);
    assert.equal(r.s.holds.stops, 1, 'the robot was held');
    assert.ok(r.s.inference.calls > 0, 'the server drove the robot before the signal');
    assert.ok((await recordedSafe(ur5e, r.s.recordings?.[0]?.path)).length > 10, 'the robot moved before');
    assert.ok(s.stderr().includes('client connected'), 'the server saw the client');
  },

  'malformed-files': async () => {
    const truncated = join(dir, 'truncated.onnx');
    await writeFile(truncated, (await readFile(UR5E_MODEL)).subarray(0, 2000));
    const r = await runNode(SERVE, ['--policy', truncated, '--bind', 'tcp://127.0.0.1:0', '--json']);
    assert.equal(r.code, 2, r.stderr.slice(-2000));
    assertRefusedStdout(r.stdout);
    assert.doesNotMatch(r.stdout, /listening/, 'nothing was served');
    assert.match(r.stdout, /truncated\.onnx: not an ONNX model/);
  },
};

const rows: Row[] = runCells('remote');
test('every remote cell of the table has a test, and every test a cell', () => {
  assert.deepEqual(Object.keys(CELLS).sort(), rows.map((r) => r.id).sort());
});
for (const row of rows) test(`[remote] ${row.fault}: ${row.expect}`, CELLS[row.id]);
