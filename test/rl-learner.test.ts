// The residual learner's parts: the replay ring, SAC learning a sparse-reward problem it cannot solve by
// chance, and exact resume: a learner restored from a checkpoint written to disk continues bit for bit as the
// uninterrupted one, and a damaged checkpoint is named.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CheckpointError, readCheckpoint, writeCheckpoint } from '../src/rl/checkpoint.js';
import { captureLearner, type LearnerState, restoreLearner } from '../src/rl/learner-state.js';
import { newBatch, ReplayBuffer, type ReplayBufferState, sampleMixed } from '../src/rl/replay-buffer.js';
import { DEFAULT_SAC, type SacConfig, SacLearner } from '../src/rl/sac-learner.js';
import { tfWasm } from '../src/train/tf-backend.js';
import { Rng } from '../src/util/rng.js';

const tmp = await mkdtemp(join(tmpdir(), 'vla-rl-'));
after(() => rm(tmp, { recursive: true, force: true }));

const SMALL: SacConfig = {
  ...DEFAULT_SAC,
  obs_dim: 2,
  action_dim: 2,
  target_entropy: -1,
  hidden: [64, 64],
  batch_size: 64,
  utd: 2,
  lr: 1e-3,
  seed: 7,
};

/** A one-step problem: reward 1 only when the action is within 0.2 of a target that depends on the observation. */
function bandit(rng: Rng): { obs: Float32Array; good: (a: ArrayLike<number>) => boolean } {
  const obs = Float32Array.of(rng.uniform(-1, 1), rng.uniform(-1, 1));
  const want = [0.8 * obs[0], -0.6 * obs[1]];
  return { obs, good: (a) => Math.abs(a[0] - want[0]) < 0.2 && Math.abs(a[1] - want[1]) < 0.2 };
}

function successRate(learner: SacLearner, seed: number, n: number): number {
  const rng = new Rng(seed);
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const b = bandit(rng);
    if (b.good(learner.act(b.obs, 1))) ok++;
  }
  return ok / n;
}

describe('replay buffer', () => {
  test('a full ring overwrites the oldest, and its state restores what sampling draws', () => {
    const buf = new ReplayBuffer(3, 1, 1);
    for (let i = 0; i < 5; i++) buf.add({ obs: [i], action: [i], reward: i, terminal: i === 4, next_obs: [i + 1] });
    assert.equal(buf.size, 3);
    assert.deepEqual([...buf.state().reward].sort(), [2, 3, 4], 'transitions 0 and 1 were overwritten');
    const copy = ReplayBuffer.fromState(structuredClone(buf.state()) as ReplayBufferState);
    const [a, b] = [newBatch(8, 1, 1), newBatch(8, 1, 1)];
    buf.sampleInto(a, 0, 8, new Rng(1));
    copy.sampleInto(b, 0, 8, new Rng(1));
    assert.deepEqual([...a.reward], [...b.reward]);
    assert.ok(
      a.reward.every((r, i) => a.obs[i] === r && a.next_obs[i] === r + 1 && a.terminal[i] === (r === 4 ? 1 : 0)),
    );
  });

  test('mixed sampling takes half the batch from each buffer', () => {
    const online = new ReplayBuffer(10, 1, 1);
    const offline = new ReplayBuffer(10, 1, 1);
    online.add({ obs: [1], action: [0], reward: 1, terminal: false, next_obs: [1] });
    offline.add({ obs: [2], action: [0], reward: 2, terminal: false, next_obs: [2] });
    const batch = sampleMixed(newBatch(6, 1, 1), online, offline, new Rng(3));
    assert.deepEqual([...batch.reward], [1, 1, 1, 2, 2, 2]);
    assert.deepEqual([...sampleMixed(newBatch(2, 1, 1), online, undefined, new Rng(3)).reward], [1, 1]);
  });
});

