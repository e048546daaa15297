// Fine-tuning episodes on the runtime's own loop: the same seed and actor weights give the same episode, in the
// same engine or a fresh one (what exact resume rests on); a residual that pushes hard changes the base's motion;
// episodes become transitions with the sparse reward on the last decision; a scripted operator takes a straying
// residual over in training episodes (never in evaluations) and its decisions are listed.
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { residualManifestFor } from '../src/policy/residual/residual-draft.js';
import { ActorUnit, actorLayers } from '../src/rl/actor-net.js';
import type { OperatorSettings } from '../src/rl/operator/scripted-operator.js';
import { ReplayBuffer } from '../src/rl/replay-buffer.js';
import { type RolloutEpisode, SimRollouts } from '../src/rl/sim-rollouts.js';
import { addEpisode } from '../src/rl/transitions.js';
import { loadRobot } from '../src/robot/index.js';
import { Rng } from '../src/util/rng.js';

const BASE = join(resolve(import.meta.dirname, '../..'), 'models/ur5e-pick-place.onnx');
const desc = await loadRobot('ur5e');
const manifest = await residualManifestFor(desc, {
  name: 't',
  base_path: BASE,
  base_horizon: 25,
  hidden: [16],
  every_ticks: 5,
});

function actorValues(seed: number, scale: number): Float32Array[] {
  const rng = new Rng(seed);
  const sizes = [15, 16, 14];
  return sizes
    .slice(1)
    .flatMap((n, i) => [Float32Array.from({ length: sizes[i] * n }, () => rng.normal() * scale), new Float32Array(n)]);
}

async function rollouts(values: Float32Array[], operator?: OperatorSettings): Promise<SimRollouts> {
  const actor = new ActorUnit(actorLayers(values, [15, 16, 14]), 7);
  const ro = await SimRollouts.create({
    description: desc,
    task: 'pick-place',
    base_path: BASE,
    manifest,
    actor,
    latency_model: { kind: 'fixed', ms: 40 },
    seed: 0,
    ...(operator ? { operator } : {}),
  });
  opened.push(ro);
  return ro;
}
const opened: SimRollouts[] = [];
after(async () => {
  for (const ro of opened) await ro.close();
});

describe('sim rollouts', () => {
  test('an episode depends only on its seed and the actor: again in the same engine, and in a fresh one', async () => {
    const values = actorValues(1, 0.1);
    const a = await rollouts(values);
    const first = await a.episode(3, new Rng(7));
    await a.episode(4, new Rng(8)); // another episode between: must leave nothing behind
    const again = await a.episode(3, new Rng(7));
    const fresh = await (await rollouts(values)).episode(3, new Rng(7));
    for (const ep of [again, fresh]) {
      assert.equal(ep.ticks, first.ticks);
      assert.equal(ep.success, first.success);
      assert.deepEqual(ep.u, first.u);
      assert.deepEqual(ep.inputs, first.inputs);
    }
    assert.ok(first.steps >= Math.floor(first.ticks / 5) - 2, `${first.steps} decisions in ${first.ticks} ticks`);
  });

  test('a residual pushing at its bound moves the arm differently from a quiet one', async () => {
    const quiet = await (await rollouts(actorValues(2, 0))).episode(5, undefined);
    const loud = await (await rollouts(actorValues(2, 3))).episode(5, undefined);
    assert.ok(Math.max(...quiet.mean_abs_u) === 0, 'zero weights: u = tanh(0) = 0');
    assert.ok(Math.min(...loud.mean_abs_u) > 0.5, `|u| ${loud.mean_abs_u}`);
    assert.notDeepEqual(loud.inputs.subarray(15 * 10, 15 * 11), quiet.inputs.subarray(15 * 10, 15 * 11));
  });
});

