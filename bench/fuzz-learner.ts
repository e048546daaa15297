// Fuzzing the RL learner's ROUTER (src/rl/zmq-pool.ts, as `vla-finetune --learner-bind` runs it) through real
// ZeroMQ DEALERs. A fuzz actor joins properly and is given a job; then it sends garbage: headers that are not
// JSON, of another version or shape, results for its job whose transitions hold a NaN, have the wrong sizes,
// the wrong seed or extra frames, results of another session or job, and byte mutations of valid headers.
// A probe actor checks the learner still answers a hello; at the end one valid result must be the episode the
// run returns, value for value: no fuzzed transition reached the replay buffer.
import { Dealer } from 'zeromq';
import { header } from '../protocols/rl-actor/protocol.js';
import { residualManifestFor } from '../src/policy/residual/residual-draft.js';
import { inputSize } from '../src/policy/residual/residual-manifest.js';
import type { ActorSetup } from '../src/rl/rollout-pool.js';
import { ZmqPool } from '../src/rl/zmq-pool.js';
import { loadRobot } from '../src/robot/index.js';
import type { Rng } from '../src/util/rng.js';
import { caseRng, int, MUTATIONS, mutateBytes, pick, randomBytes, wrongValue } from './fuzz-mutate.js';

const BASE = new URL('../../models/ur5e-pick-place.onnx', import.meta.url).pathname;
const SIZES = [15, 16, 14];
type Kind = 'not_json' | 'version' | 'schema' | 'result' | 'ignored' | 'other';

export interface LearnerFuzzResult {
  seed: number;
  cases: number;
  crashes: number;
  sent: Record<Kind, number>;
  counters: ZmqPool['counters'];
  /** The episode run() returned equals the one valid result sent after the fuzz. */
  episode_is_the_valid_one: boolean;
  duration_s: number;
}

interface Job {
  session: string;
  job: number;
  seed: number;
  obs: number;
  act: number;
}

const f32 = (n: number, v: number) => Buffer.from(new Float32Array(n).fill(v).buffer);

function resultHeader(j: Job, steps: number, over: object = {}): Buffer {
  const h = { v: 1, type: 'result', session: j.session, job: j.job, seed: j.seed, success: false, truncated: true };
  return header({ ...h, ticks: 10, steps, mean_abs_u: new Array(j.act).fill(0.1), ...over } as never);
}

/** A result for the fuzz actor's job that must be refused (each is wrong in one way). */
function badResult(rng: Rng, j: Job): { kind: Kind; frames: Buffer[] } {
  const steps = int(rng, 1, 20);
  const inputs = f32(steps * j.obs, 0.5);
  const u = f32(steps * j.act, 0.1);
  const nan = Buffer.from(inputs);
  nan.writeFloatLE(pick(rng, [Number.NaN, Infinity, -Infinity]), 4 * int(rng, 0, steps * j.obs - 1));
  return pick<() => { kind: Kind; frames: Buffer[] }>(rng, [
    () => ({ kind: 'result', frames: [resultHeader(j, steps), nan, u] }),
    () => ({ kind: 'result', frames: [resultHeader(j, steps), inputs.subarray(4), u] }),
    () => ({ kind: 'result', frames: [resultHeader(j, steps), inputs] }),
    () => ({ kind: 'result', frames: [resultHeader(j, steps), inputs, u, u] }),
    () => ({ kind: 'result', frames: [resultHeader(j, steps, { seed: j.seed + 1 }), inputs, u] }),
    () => ({ kind: 'result', frames: [resultHeader(j, steps, { mean_abs_u: [0.1] }), inputs, u] }),
    () => ({ kind: 'ignored', frames: [resultHeader(j, steps, { session: 'f'.repeat(16) }), inputs, u] }),
    () => ({ kind: 'ignored', frames: [resultHeader(j, steps, { job: j.job + 1000 }), inputs, u] }),
    () => ({ kind: 'schema', frames: [resultHeader(j, steps, { mean_abs_u: [Number.NaN] }), inputs, u] }),
  ])();
}

