// The imitation warm start: its episodes come from distinct training seeds with the operator holding the arm, every
// label lands in the demonstrations, and the fit brings the actor's deterministic action to the operator's. The
// pool here hands back episodes whose labels are a known function of their inputs, so how far the fitted actor is
// from that function is measured against the function itself, on inputs the fit never saw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FINETUNE_DEFAULTS, type FinetuneConfig } from '../src/rl/finetune-config.js';
import { ReplayBuffer } from '../src/rl/replay-buffer.js';
import type { ActorWeights, EpisodeJob, RolloutPool } from '../src/rl/rollout-pool.js';
import { DEFAULT_SAC, SacLearner } from '../src/rl/sac-learner.js';
import type { RolloutEpisode } from '../src/rl/sim-rollouts.js';
import { warmStart, warmStartJobs } from '../src/rl/warm-start.js';
import { tfWasm } from '../src/train/tf-backend.js';
import { Rng } from '../src/util/rng.js';

const O = 3;
const A = 2;
const STEPS = 20;
const config = { ...FINETUNE_DEFAULTS, train_seed_limit: 100 } as FinetuneConfig;

/** The operator's correction for an input: smooth, inside (-1, 1), and not what an untrained actor gives. */
function operatorLabel(x: ArrayLike<number>): number[] {
  return [0.8 * Math.tanh(2 * x[0] - x[1]), -0.6 * Math.tanh(x[1] + x[2])];
}

/** A pool whose episodes are the operator's: inputs drawn from the job's seed, u = labels = operatorLabel. */
class LabelledPool implements RolloutPool {
  readonly actors = 1;
  readonly jobs: EpisodeJob[] = [];
  async run(jobs: EpisodeJob[], _w: ActorWeights): Promise<RolloutEpisode[]> {
    this.jobs.push(...jobs);
    return jobs.map((job) => {
      const rng = new Rng(job.seed);
      const inputs = Float32Array.from({ length: STEPS * O }, () => rng.uniform(-1, 1));
      const labels = new Float32Array(STEPS * A);
      for (let i = 0; i < STEPS; i++) labels.set(operatorLabel(inputs.subarray(i * O, (i + 1) * O)), i * A);
      const interventions = Array.from({ length: STEPS }, (_, i) => i);
      return {
        seed: job.seed,
        success: true,
        truncated: false,
        ticks: 10 * STEPS,
        steps: STEPS,
        inputs,
        u: labels,
        mean_abs_u: [0, 0],
        interventions,
        labels,
      };
    });
  }
  async close(): Promise<void> {}
}

/** Mean squared distance (summed over the action dimensions) from the operator, on fresh inputs. */
function heldOutError(learner: SacLearner): number {
  const rng = new Rng(12345);
  const n = 500;
  const x = Float32Array.from({ length: n * O }, () => rng.uniform(-1, 1));
  const u = learner.act(x, n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const want = operatorLabel(x.subarray(i * O, (i + 1) * O));
    for (let j = 0; j < A; j++) sum += (u[i * A + j] - want[j]) ** 2;
  }
  return sum / n;
}

test('warm start jobs: distinct training seeds, held by the operator; more than there are seeds is refused', () => {
  const jobs = warmStartJobs(config, 1_234_567, 100);
  assert.equal(new Set(jobs.map((j) => j.seed)).size, 100);
  assert.ok(jobs.every((j) => j.seed < 100 && j.hold === true && j.explore_seed === null));
  assert.throws(() => warmStartJobs(config, 0, 101), /101 episodes needs as many training seeds; there are 100/);
});

test('the warm start fits the actor to the operator: its error on unseen inputs falls tenfold', async () => {
  const tf = await tfWasm();
  const learner = new SacLearner(tf, {
    ...DEFAULT_SAC,
    obs_dim: O,
    action_dim: A,
    target_entropy: -A,
    hidden: [64, 64],
    seed: 3,
  });
  try {
    const before = heldOutError(learner);
    const pool = new LabelledPool();
    const demos = new ReplayBuffer(10_000, O, A);
    const seen: string[] = [];
    const line = await warmStart(config, { episodes: 60, epochs: 12, lr: 3e-3 }, pool, learner, demos, 40, {
      progress: (phase, done, total) => seen.push(`${phase} ${done}/${total}`),
    });
    assert.equal(pool.jobs.length, 60);
    assert.ok(pool.jobs.every((j) => j.hold));
    assert.equal(line.episodes, 60);
    assert.equal(line.successes, 60);
    assert.equal(demos.size, 60 * STEPS, 'every labelled decision is a demonstration');
    assert.equal(line.labels, demos.size);
    assert.equal(line.loss_per_epoch.length, 12);
    assert.deepEqual(seen.slice(0, 1), ['episodes 60/60']);
    assert.equal(seen.at(-1), 'epochs 12/12');
    const after = heldOutError(learner);
    assert.ok(after < before / 10, `held-out error ${before.toFixed(4)} -> ${after.toFixed(4)}`);
    assert.ok(line.loss_per_epoch[11] < line.loss_per_epoch[0] / 5, `${line.loss_per_epoch}`);
  } finally {
    learner.dispose();
  }
});
