// Fine-tuning throughput with rollout actors (VLA_BENCH_ONLY=rl): the same jobs in the learner's own thread
// (LocalPool), on 1 actor process and on 2 (ZmqPool over loopback), side by side in one run, alternating, best
// of the passes; then learner updates/s alone; then rounds as vla-finetune runs them (pipelined one deep: the
// next round's episodes run while the learner trains on the last), which is what --actors decides.
// ur5e pick-place, the shipped base model, vla-finetune's default residual (64x64, every 5 ticks, 40 ms latency).
//   VLA_BENCH_RL_EPISODES  episodes per rollout pass (default 16)
//   VLA_BENCH_RL_ROUNDS    pipelined rounds of 4 episodes per pool and pass (default 4)
import { type ChildProcess, spawn } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { residualManifestFor } from '../src/policy/residual/residual-draft.js';
import { inputSize } from '../src/policy/residual/residual-manifest.js';
import { FINETUNE_DEFAULTS } from '../src/rl/finetune-config.js';
import { ReplayBuffer } from '../src/rl/replay-buffer.js';
import {
  type ActorSetup,
  type ActorWeights,
  type EpisodeJob,
  LocalPool,
  type RolloutPool,
} from '../src/rl/rollout-pool.js';
import { SacLearner } from '../src/rl/sac-learner.js';
import type { RolloutEpisode } from '../src/rl/sim-rollouts.js';
import { addEpisode } from '../src/rl/transitions.js';
import { ZmqPool } from '../src/rl/zmq-pool.js';
import { loadRobot } from '../src/robot/index.js';
import { tfWasm } from '../src/train/tf-backend.js';
import { Rng } from '../src/util/rng.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const BASE = `${ROOT}models/ur5e-pick-place.onnx`;
const d = FINETUNE_DEFAULTS;
const round1 = (x: number) => Math.round(x * 10) / 10;

interface Pool {
  name: string;
  pool: RolloutPool;
  children: ChildProcess[];
}

export async function benchmarkRl(log: (m: string) => void): Promise<object> {
  const episodes = Number(process.env.VLA_BENCH_RL_EPISODES ?? 16);
  const rounds = Number(process.env.VLA_BENCH_RL_ROUNDS ?? 4);
  const desc = await loadRobot('ur5e');
  const manifest = await residualManifestFor(desc, {
    name: 'bench',
    base_path: BASE,
    base_horizon: 25,
    hidden: d.residual.hidden,
    every_ticks: d.residual.every_ticks,
  });
  const O = inputSize(manifest);
  const A = desc.action_names.length;
  const sizes = [O, ...d.residual.hidden, 2 * A];
  const setup: ActorSetup = {
    description: desc,
    task: 'pick-place',
    base_path: BASE,
    manifest,
    latency_model: { kind: 'fixed', ms: d.latency_ms },
    seed: 0,
    actor_sizes: sizes,
  };
  const rng = new Rng(1);
  const values = sizes
    .slice(1)
    .flatMap((n, i) => [
      Float32Array.from({ length: sizes[i] * n }, () => rng.normal() / Math.sqrt(sizes[i])),
      new Float32Array(n),
    ]);
  const w: ActorWeights = { version: 0, values, bound: 0.5 };
  const jobs = (seed0: number, n: number): EpisodeJob[] =>
    Array.from({ length: n }, (_, i) => ({ seed: seed0 + i, explore_seed: 7 + seed0 + i }));

  log(`rl: starting the pools (in-process, 1 and 2 actor processes)`);
  const pools: Pool[] = [
    { name: 'in_process', pool: await LocalPool.create(setup, values), children: [] },
    await zmqPool('actors_1', 1, setup),
    await zmqPool('actors_2', 2, setup),
  ];
  try {
    for (const p of pools) await p.pool.run(jobs(900, 2 * p.pool.actors), w); // warm-up: JIT, ONNX, caches
    const rollouts: Record<string, { env_ticks_per_s: number; passes: number[] }> = {};
    let reference: RolloutEpisode[] | undefined;
    let identical = true;
    for (let pass = 0; pass < 3; pass++)
      for (const p of pools) {
        const t0 = performance.now();
        const eps = await p.pool.run(jobs(0, episodes), w);
        const rate = eps.reduce((n, e) => n + e.ticks, 0) / ((performance.now() - t0) / 1000);
        reference ??= eps;
        identical &&= isDeepStrictEqual(eps, reference);
        rollouts[p.name] ??= { env_ticks_per_s: 0, passes: [] };
        const r = rollouts[p.name];
        r.passes.push(Math.round(rate));
        r.env_ticks_per_s = Math.max(...r.passes);
        log(`rl: rollouts ${p.name} pass ${pass + 1}: ${Math.round(rate)} env ticks/s`);
      }
    const tf = await tfWasm();
    // actor updates from the first update on (the default waits 3000 critic-only updates, which cost ~30% less):
    // every pass measures the learner as it runs for most of a run, and a fresh one, so passes compare
    const newLearner = () =>
      new SacLearner(tf, {
        ...d.learner,
        actor_delay_updates: 0,
        obs_dim: O,
        action_dim: A,
        hidden: d.residual.hidden,
        actor_last_scale: 0.01,
        seed: 0,
      });
    const learner = newLearner();
    const buffer = new ReplayBuffer(100_000, O, A);
    for (const ep of reference ?? []) addEpisode(buffer, ep, O, A);
    for (let i = 0; i < 50; i++) learner.update(buffer, buffer); // warm-up: tfjs compiles its kernels
    const passes: number[] = [];
    for (let pass = 0; pass < 3; pass++) {
      const t0 = performance.now();
      for (let i = 0; i < 100; i++) learner.update(buffer, buffer);
      passes.push(round1(100 / ((performance.now() - t0) / 1000)));
    }
    log(`rl: learner alone ${Math.max(...passes)} updates/s`);
    const pipelined: Record<string, { s_per_round: number; passes: PipelinePass[] }> = {};
    for (let pass = 0; pass < 3; pass++)
      for (const p of pools) {
        const fresh = newLearner();
        fresh.update(buffer, buffer); // its kernels are compiled once, but a first update still costs more
        const r = await pipeline(p.pool, fresh, buffer, w, jobs, rounds, O, A);
        fresh.dispose();
        pipelined[p.name] ??= { s_per_round: Infinity, passes: [] };
        pipelined[p.name].passes.push(r);
        pipelined[p.name].s_per_round = Math.min(pipelined[p.name].s_per_round, r.s_per_round);
        log(`rl: pipelined ${p.name} pass ${pass + 1}: ${JSON.stringify(r)}`);
      }
    learner.dispose();
    return {
      setup: {
        rounds,
        robot: 'ur5e',
        task: 'pick-place',
        hidden: d.residual.hidden,
        every_ticks: d.residual.every_ticks,
        episodes,
      },
      rollouts_identical_across_pools: identical,
      rollouts,
      learner_updates_per_s: {
        best: Math.max(...passes),
        passes,
        batch_size: d.learner.batch_size,
        utd: d.learner.utd,
      },
      pipelined_rounds: pipelined,
    };
  } finally {
    for (const p of pools) await p.pool.close();
    for (const p of pools) for (const c of p.children) if (c.exitCode === null) c.kill('SIGKILL');
  }
}