/** Case `index` of the run seeded `seed`, for the fuzz actor holding job `j`. */
export function learnerCase(seed: number, index: number, j: Job): { kind: Kind; frames: Buffer[] } {
  const rng = caseRng(seed, index);
  const r = rng.next();
  if (r < 0.15) return { kind: 'not_json', frames: [Buffer.concat([Buffer.from([0xff]), randomBytes(rng, 40)])] };
  if (r < 0.25) return { kind: 'version', frames: [Buffer.from(JSON.stringify({ v: pick(rng, [0, 2, '1']) }))] };
  if (r < 0.4) {
    const h = pick(rng, [
      { v: 1, type: 'heartbeat', session: wrongValue(rng), busy: 0, done: 0 },
      { v: 1, type: 'hello', actor: '', pid: -1, host: 'x' },
      { v: 1, type: pick(rng, ['job', 'setup', 'bye', '']), session: j.session },
      { v: 1, type: 'result', session: j.session, job: wrongValue(rng) },
    ]);
    return { kind: 'schema', frames: [Buffer.from(JSON.stringify(h))] };
  }
  if (r < 0.8) return badResult(rng, j);
  // a mutated header alone: whatever it parses as, without its frames no result can be taken
  const base = pick(rng, [
    resultHeader(j, 3),
    header({ v: 1, type: 'heartbeat', session: j.session, busy: 1, done: 0 }),
  ]);
  return { kind: 'other', frames: [mutateBytes(rng, base, pick(rng, MUTATIONS), 8192)] };
}

async function fuzzSetup(): Promise<ActorSetup> {
  const description = await loadRobot('ur5e');
  const manifest = await residualManifestFor(description, {
    name: 'fuzz',
    base_path: BASE,
    base_horizon: 25,
    hidden: [16],
    every_ticks: 5,
  });
  return {
    description,
    task: 'pick-place',
    base_path: BASE,
    manifest,
    latency_model: { kind: 'fixed', ms: 40 },
    seed: 0,
    actor_sizes: SIZES,
  };
}

export async function fuzzLearner(opts: { cases: number; seed: number }): Promise<LearnerFuzzResult> {
  const t0 = performance.now();
  const setup = await fuzzSetup();
  // every bad result is counted and dropped, however many: the valid one after the fuzz must still be taken
  const never = Number.POSITIVE_INFINITY;
  const pool = await ZmqPool.start({
    bind: 'tcp://127.0.0.1:0',
    setup,
    heartbeat_ms: 200,
    actor_timeout_ms: 600_000,
    max_bad_results: never,
  });
  const actor = new Dealer({ receiveTimeout: 10_000, linger: 0 });
  const probe = new Dealer({ receiveTimeout: 10_000, linger: 0 });
  const sent: Record<Kind, number> = { not_json: 0, version: 0, schema: 0, result: 0, ignored: 0, other: 0 };
  let last = -1;
  try {
    actor.connect(pool.endpoint);
    probe.connect(pool.endpoint);
    await actor.send(header({ v: 1, type: 'hello', actor: 'fuzz', pid: 1, host: 'fuzz' }));
    const [setupFrame] = await actor.receive();
    const session = (JSON.parse(setupFrame.toString()) as { session: string }).session;
    await actor.send(header({ v: 1, type: 'ready', session }));
    const weights = SIZES.slice(1).flatMap((n, i) => [new Float32Array(SIZES[i] * n), new Float32Array(n)]);
    const episodes = pool.run([{ seed: 7, explore_seed: null }], { version: 0, values: weights, bound: 1 });
    const [jobFrame] = await actor.receive();
    const jh = JSON.parse(jobFrame.toString()) as { job: number; seed: number };
    const act = setup.manifest.action_names.length;
    const j: Job = { session, job: jh.job, seed: jh.seed, obs: inputSize(setup.manifest), act };
    for (let i = 0; i < opts.cases; i++) {
      last = i;
      const c = learnerCase(opts.seed, i, j);
      sent[c.kind]++;
      await actor.send(c.frames);
      if (i % 100 === 99) {
        await probe.send(header({ v: 1, type: 'hello', actor: 'probe', pid: 2, host: 'probe' }));
        await probe.receive(); // the setup: the learner is alive and answering
      }
    }
    // the one valid result: 2 steps of inputs 0.25 and u 0.125
    await actor.send([resultHeader(j, 2), f32(2 * j.obs, 0.25), f32(2 * j.act, 0.125)]);
    const [ep] = await episodes;
    const valid =
      ep.inputs.every((x) => x === 0.25) && ep.u.every((x) => x === 0.125) && ep.inputs.length === 2 * j.obs;
    return {
      seed: opts.seed,
      cases: opts.cases,
      crashes: 0,
      sent,
      counters: structuredClone(pool.counters),
      episode_is_the_valid_one: valid,
      duration_s: Math.round((performance.now() - t0) / 100) / 10,
    };
  } catch (err) {
    throw new Error(`learner fuzz, seed ${opts.seed}, case ${last}: ${(err as Error).message}`);
  } finally {
    actor.close();
    probe.close();
    await pool.close();
  }
}