describe('SAC learner', () => {
  test('learns a sparse-reward problem far beyond its starting success', async () => {
    const tf = await tfWasm();
    const learner = new SacLearner(tf, SMALL);
    const online = new ReplayBuffer(5000, 2, 2);
    const explore = new Rng(11);
    const before = successRate(learner, 999, 300);
    for (let step = 0; step < 300; step++) {
      const b = bandit(explore);
      const a = learner.act(b.obs, 1, explore);
      online.add({ obs: b.obs, action: a, reward: b.good(a) ? 1 : 0, terminal: true, next_obs: b.obs });
      if (step >= 64) learner.update(online);
    }
    const afterRate = successRate(learner, 999, 300);
    learner.dispose();
    assert.ok(afterRate >= 0.8 && afterRate > before + 0.5, `success ${before} -> ${afterRate}`);
    if (process.env.VLA_DEBUG) console.log({ before, afterRate });
  });

  test("with a bc_weight the actor takes the operator's decisions; without one, it does not", async () => {
    const tf = await tfWasm();
    // rewards that teach nothing (all 0): whatever the actor learns of the target comes from the takeovers
    const online = new ReplayBuffer(500, 2, 2);
    const demos = new ReplayBuffer(500, 2, 2);
    const data = new Rng(3);
    const want = (o: ArrayLike<number>) => [0.8 * o[0], -0.6 * o[1]];
    for (let i = 0; i < 500; i++) {
      const b = bandit(data);
      online.add({ obs: b.obs, action: [0, 0], reward: 0, terminal: true, next_obs: b.obs });
      demos.add({ obs: b.obs, action: want(b.obs), reward: 0, terminal: true, next_obs: b.obs });
    }
    const trained = (bc_weight: number) => {
      const learner = new SacLearner(tf, { ...SMALL, bc_weight });
      let bc = Number.NaN;
      for (let i = 0; i < 150; i++) bc = learner.update(online, undefined, demos).bc_loss;
      const rate = successRate(learner, 999, 300);
      learner.dispose();
      return { rate, bc };
    };
    const imitating = trained(5);
    const plain = trained(0);
    assert.ok(imitating.rate >= 0.8, `with imitation: ${imitating.rate}`);
    assert.ok(imitating.bc < 0.02, `imitation loss ${imitating.bc}`);
    assert.ok(plain.rate < 0.3 && Number.isNaN(plain.bc), `without: ${plain.rate}, bc_loss ${plain.bc}`);
  });

  test('a learner restored from a checkpoint on disk continues exactly as the uninterrupted one', async () => {
    const tf = await tfWasm();
    const data = new Rng(5);
    const buf = new ReplayBuffer(500, 2, 2);
    for (let i = 0; i < 500; i++) {
      const b = bandit(data);
      const a = [data.uniform(-1, 1), data.uniform(-1, 1)];
      buf.add({ obs: b.obs, action: a, reward: b.good(a) ? 1 : 0, terminal: i % 3 === 0, next_obs: b.obs });
    }
    // critics narrower than the actor (--critic-hidden): their shapes survive the checkpoint too
    const config = { ...SMALL, critics: 3, critic_hidden: [32, 32] };
    const whole = new SacLearner(tf, config);
    assert.deepEqual(whole.critics[0].params[0].shape, [4, 32], "the critics' own hidden size");
    assert.deepEqual(whole.actor.params[0].shape, [2, 64], "the actor's hidden size");
    for (let i = 0; i < 4; i++) whole.update(buf);
    const dir = join(tmp, 'ckpt-000004');
    await writeCheckpoint(dir, { learner: captureLearner(whole), buffer: buf.state() });
    for (let i = 0; i < 4; i++) whole.update(buf);

    const saved = await readCheckpoint<{ learner: LearnerState; buffer: ReplayBufferState }>(dir);
    const resumed = restoreLearner(tf, saved.learner);
    const resumedBuf = ReplayBuffer.fromState(saved.buffer);
    for (let i = 0; i < 4; i++) resumed.update(resumedBuf);
    assert.equal(resumed.updates, 8, 'the update count continues');
    assert.deepEqual(resumed.config.critic_hidden, [32, 32]);
    const [x, y] = [captureLearner(whole), captureLearner(resumed)];
    for (const key of ['actor', 'critics', 'targets'] as const)
      assert.deepEqual(x[key], y[key], `${key}: the resumed weights differ from the uninterrupted run's`);
    assert.deepEqual(x.critic_opt, y.critic_opt);
    assert.equal(x.log_alpha, y.log_alpha);
    assert.notDeepEqual(saved.learner.actor, x.actor, 'the updates after the checkpoint changed the actor');
    whole.dispose();
    resumed.dispose();
  });

  test('a damaged or missing checkpoint is named, not loaded', async () => {
    const dir = join(tmp, 'ckpt-bad');
    await writeCheckpoint(dir, { a: Float32Array.of(1, 2, 3), n: 4 });
    assert.deepEqual(await readCheckpoint(dir), { a: Float32Array.of(1, 2, 3), n: 4 });
    await writeFile(join(dir, 'arrays.bin'), Buffer.alloc(12, 1));
    await assert.rejects(readCheckpoint(dir), (e: Error) => e instanceof CheckpointError && /damaged/.test(e.message));
    await assert.rejects(readCheckpoint(join(tmp, 'nope')), /cannot read state\.json \(ENOENT\)/);
  });
});
