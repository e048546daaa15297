// The scripted operator corrects where the arm goes, not when: a base policy that runs behind the expert's plan
// but on its path is left alone, one that strays off the path is taken over and steered back.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createExpert } from '../sim/experts/index.js';
import { SimEnv } from '../sim/sim-env.js';
import { correctionFrame } from '../src/policy/residual/correction-frame.js';
import { type OperatorSettings, ScriptedOperator } from '../src/rl/operator/scripted-operator.js';
import { loadRobot } from '../src/robot/index.js';

const env = await SimEnv.create({ robot: 'ur5e', task: 'pick-place' });
after(() => env.dispose());

const SEED = 3;
const DIM = 7;
const SCALE_RAD = (3 * Math.PI) / 180;
const frame = correctionFrame(await loadRobot('ur5e'), { scale: [...Array(6).fill(SCALE_RAD), 0.2] });
const isJoint = [true, true, true, true, true, true, false];

env.reset(SEED);
const state = env.readState(env.newState());
const task = env.taskState();

/** The expert's own plan for this seed, tick by tick from tick 1, as the operator's expert makes it. */
function expertPath(ticks: number): Float64Array {
  const expert = createExpert(env.robot, 'pick-place', env.control_hz, { noise: 0 });
  expert.reset(SEED);
  return expert.chunk({ tick: 0, position_rad: state.position_rad, gripper: state.gripper, task }, ticks, 1);
}
const PATH = expertPath(220);
const row = (tick: number) => PATH.slice((tick - 1) * DIM, tick * DIM);

function operator(settings: Partial<OperatorSettings> = {}): ScriptedOperator {
  const op = new ScriptedOperator(
    env.robot,
    'pick-place',
    env.control_hz,
    frame,
    isJoint,
    { takeover_rad: SCALE_RAD, takeover_decisions: 1, ...settings },
    () => task,
  );
  op.reset(SEED);
  return op;
}

test('a base that lags the plan by 10 ticks but stays on its path is never taken over', () => {
  const op = operator();
  let lagGap = 0;
  for (let k = 1; k <= 200; k += 5) {
    const base = row(Math.max(1, k - 10));
    for (let i = 0; i < 6; i++) lagGap = Math.max(lagGap, Math.abs(base[i] - row(k)[i]));
    const u = new Float64Array(DIM);
    assert.equal(op.decide(k, state, base, u), false, `taken over at tick ${k}`);
    assert.deepEqual([...u], Array(DIM).fill(0), 'the residual keeps its own u');
  }
  // the lag matters: the plan at the same tick is further away than the takeover threshold
  assert.ok(lagGap > 2 * SCALE_RAD, `the lag moves a joint by ${lagGap} rad`);
});

test('a base off the path is taken over and steered back toward it, within the bound', () => {
  const op = operator();
  for (let k = 1; k <= 60; k += 5) assert.equal(op.decide(k, state, row(k), new Float64Array(DIM)), false);
  const base = row(66);
  base[1] += 0.1; // the shoulder 0.1 rad off
  const u = new Float64Array(DIM);
  assert.equal(op.decide(66, state, base, u), true);
  assert.equal(u[1], -1, 'the correction pulls the shoulder back, clipped to the bound');
  for (const x of u) assert.ok(Math.abs(x) <= 1);
});

test('every decision carries the correction the operator would make, taken over or not (DAgger labels)', () => {
  const op = operator();
  for (let k = 1; k <= 60; k += 5) assert.equal(op.decide(k, state, row(k), new Float64Array(DIM)), false);
  const base = row(66);
  base[1] += 0.5 * SCALE_RAD; // inside the takeover threshold
  const u = new Float64Array(DIM);
  assert.equal(op.decide(66, state, base, u), false);
  assert.deepEqual([...u], Array(DIM).fill(0), 'the residual keeps its own u');
  // back toward the plan, not to the bound (the nearest plan point moves a little with the offset command)
  assert.ok(op.label[1] < -0.2 && op.label[1] > -0.9, `the label pulls the shoulder back: ${op.label[1]}`);
  for (const x of op.label) assert.ok(Math.abs(x) <= 1);
});

test('correction noise moves the applied correction, not the label, the same way for the same seed', () => {
  const clean = operator();
  const [a, b] = [1, 2].map(() => operator({ takeover_rad: 0, correction_noise: 0.3 }));
  const base = row(66);
  base[1] += 0.5 * SCALE_RAD;
  const [uc, ua, ub] = [new Float64Array(DIM), new Float64Array(DIM), new Float64Array(DIM)];
  clean.decide(66, state, base, uc);
  assert.equal(a.decide(66, state, base, ua), true);
  b.decide(66, state, base, ub);
  assert.deepEqual([...a.label], [...clean.label], 'the label is the clean correction');
  assert.deepEqual([...ua], [...ub], 'the same seed draws the same noise');
  const moved = ua.reduce((m, x, i) => Math.max(m, Math.abs(x - a.label[i])), 0);
  assert.ok(moved > 0.05, `the applied correction moved by ${moved}`);
  for (const x of ua) assert.ok(Math.abs(x) <= 1);
});

test('an episode the operator holds (the warm start): it takes every decision, even on the plan', () => {
  const op = operator();
  op.reset(SEED, true);
  for (let k = 1; k <= 200; k += 5) {
    const u = new Float64Array(DIM);
    assert.equal(op.decide(k, state, row(k), u), true, `left to the residual at tick ${k}`);
    assert.deepEqual([...u], [...op.label], 'u is its correction');
  }
  op.reset(SEED);
  assert.equal(op.decide(1, state, row(1), new Float64Array(DIM)), false, "the next episode is the residual's");
});
