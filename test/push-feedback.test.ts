// The push expert as state feedback: its command depends on the state alone (no plan, no clock), it solves the
// task by itself in the sim, and the scripted operator built on it labels the same state the same way whatever
// came before.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createFeedbackExpert } from '../sim/experts/index.js';
import { SimEnv } from '../sim/sim-env.js';
import { correctionFrame } from '../src/policy/residual/correction-frame.js';
import { ScriptedOperator } from '../src/rl/operator/scripted-operator.js';
import { loadRobot } from '../src/robot/index.js';

const env = await SimEnv.create({ robot: 'ur5e', task: 'push' });
after(() => env.dispose());

const DIM = 7;
const SCALE_RAD = (6 * Math.PI) / 180;
const frame = correctionFrame(await loadRobot('ur5e'), { scale: [...Array(6).fill(SCALE_RAD), 0.2] });
const isJoint = [true, true, true, true, true, true, false];

function observe(tick: number) {
  const s = env.readState(env.newState());
  return { tick, position_rad: s.position_rad, gripper: s.gripper, task: env.taskState() };
}

test('the feedback expert alone pushes the cube onto the target', () => {
  const expert = createFeedbackExpert(env.robot, 'push');
  const wins: number[] = [];
  for (let seed = 0; seed < 4; seed++) {
    env.reset(seed);
    while (!env.done) {
      env.applyAction(expert.action(observe(env.tick)));
      env.step();
    }
    if (env.success) wins.push(seed);
  }
  assert.deepEqual(wins, [0, 1, 2, 3]);
});

test('the same state gives the same command, whatever was asked before', () => {
  const expert = createFeedbackExpert(env.robot, 'push');
  env.reset(5);
  const first = observe(0);
  const a = Float64Array.from(expert.action(first));
  for (let t = 0; t < 30; t++) {
    env.applyAction(expert.action(observe(env.tick)));
    env.step();
  }
  const later = Float64Array.from(expert.action(observe(env.tick)));
  assert.notDeepEqual(Array.from(later), Array.from(a), 'the arm moved: another state, another command');
  assert.deepEqual(Array.from(expert.action(first)), Array.from(a));
});

test('the operator with the feedback expert labels a state the same way after different histories', () => {
  const op = () => {
    const o = new ScriptedOperator(
      env.robot,
      'push',
      env.control_hz,
      frame,
      isJoint,
      { takeover_rad: 100, takeover_decisions: 1, expert: 'feedback' },
      () => env.taskState(),
    );
    o.reset(7);
    return o;
  };
  env.reset(7);
  const s = env.readState(env.newState());
  const base = Float64Array.from([...s.position_rad, 1]);
  base[1] -= 0.2; // the shoulder lifted off the way
  const fresh = op();
  fresh.decide(40, s, base, new Float64Array(DIM));
  const used = op();
  for (let k = 1; k < 40; k += 5) used.decide(k, s, Float64Array.from([...s.position_rad, 0.3]), new Float64Array(DIM));
  used.decide(40, s, base, new Float64Array(DIM));
  assert.deepEqual(Array.from(used.label), Array.from(fresh.label));
  assert.equal(fresh.label[1], 1, 'the shoulder is pulled back toward the way, clipped to the bound');
});