interface PipelinePass {
  s_per_round: number;
  env_ticks_per_s: number;
  updates_per_s: number;
}

/** Rounds as the fine-tuner runs them: round r + 1's episodes are out while the learner trains on round r's. */
async function pipeline(
  pool: RolloutPool,
  learner: SacLearner,
  offline: ReplayBuffer,
  w: ActorWeights,
  jobs: (seed0: number, n: number) => EpisodeJob[],
  rounds: number,
  O: number,
  A: number,
): Promise<PipelinePass> {
  const online = new ReplayBuffer(100_000, O, A);
  let ticks = 0;
  let updates = 0;
  const t0 = performance.now();
  let next = pool.run(jobs(1000, 4), w);
  for (let r = 0; r < rounds; r++) {
    const eps = await next;
    if (r + 1 < rounds) next = pool.run(jobs(1000 + 4 * (r + 1), 4), w);
    let added = 0;
    for (const ep of eps) added += addEpisode(online, ep, O, A);
    for (let i = 0; i < added * d.schedule.updates_per_transition; i++) learner.update(online, offline);
    updates += added * d.schedule.updates_per_transition;
    ticks += eps.reduce((n, e) => n + e.ticks, 0);
  }
  const s = (performance.now() - t0) / 1000;
  return {
    s_per_round: Math.round((100 * s) / rounds) / 100,
    env_ticks_per_s: Math.round(ticks / s),
    updates_per_s: round1(updates / s),
  };
}

async function zmqPool(name: string, n: number, setup: ActorSetup): Promise<Pool> {
  const pool = await ZmqPool.start({ bind: 'tcp://127.0.0.1:0', setup, wait_ms: 60_000 });
  const children = Array.from({ length: n }, () =>
    spawn(process.execPath, [`${ROOT}bin/vla-finetune.js`, 'actor', '--learner', pool.endpoint], { stdio: 'ignore' }),
  );
  const t0 = performance.now();
  while (pool.actors < n) {
    if (performance.now() - t0 > 60_000) throw new Error(`rl bench: ${n} actor(s) not ready within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name, pool, children };
}
