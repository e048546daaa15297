// A takeover through leader arms (src/rl/robot/leader-takeover.ts): it engages only near the followers, commands the
// whole action while it holds, gives the learner the bounded part of it, and lets go of an old reading.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENGAGE_RAD, LeaderTakeover } from '../src/rl/robot/leader-takeover.js';
import { monotonicMs } from '../src/util/clock.js';

// one arm: two joints and a gripper (action_source: joints 0, 1; gripper -1)
const JOINT_OF = Int32Array.of(0, 1, -1);
const SCALE = Float64Array.of(0.05, 0.05, 0.1);

function state(position: number[], leader: number[], age_ms = 0) {
  return {
    position_rad: Float64Array.from(position),
    gripper: Float64Array.of(0.5),
    teleop: { t_mono_ms: monotonicMs() - age_ms, action: Float64Array.from(leader) },
  };
}

test('not asked for: the command is the residual’s', () => {
  const l = new LeaderTakeover(JOINT_OF, SCALE, 50);
  const cmd = Float64Array.of(1, 2, 0.5);
  assert.equal(l.steer(state([1, 2], [1, 2, 0]), cmd), false);
  assert.deepEqual(Array.from(cmd), [1, 2, 0.5]);
});

test('a leader far from its follower does not take it; brought near, it does in that very tick', () => {
  const l = new LeaderTakeover(JOINT_OF, SCALE, 50);
  l.want(true);
  const cmd = Float64Array.of(0, 0, 0.5);
  assert.equal(l.steer(state([0, 0], [0, ENGAGE_RAD + 0.01, 0.2]), cmd), false, 'joint 1 too far');
  assert.deepEqual(Array.from(cmd), [0, 0, 0.5]);
  // the gripper handle is not checked: a person opens and closes it at will
  assert.equal(l.steer(state([0, 0], [0.1, -0.1, 1]), cmd), true);
  assert.deepEqual(Array.from(cmd), [0.1, -0.1, 1], 'the whole command is the leaders’ pose');
  // once engaged it follows the leader wherever it goes (the safety filter bounds each step)
  assert.equal(l.steer(state([0.1, -0.1], [0.6, -0.1, 1]), cmd), true);
  assert.equal(cmd[0], 0.6);
  assert.deepEqual(l.figures, { ticks: 2, engaged: 1, too_far: 0, stale: 0 });
});

test('at a decision the learner gets the bounded part of the person’s command', () => {
  const l = new LeaderTakeover(JOINT_OF, SCALE, 50);
  l.want(true);
  const base = Float64Array.of(0, 0, 0.5);
  const u = Float64Array.of(0.3, 0.3, 0.3);
  assert.equal(l.decide(state([0, 0], [0.02, -0.1, 0.45]), base, u), true, 'engages at the decision too');
  assert.deepEqual(
    Array.from(u, (x) => Math.round(x * 1e9) / 1e9),
    [0.4, -1, -0.5],
  );
  l.want(false);
  assert.equal(l.decide(state([0, 0], [0.02, -0.1, 0.45]), base, u), false, 'handed back');
});

test('an old leader reading ends the takeover at once; a takeover never engaged counts as too far', () => {
  const l = new LeaderTakeover(JOINT_OF, SCALE, 50);
  l.want(true);
  const cmd = new Float64Array(3);
  assert.equal(l.steer(state([0, 0], [0, 0, 0]), cmd), true);
  assert.equal(l.steer(state([0, 0], [0, 0, 0], 61), cmd), false, '3 periods at 50 Hz: 60 ms');
  assert.equal(l.figures.stale, 1);
  l.want(false);
  l.want(true);
  l.steer(state([0, 0], [1, 1, 0]), cmd);
  l.want(false);
  assert.equal(l.figures.too_far, 1);
  l.reset();
  assert.deepEqual(l.figures, { ticks: 0, engaged: 0, too_far: 0, stale: 0 });
});
