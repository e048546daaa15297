// Rollout actors over ZeroMQ, with real sockets and real actor processes (`vla-finetune actor`): two actors give
// exactly LocalPool's episodes, also for two batches in flight with different weights; an actor SIGKILLed mid-job
// has its jobs re-run by the other, and the results are still whole and identical; an actor holding another base
// model file is refused with a clear message (exit 2); no actor within the deadline is an error, not a hang;
// malformed messages are dropped and counted on both sides. Then the CLI: a run on actors that join from outside
// ends with the very weights of an in-process run (LocalPool), and Ctrl-C on a run with local actor processes
// exits 130 with those processes gone.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { curveKeyPair, Dealer, Router } from 'zeromq';
import { keyFileText } from '../protocols/policy-server/curve.js';
import { header } from '../protocols/rl-actor/protocol.js';
import { residualManifestFor } from '../src/policy/residual/residual-draft.js';
import { type ActorSetup, type EpisodeJob, LocalPool } from '../src/rl/rollout-pool.js';
import { checkpointDir, loadRunState } from '../src/rl/run-state.js';
import { MAX_BAD_RESULTS, type PoolEvent, ZmqPool } from '../src/rl/zmq-pool.js';
import { loadRobot } from '../src/robot/index.js';
import { Rng } from '../src/util/rng.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/vla-finetune.js');
const BASE = join(ROOT, 'models/ur5e-pick-place.onnx');
const tmp = await mkdtemp(join(tmpdir(), 'vla-actors-'));
const started: ChildProcess[] = [];
after(async () => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(tmp, { recursive: true, force: true });
});

const desc = await loadRobot('ur5e');
const SIZES = [15, 16, 14];
const manifest = await residualManifestFor(desc, {
  name: 't',
  base_path: BASE,
  base_horizon: 25,
  hidden: [16],
  every_ticks: 5,
});
const setup: ActorSetup = {
  description: desc,
  task: 'pick-place',
  base_path: BASE,
  manifest,
  latency_model: { kind: 'fixed', ms: 40 },
  seed: 0,
  actor_sizes: SIZES,
};
const weights = (seed: number, version: number, bound: number) => {
  const rng = new Rng(seed);
  const values = SIZES.slice(1).flatMap((n, i) => [
    Float32Array.from({ length: SIZES[i] * n }, () => rng.normal() * 0.3),
    Float32Array.from({ length: n }, () => rng.normal() * 0.1),
  ]);
  return { version, values, bound };
};
const jobs = (seed0: number, n: number): EpisodeJob[] =>
  Array.from({ length: n }, (_, i) => ({ seed: seed0 + i, explore_seed: i % 3 === 2 ? null : 1000 + seed0 + i }));

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (t: string) => {
    err += t;
  });
  child.stdout?.resume();
  const exit = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(code ?? (signal ? -1 : null))));
  return { child, stderr: () => err, exit };
}

const actor = (endpoint: string, ...extra: string[]) => run(['actor', '--learner', endpoint, ...extra]);

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ZmqPool with actor processes', () => {
  const events: PoolEvent[] = [];
  let pool: ZmqPool;
  let local: LocalPool;
  const actors: Proc[] = [];
  before(async () => {
    pool = await ZmqPool.start({
      bind: 'tcp://127.0.0.1:0',
      setup,
      heartbeat_ms: 200,
      actor_timeout_ms: 2000,
      on_event: (e) => events.push(e),
    });
    actors.push(actor(pool.endpoint, '--name', 'a1'), actor(pool.endpoint, '--name', 'a2'));
    local = await LocalPool.create(setup, weights(0, 0, 1).values);
  });
  after(async () => {
    await pool.close();
    await local.close();
  });

  test('two actors give the episodes of LocalPool, two batches with different weights in flight at once', async () => {
    const [wa, wb] = [weights(1, 4, 0.5), weights(2, 5, 1)];
    await until('both actors', () => pool.actors === 2);
    const [a, b] = await Promise.all([pool.run(jobs(0, 6), wa), pool.run(jobs(50, 4), wb)]);
    assert.deepEqual(a, await local.run(jobs(0, 6), wa));
    assert.deepEqual(b, await local.run(jobs(50, 4), wb));
    assert.ok(
      a.some((e) => e.steps > 0 && Math.max(...e.mean_abs_u) > 0),
      'the residual acted',
    );
    assert.equal(pool.counters.episodes, 10);
    assert.deepEqual(pool.counters.malformed, {});
  });

  test('an actor SIGKILLed mid-job: its jobs are re-run by the other, the results whole and identical', async () => {
    const w = weights(3, 6, 0.8);
    const done = pool.run(jobs(100, 8), w);
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(pool.counters.episodes < 18, 'killed before the batch was done');
    actors[0].child.kill('SIGKILL');
    const eps = await done;
    assert.ok(pool.counters.actors_lost >= 1);
    assert.ok(pool.counters.jobs_requeued >= 1, `${pool.counters.jobs_requeued} jobs re-queued`);
    assert.ok(events.some((e) => e.type === 'actor_lost' && e.actor.startsWith('a1')));
    assert.deepEqual(eps, await local.run(jobs(100, 8), w));
    assert.equal(pool.actors, 1);
  });
});

