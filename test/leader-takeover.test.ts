// A takeover through leader arms (src/rl/robot/leader-takeover.ts): it engages only at a decision near the followers,
// commands the whole action while it holds (the gripper ramped), gives the learner the bounded part of it, lets go
// on an old reading, a follower left behind or a runtime hold, and hands back by blending.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENGAGE_RAD, GRIPPER_STEP, LeaderTakeover, RELEASE_TICKS, TRACK_RAD } from '../src/rl/robot/leader-takeover.js';
import { monotonicMs } from '../src/util/clock.js';

// one arm: two joints and a gripper (action_source: joints 0, 1; gripper -1 - 0)
const NAMES = ['waist', 'elbow', 'gripper'];
const SOURCE = Int32Array.of(0, 1, -1);
const SCALE = Float64Array.of(0.05, 0.05, 0.1);
const takeover = () => new LeaderTakeover(NAMES, SOURCE, SCALE, 50);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function state(position: number[], leader: number[], opts: { age_ms?: number; gripper?: number } = {}) {
  return {
    position_rad: Float64Array.from(position),
    gripper: Float64Array.of(opts.gripper ?? 0.5),
    teleop: { t_mono_ms: monotonicMs() - (opts.age_ms ?? 0), action: Float64Array.from(leader) },
  };
}
const round = (xs: ArrayLike<number>) => Array.from(xs, (x) => Math.round(x * 1e9) / 1e9);

test('not asked for, or asked but not yet engaged: the command is the residual’s', () => {
  const l = takeover();
  const cmd = Float64Array.of(1, 2, 0.5);
  assert.equal(l.steer(state([1, 2], [1, 2, 0]), cmd), false);
  l.want(true);
  assert.equal(l.steer(state([1, 2], [1, 2, 0]), cmd), false, 'engaging happens at a decision only');
  assert.deepEqual(Array.from(cmd), [1, 2, 0.5]);
});

test('a leader far from its follower is not taken (the person is told which joint); near, it is', () => {
  const l = takeover();
  const said: string[] = [];
  l.onEvent = (t) => said.push(t);
  l.want(true);
  const base = Float64Array.of(0, 0, 0.5);
  const u = Float64Array.of(0.3, 0.3, 0.3);
  assert.equal(l.decide(state([0, 0], [0, ENGAGE_RAD + 0.01, 0.5]), base, u), false);
  assert.equal(l.decide(state([0, 0], [0, ENGAGE_RAD + 0.01, 0.5]), base, u), false);
  assert.deepEqual(round(u), [0.3, 0.3, 0.3], 'the residual’s u stays');
  assert.equal(said.length, 1, 'said once per takeover');
  assert.match(said[0], /elbow is 9 deg away/);
  assert.equal(l.decide(state([0, 0], [0.02, -0.1, 0.45]), base, u), true);
  assert.deepEqual(round(u), [0.4, -1, -0.5], 'the person’s command as a bounded correction');
  assert.match(said[1], /leader arms have the followers/);
});

test('while it holds: joints are the leaders’, the gripper ramps to the handle; a follower left behind ends it', () => {
  const l = takeover();
  l.want(true);
  const u = new Float64Array(3);
  l.decide(state([0, 0], [0.1, -0.1, 1], { gripper: 0.2 }), new Float64Array(3), u);
  const cmd = new Float64Array(3);
  assert.equal(l.steer(state([0, 0], [0.1, -0.1, 1], { gripper: 0.2 }), cmd), true);
  assert.deepEqual(round(cmd), round([0.1, -0.1, 0.2 + GRIPPER_STEP]));
  assert.equal(l.steer(state([0.05, -0.05], [0.3, -0.1, 1], { gripper: 0.3 }), cmd), true);
  assert.deepEqual(round(cmd), round([0.3, -0.1, 0.2 + 2 * GRIPPER_STEP]));
  // the follower did not follow: a joint TRACK_RAD behind its leader
  cmd.set([9, 9, 9]);
  assert.equal(l.steer(state([0, 0], [TRACK_RAD + 0.05, -0.1, 1]), cmd), false);
  assert.ok(cmd[0] < 9 && cmd[0] > 0.3, 'handing back blends from the last leader command');
  assert.deepEqual(l.figures, { ticks: 2, engaged: 1, never_engaged: 0, ended_by_guard: 1 });
});

test('an old reading ends it; so do ticks the runtime held (no blend); both need a fresh engagement', async () => {
  const l = takeover();
  let released = 0;
  l.onRelease = () => released++;
  l.want(true);
  const u = new Float64Array(3);
  const cmd = new Float64Array(3);
  l.decide(state([0, 0], [0, 0, 0.5]), new Float64Array(3), u);
  assert.equal(l.steer(state([0, 0], [0, 0, 0.5]), cmd), true);
  assert.equal(l.steer(state([0, 0], [0, 0, 0.5], { age_ms: 61 }), cmd), false, '3 periods at 50 Hz: 60 ms');
  assert.equal(l.steer(state([0, 0], [0, 0, 0.5]), cmd), false, 'not by itself: at the next decision');
  l.decide(state([0, 0], [0, 0, 0.5]), new Float64Array(3), u);
  assert.equal(l.steer(state([0, 0], [0, 0, 0.5]), cmd), true);
  await sleep(45); // the runtime held: no tick reached the takeover
  cmd.set([7, 7, 7]);
  assert.equal(l.steer(state([0, 0], [0.1, 0, 0.5]), cmd), false);
  assert.deepEqual(Array.from(cmd), [7, 7, 7], 'after a hold: the residual’s command, no blend from before it');
  assert.equal(released, 2);
  assert.equal(l.figures.engaged, 2);
  assert.equal(l.figures.ended_by_guard, 2);
});

test('a pose posted to the leaders engages only once it reads back', () => {
  const l = takeover();
  l.want(true);
  l.expect(Float64Array.of(0.05, 0, 0.5));
  const u = new Float64Array(3);
  assert.equal(l.decide(state([0, 0], [0, 0, 0.5]), new Float64Array(3), u), false, 'still the old pose');
  assert.equal(l.decide(state([0, 0], [0.05, 0, 0.5]), new Float64Array(3), u), true);
});

test('handing back blends over RELEASE_TICKS; a takeover let go unengaged is counted', () => {
  const l = takeover();
  l.want(true);
  l.decide(state([0, 0], [0.1, 0, 0.5]), new Float64Array(3), new Float64Array(3));
  const cmd = new Float64Array(3);
  l.steer(state([0, 0], [0.1, 0, 0.5]), cmd);
  l.want(false);
  const seen: number[] = [];
  for (let i = 0; i < RELEASE_TICKS + 2; i++) {
    cmd.set([0, 0, 0.5]);
    l.steer(state([0, 0], [0.1, 0, 0.5]), cmd);
    seen.push(cmd[0]);
  }
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] <= seen[i - 1], 'toward the residual, monotonically');
  assert.ok(seen[0] > 0.09 && seen.at(-1) === 0, seen.join(' '));
  l.want(true);
  l.want(false);
  assert.equal(l.figures.never_engaged, 1);
  l.reset();
  assert.deepEqual(l.figures, { ticks: 0, engaged: 0, never_engaged: 0, ended_by_guard: 0 });
});