describe('the scripted operator', () => {
  test('it takes a straying residual over in training episodes only, and its decisions are listed', async () => {
    const loud = actorValues(2, 3);
    const ro = await rollouts(loud, { takeover_rad: 0.05, takeover_decisions: 4 });
    const evaluation = await ro.episode(5, undefined);
    assert.deepEqual(evaluation.interventions, [], 'an evaluation measures the residual alone');
    const alone = await (await rollouts(loud)).episode(5, undefined);
    assert.deepEqual(evaluation.u, alone.u, 'the same episode as without an operator');
    const trained = await ro.episode(5, new Rng(3));
    const held = trained.interventions;
    assert.ok(held.length >= 4, `${held.length} of ${trained.steps} decisions taken over`);
    for (let j = 0; j < held.length; j++) assert.ok(held[j] < trained.steps && (j === 0 || held[j] > held[j - 1]));
    // a takeover lasts its decisions: the first one is followed by at least 3 more in a row
    assert.deepEqual(held.slice(0, 4), [held[0], held[0] + 1, held[0] + 2, held[0] + 3]);
    // the operator's u steers toward the expert's plan: it is not the loud actor's, which sits at its bound
    const A = 7;
    const at = held[held.length - 1];
    const u = Array.from(trained.u.subarray(at * A, (at + 1) * A));
    assert.ok(u.every((x) => Math.abs(x) <= 1));
    assert.ok(
      u.some((x) => Math.abs(x) < 0.9),
      `the operator's u ${u}`,
    );
  });

  test('labelling every decision: one label per decision, the takeovers labelled with what they did', async () => {
    // a residual that corrects nothing: the base strays past the threshold now and then, not all the time
    const ro = await rollouts(actorValues(2, 0), { takeover_rad: 0.05, takeover_decisions: 4, label_all: true });
    assert.equal((await ro.episode(5, undefined)).labels, undefined, 'no operator in an evaluation, no labels');
    const ep = await ro.episode(5, new Rng(3));
    const A = 7;
    assert.equal(ep.labels?.length, ep.steps * A);
    const labels = ep.labels!;
    for (const x of labels) assert.ok(Math.abs(x) <= 1);
    for (const i of ep.interventions)
      assert.deepEqual(labels.subarray(i * A, (i + 1) * A), ep.u.subarray(i * A, (i + 1) * A));
    const free = Array.from({ length: ep.steps }, (_, i) => i).filter((i) => !ep.interventions.includes(i));
    assert.ok(free.length > 0, 'some decisions were the residual’s own');
    // where the residual kept the arm, its u (0) is not what the operator would have done
    const differs = free.some((i) => labels.subarray(i * A, (i + 1) * A).some((x, j) => x !== ep.u[i * A + j]));
    assert.ok(differs, "the labels are the operator's, not the residual's u");
  });

  test('taken over where it strays, a residual that ruins the task still succeeds', async () => {
    const ruin = actorValues(2, 3);
    const seeds = [5, 6, 7, 8];
    let alone = 0;
    let operated = 0;
    const plain = await rollouts(ruin);
    const watched = await rollouts(ruin, { takeover_rad: 0.05, takeover_decisions: 4 });
    for (const seed of seeds) {
      if ((await plain.episode(seed, new Rng(seed))).success) alone++;
      if ((await watched.episode(seed, new Rng(seed))).success) operated++;
    }
    assert.ok(operated > alone && operated >= seeds.length - 1, `alone ${alone}, operated ${operated} of 4`);
  });
});

describe('the base model’s features reach the residual', () => {
  test('each decision sees the keypoints of the chunk its action came from', async () => {
    const m = await residualManifestFor(desc, {
      name: 'f',
      base_path: BASE,
      base_horizon: 25,
      hidden: [16],
      every_ticks: 5,
      base_features: 128,
    });
    const rng = new Rng(4);
    const sizes = [143, 16, 14];
    const values = sizes
      .slice(1)
      .flatMap((n, i) => [Float32Array.from({ length: sizes[i] * n }, () => rng.normal() * 0.01), new Float32Array(n)]);
    const ro = await SimRollouts.create({
      description: desc,
      task: 'pick-place',
      base_path: BASE,
      manifest: m,
      actor: new ActorUnit(actorLayers(values, sizes), 7),
      latency_model: { kind: 'fixed', ms: 40 },
      seed: 0,
    });
    opened.push(ro);
    const ep = await ro.episode(2, undefined);
    const rows = Array.from({ length: ep.steps }, (_, i) => ep.inputs.slice(i * 143 + 15, (i + 1) * 143));
    assert.ok(
      rows.every((r) => r.some((v) => v !== 0)),
      'every decision has features',
    );
    assert.ok(
      rows.every((r) => r.every((v) => Math.abs(v) <= 1)),
      'keypoints lie in [-1, 1]',
    );
    const distinct = new Set(rows.map((r) => r.join()));
    assert.ok(distinct.size > 5, `features change as new chunks land (${distinct.size} distinct)`);
  });
});

describe('transitions', () => {
  const ep = (success: boolean, truncated: boolean): RolloutEpisode => ({
    seed: 0,
    success,
    truncated,
    ticks: 9,
    steps: 3,
    inputs: Float32Array.of(0, 1, 2),
    u: Float32Array.of(10, 11, 12),
    mean_abs_u: [11],
    interventions: [],
  });

  test('success: reward 1 on the last decision, which is terminal; next_obs is the following decision', () => {
    const buf = new ReplayBuffer(10, 1, 1);
    assert.equal(addEpisode(buf, ep(true, false), 1, 1), 3);
    const s = buf.state();
    assert.deepEqual([...s.reward.slice(0, 3)], [0, 0, 1]);
    assert.deepEqual([...s.terminal.slice(0, 3)], [0, 0, 1]);
    assert.deepEqual([...s.next_obs.slice(0, 2)], [1, 2]);
    assert.deepEqual([...s.action.slice(0, 3)], [10, 11, 12]);
  });

  test('`only` keeps those decisions as they are in the episode (the operator’s, for the offline buffer)', () => {
    const buf = new ReplayBuffer(10, 1, 1);
    assert.equal(addEpisode(buf, ep(true, false), 1, 1, new Set([0, 2])), 2);
    const s = buf.state();
    assert.deepEqual([...s.obs.slice(0, 2)], [0, 2]);
    assert.deepEqual([...s.next_obs.slice(0, 2)], [1, 2]);
    assert.deepEqual([...s.reward.slice(0, 2)], [0, 1]);
    assert.deepEqual([...s.terminal.slice(0, 2)], [0, 1]);
    assert.equal(addEpisode(buf, ep(false, true), 1, 1, new Set([2])), 0, 'a cut episode’s last decision stays out');
  });

  test('a time-limit cut is not terminal and its last decision, with no successor, is left out', () => {
    const buf = new ReplayBuffer(10, 1, 1);
    assert.equal(addEpisode(buf, ep(false, true), 1, 1), 2);
    assert.deepEqual([...buf.state().terminal.slice(0, 2)], [0, 0]);
    assert.deepEqual([...buf.state().reward.slice(0, 2)], [0, 0]);
  });
});