describe('refusals, deadlines and malformed messages', () => {
  test('an actor with another base model file is refused with a clear message and exits 2', async () => {
    const events: PoolEvent[] = [];
    const pool = await ZmqPool.start({
      bind: 'tcp://127.0.0.1:0',
      setup,
      // long enough for an actor process to start and be refused on a loaded machine (it took > 1 s in CI)
      wait_ms: 5000,
      on_event: (e) => events.push(e),
    });
    try {
      const other = join(tmp, 'ur5e-pick-place.onnx');
      await copyFile(join(ROOT, 'models/ur5e-push.onnx'), other);
      const a = actor(pool.endpoint, '--base', other);
      const waiting = pool.run(jobs(0, 2), weights(1, 0, 1));
      waiting.catch(() => undefined); // asserted below; the deadline may pass before the actor has exited
      assert.equal(await a.exit, 2);
      const why =
        /the base model .*ur5e-pick-place\.onnx here is not the learner's: its SHA-256 is \w{64}, the learner's \w{64}/;
      assert.match(a.stderr(), why);
      assert.ok(events.some((e) => e.type === 'actor_refused' && why.test(e.reason)));
      await assert.rejects(waiting, /no actor ready at .* refused: .*not the learner's/);
    } finally {
      await pool.close();
    }
  });

  test('CURVE: an actor with a key let in works, another key exits 2; no CURVE off loopback warns', async () => {
    const [learner, known, stranger] = [curveKeyPair(), curveKeyPair(), curveKeyPair()];
    const file = async (name: string, k: { publicKey: string; secretKey?: string }) => {
      const path = join(tmp, name);
      await writeFile(path, keyFileText(name, { public_key: k.publicKey, secret_key: k.secretKey }));
      return path;
    };
    const server = await file('learner.key', { publicKey: learner.publicKey });
    const curve = { secret_key: learner.secretKey, allowed_client_keys: [known.publicKey] };
    const pool = await ZmqPool.start({ bind: 'tcp://127.0.0.1:0', setup, curve });
    try {
      const keys = ['--curve-server-key', server, '--curve-client-key'];
      const ok = actor(pool.endpoint, ...keys, await file('known.key_secret', known));
      const refused = actor(pool.endpoint, ...keys, await file('stranger.key_secret', stranger));
      const [ep] = await pool.run(jobs(3, 1), weights(1, 0, 1));
      assert.equal(ep.seed, 3);
      assert.equal(await refused.exit, 2);
      assert.match(refused.stderr(), /the security handshake with tcp:\/\/127\.0\.0\.1:\d+ failed/);
      assert.equal(ok.child.exitCode, null, 'the actor let in is still at work');
    } finally {
      await pool.close();
    }
    const events: PoolEvent[] = [];
    const open = await ZmqPool.start({ bind: 'tcp://0.0.0.0:0', setup, on_event: (e) => events.push(e) });
    await open.close();
    assert.match(JSON.stringify(events), /reachable from other machines and CURVE is off/);
  });

  test('no actor within the deadline: the run fails saying so, it does not hang', async () => {
    const pool = await ZmqPool.start({ bind: 'tcp://127.0.0.1:0', setup, wait_ms: 1500 });
    try {
      const t0 = Date.now();
      await assert.rejects(
        pool.run(jobs(0, 2), weights(1, 0, 1)),
        new RegExp(
          '^NoActorError: no actor ready at tcp://127\\.0\\.0\\.1:\\d+ for 2 s with 2 episode\\(s\\) waiting; ' +
            'start one with: vla-finetune actor --learner tcp:',
        ),
      );
      assert.ok(Date.now() - t0 < 10_000);
    } finally {
      await pool.close();
    }
  });

  test('the learner drops and counts malformed messages, and goes on', async () => {
    const pool = await ZmqPool.start({ bind: 'tcp://127.0.0.1:0', setup });
    const fake = new Dealer({ linger: 0 });
    fake.connect(pool.endpoint);
    const recv = async () => (await fake.receive()) as Buffer[];
    const json = (o: object) => Buffer.from(JSON.stringify(o));
    try {
      await fake.send(['not json']);
      await fake.send([json({ v: 2, type: 'hello', actor: 'x', pid: 1, host: 'h' })]);
      await fake.send([json({ v: 1, type: 'hello', actor: '', pid: -1 })]);
      await fake.send([header({ v: 1, type: 'hello', actor: 'fake', pid: 1, host: 'h' })]);
      const setupMsg = JSON.parse((await recv())[0].toString());
      assert.equal(setupMsg.type, 'setup');
      assert.equal(setupMsg.setup.base.sha256, manifest.base.sha256);
      const session: string = setupMsg.session;
      await fake.send([header({ v: 1, type: 'ready', session })]);
      const result = pool.run(jobs(7, 1), weights(1, 0, 1));
      const [jobHead, ...weightFrames] = await recv();
      const job = JSON.parse(jobHead.toString());
      assert.equal(weightFrames.length, 4, 'the weights come with the first job');
      const head = { v: 1, type: 'result', session, job: job.job, seed: 7, success: false, truncated: true, ticks: 9 };
      const ok = { ...head, steps: 1, mean_abs_u: new Array(7).fill(0) } as const;
      const f32 = (n: number, x = 0) => Buffer.from(new Float32Array(n).fill(x).buffer);
      await fake.send([json(ok), f32(14), f32(7)]); // 14 inputs, not 15
      await fake.send([json(ok), f32(15, Number.NaN), f32(7)]);
      await fake.send([json({ ...ok, session: '0123456789abcdef' }), f32(15), f32(7)]);
      await fake.send([json({ ...ok, interventions: [1] }), f32(15), f32(7)]); // a takeover at a step it lacks
      await fake.send([json({ ...ok, labelled: true }), f32(15), f32(7)]); // labels announced, not sent
      await fake.send([json({ ...ok, interventions: [0], labelled: true }), f32(15, 0.5), f32(7, 0.25), f32(7, -1)]);
      const [ep] = await result;
      assert.deepEqual([...ep.inputs], new Array(15).fill(0.5));
      assert.deepEqual(ep.interventions, [0]);
      assert.deepEqual([...(ep.labels ?? [])], new Array(7).fill(-1), "the operator's labels of every decision");
      assert.deepEqual(pool.counters.malformed, { not_json: 1, version: 1, schema: 1, result: 4 });
      assert.equal(pool.counters.stale_results, 1);
    } finally {
      fake.close();
      await pool.close();
    }
  });

  test('a malformed result sends its job out again; one that keeps coming back fails the run, naming it', {
    timeout: 30_000,
  }, async () => {
    const pool = await ZmqPool.start({ bind: 'tcp://127.0.0.1:0', setup });
    const fake = new Dealer({ linger: 0 });
    fake.connect(pool.endpoint);
    const recv = async () => JSON.parse(((await fake.receive()) as Buffer[])[0].toString());
    try {
      await fake.send([header({ v: 1, type: 'hello', actor: 'broken', pid: 1, host: 'h' })]);
      const { session } = await recv();
      await fake.send([header({ v: 1, type: 'ready', session })]);
      const result = pool.run(jobs(7, 1), weights(1, 0, 1));
      result.catch(() => undefined); // asserted below
      const sent: number[] = [];
      for (let i = 0; i < MAX_BAD_RESULTS; i++) {
        const job = await recv(); // the first time and after each bad result: the same job again
        sent.push(job.job);
        const head = { v: 1, type: 'result', session, job: job.job, seed: 7, success: false, truncated: true } as const;
        const bad = { ...head, ticks: 9, steps: 1, mean_abs_u: new Array(7).fill(0) };
        await fake.send([
          header(bad),
          Buffer.from(new Float32Array(14).buffer),
          Buffer.from(new Float32Array(7).buffer),
        ]);
      }
      assert.deepEqual(new Set(sent).size, 1, 'one job, sent again each time');
      await assert.rejects(result, /^Error: 5 malformed results for one episode \(seed 7\); the last: job \d+: /);
      assert.equal(pool.counters.malformed.result, MAX_BAD_RESULTS);
      assert.equal(pool.counters.jobs_requeued, MAX_BAD_RESULTS - 1);
    } finally {
      fake.close();
      await pool.close();
    }
  });

  test('an actor drops and counts malformed messages, and exits 0 on bye', async () => {
    const router = new Router({ linger: 0 });
    await router.bind('tcp://127.0.0.1:0');
    try {
      const a = actor(router.lastEndpoint as string);
      const [rid, hello] = (await router.receive()) as Buffer[];
      assert.equal(JSON.parse(hello.toString()).type, 'hello');
      await router.send([rid, 'not json']);
      await router.send([rid, Buffer.from(JSON.stringify({ v: 1, type: 'setup', session: 'x' }))]);
      await router.send([rid, header({ v: 1, type: 'bye', code: 'done', reason: 'test over' })]);
      assert.equal(await a.exit, 0);
      assert.match(a.stderr(), /dropped a malformed message: frame 0 is not a JSON header/);
      assert.match(a.stderr(), /the learner: test over \(0 episodes, 2 malformed messages dropped\)/);
    } finally {
      router.close();
    }
  });
});

test('an actor stopped by a signal exits as the shell expects: SIGINT 130, SIGTERM 143', async () => {
  const stopped = (['SIGINT', 'SIGTERM'] as const).map(async (signal) => {
    // no learner at this endpoint: the actor says every 10 s that it is waiting, until the signal comes
    const a = actor('tcp://127.0.0.1:9', '--name', `waiting-${signal}`);
    await until('the actor to wait for its learner', () => /the learner at /.test(a.stderr()), 60_000);
    a.child.kill(signal);
    return [signal, await a.exit, a.stderr()] as const;
  });
  for (const [signal, code, stderr] of await Promise.all(stopped))
    assert.equal(code, signal === 'SIGINT' ? 130 : 143, `${signal}: ${stderr}`);
});

describe('vla-finetune with actor processes', () => {
  const SMALL = ['--robot', 'ur5e', '--sim', '--runs-dir', tmp, '--episodes-per-round', '2', '--every-ticks', '10'];
  const MORE = [
    ...['--eval-every', '2', '--eval-episodes', '2', '--offline-episodes', '2', '--actor-delay-updates', '0'],
    ...['--batch-size', '32', '--warmup-updates', '20', '--select-episodes', '2'],
  ];

  // three runs at once: each spends most of its time in fixed start-up and in learner updates, not in episodes
  test('a run on actors that join over ZeroMQ ends with the weights of an in-process run', async () => {
    const whole = run([...SMALL, ...MORE, '--run', 'inproc', '--rounds', '2', '--in-process', '--json']);
    const remote = run([...SMALL, ...MORE, '--run', 'remote', '--rounds', '2', '--actors', '0', '--json']);
    const ctrlC = interrupted();
    await until('the learner', () => /learner at (tcp:\/\/\S+): waiting for actors/.test(remote.stderr()));
    const endpoint = /learner at (tcp:\/\/\S+): waiting/.exec(remote.stderr())?.[1] as string;
    const joined = [actor(endpoint), actor(endpoint)];
    assert.equal(await remote.exit, 0, remote.stderr());
    assert.deepEqual(await Promise.all(joined.map((a) => a.exit)), [0, 0], 'bye: the actors exit 0');
    assert.equal(await whole.exit, 0, whole.stderr());
    const a = await loadRunState(checkpointDir(join(tmp, 'inproc'), 2));
    const b = await loadRunState(checkpointDir(join(tmp, 'remote'), 2));
    assert.ok(a.learner.actor_opt.step > 0, 'the actor was trained, so later rounds ran other weights');
    assert.deepEqual(b.learner.actor, a.learner.actor, 'actor weights');
    assert.deepEqual(b.learner.critics, a.learner.critics, 'critic weights');
    assert.deepEqual(b.online, a.online, 'replay buffer');
    assert.equal(b.counters.episodes, a.counters.episodes);
    await ctrlC;
  });

  /** Ctrl-C on a run with 2 local actor processes: exit 130 after its checkpoint, and the actors are gone. */
  async function interrupted(): Promise<void> {
    const r = run([...SMALL, ...MORE, '--run', 'ctrl-c', '--rounds', '2', '--actors', '2', '--json']);
    const metrics = join(tmp, 'ctrl-c', 'metrics.jsonl');
    await until('round 1', () => r.stderr().includes('actor ready') && hasRound(metrics), 120_000);
    r.child.kill('SIGINT'); // as Ctrl-C in a terminal: the learner only (its actors have their own group)
    assert.equal(await r.exit, 130, r.stderr());
    const pids = /2 local actor process\(es\) \(pid (\d+), (\d+)\)/.exec(r.stderr())?.slice(1).map(Number);
    assert.ok(pids, r.stderr());
    await until('the actor processes to end', () => pids.every((p) => !alive(p)), 5000);
    assert.match(readFileSync(metrics, 'utf8'), /"type":"round","round":1,/);
  }
});

function hasRound(metrics: string): boolean {
  try {
    return readFileSync(metrics, 'utf8').includes('"type":"round"');
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2].startsWith('Z');
  } catch {
    return false;
  }
}
