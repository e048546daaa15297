import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ActionChunk } from '../src/policy/policy.js';
import { describeRobot } from '../src/robot/index.js';
import { ActionBuffer, type BlendMode } from '../src/runtime/action-buffer.js';
import { ActionRing } from '../src/runtime/action-ring.js';
import { ControlTicker, seamJumpRatio } from '../src/runtime/control/ticker.js';
import { chunkProblem, jointBoxProblem, SafetyFilter, safetyLimits } from '../src/runtime/safety.js';
import { LatencyEstimator } from '../src/runtime/timing/latency-estimator.js';
import { shouldInfer } from '../src/runtime/timing/trigger.js';
import { quantile } from '../src/util/sample-ring.js';

const H = 25;

/** A chunk from observation tick `obs` whose action for tick t is [t + offset, -t]. */
function chunk(obs: number, offset = 0, horizon = H): ActionChunk {
  const actions = new Float32Array(horizon * 2);
  for (let r = 0; r < horizon; r++) {
    actions[2 * r] = obs + 1 + r + offset;
    actions[2 * r + 1] = -(obs + 1 + r);
  }
  return { obs_tick: obs, first_tick: obs + 1, horizon, dim: 2, actions, infer_ms: 0 };
}

function setup(blend: BlendMode = 'replace', fixed_delay_ticks?: number) {
  const ring = ActionRing.create({ capacity: 128, dim: 2 }, false);
  return { ring, buf: new ActionBuffer(ring, { blend, fixed_delay_ticks }) };
}

const at = (ring: ActionRing, t: number) => {
  const out = new Float64Array(2);
  const r = ring.read(t, out);
  return r.found ? Array.from(out) : null;
};

test('UAC prefix drop by arrival tick: d = 0, d = H-1, d >= H', () => {
  // d = 0: the chunk arrives at the observation's own tick, nothing is dropped
  let { ring, buf } = setup();
  let r = buf.insert(chunk(10), 10);
  assert.deepEqual(r, { start_tick: 11, dropped: 0, used: H, late: false });
  assert.deepEqual(at(ring, 11), [11, -11]);
  assert.equal(buf.remaining(10), H);
  // d = H - 1: only the last action is left, for tick obs + H
  ({ ring, buf } = setup());
  r = buf.insert(chunk(10), 10 + H - 1);
  assert.deepEqual(r, { start_tick: 10 + H, dropped: H - 1, used: 1, late: false });
  assert.equal(at(ring, 10 + H - 1), null);
  assert.deepEqual(at(ring, 10 + H), [10 + H, -(10 + H)]);
  // d >= H: nothing left, discarded and counted late
  ({ ring, buf } = setup());
  r = buf.insert(chunk(10), 10 + H);
  assert.deepEqual(r, { start_tick: -1, dropped: H, used: 0, late: true });
  assert.equal(buf.stats.late_chunks, 1);
  assert.equal(buf.stats.discarded_chunks, 1);
  assert.equal(buf.remaining(10 + H), 0);
});

test('fixed delay d: the first d actions always drop; arriving after the due tick counts as late', () => {
  let { ring, buf } = setup('replace', 5);
  // arrives early (k_now = obs): still starts at obs + d + 1
  let r = buf.insert(chunk(20), 20);
  assert.equal(r.start_tick, 26);
  assert.equal(r.dropped, 5);
  assert.equal(r.late, false);
  assert.equal(at(ring, 25), null);
  // arrives 8 ticks after the observation: late, 8 dropped
  ({ ring, buf } = setup('replace', 5));
  r = buf.insert(chunk(20), 28);
  assert.equal(r.start_tick, 29);
  assert.equal(r.dropped, 8);
  assert.equal(r.late, true);
  assert.equal(buf.stats.late_chunks, 1);
  assert.equal(buf.stats.discarded_chunks, 0);
  // d = H - 1 leaves one action; d >= H leaves none
  ({ buf } = setup('replace', H - 1));
  assert.equal(buf.insert(chunk(0), 0).used, 1);
  ({ buf } = setup('replace', H));
  assert.equal(buf.insert(chunk(0), 0).used, 0);
  assert.throws(
    () =>
      new ActionBuffer(ActionRing.create({ capacity: 64, dim: 2 }, false), { blend: 'replace', fixed_delay_ticks: -1 }),
    /whole number/,
  );
});

test('blending: replace, ACT temporal ensemble, weighted average', () => {
  // two chunks overlapping on ticks 16..35; the second predicts +100 on every joint
  for (const blend of ['replace', 'ensemble', 'average'] as const) {
    const { ring, buf } = setup(blend);
    buf.insert(chunk(10), 10);
    buf.insert(chunk(15, 100), 15);
    const v = at(ring, 20)![0];
    const expected = {
      replace: 120,
      ensemble: (1 * 20 + Math.exp(-0.01) * 120) / (1 + Math.exp(-0.01)),
      average: 0.3 * 20 + 0.7 * 120,
    }[blend];
    assert.ok(Math.abs(v - expected) < 1e-9, `${blend}: ${v} vs ${expected}`);
    // beyond the old chunk's horizon only the new one speaks
    assert.ok(Math.abs(at(ring, 38)![0] - 138) < 1e-9, blend);
  }
  // a third ensemble prediction weighs exp(-2m)
  const { ring, buf } = setup('ensemble');
  buf.insert(chunk(10), 10);
  buf.insert(chunk(12, 100), 12);
  buf.insert(chunk(14, 200), 14);
  const w = [1, Math.exp(-0.01), Math.exp(-0.02)];
  const exp = (w[0] * 20 + w[1] * 120 + w[2] * 220) / (w[0] + w[1] + w[2]);
  assert.ok(Math.abs(at(ring, 20)![0] - exp) < 1e-9);
});

test('committed prefix: the contiguous run of actions already in the buffer', () => {
  const { buf } = setup();
  buf.insert(chunk(0), 0); // ticks 1..25
  const c = buf.committed(20, 8);
  assert.equal(c.count, 5); // ticks 21..25 only
  assert.deepEqual(Array.from(c.actions.subarray(0, 10)), [21, -21, 22, -22, 23, -23, 24, -24, 25, -25]);
});

test('the trigger fires when the actions left cover no more than the expected delay plus margin', () => {
  assert.equal(shouldInfer(20, 15, 2), false);
  assert.equal(shouldInfer(17, 15, 2), true);
  assert.equal(shouldInfer(0, 0, 0), true);
});

test('latency estimate: warm-up excluded, a high quantile, a single spike does not stick', () => {
  const est = new LatencyEstimator({ prior_ms: 100 });
  assert.equal(est.estimate_ms(), 100);
  est.record(700); // cold start
  assert.equal(est.estimate_ms(), 700); // nothing else yet
  for (let i = 0; i < 20; i++) est.record(200 + (i % 5));
  assert.ok(est.estimate_ms() < 210, `warm-up leaked: ${est.estimate_ms()}`);
  est.record(900); // one spike
  assert.ok(est.estimate_ms() < 210, `one spike moved the estimate to ${est.estimate_ms()}`);
  assert.equal(est.estimateTicks(20), 11);
  // a sustained slowdown does move it
  for (let i = 0; i < 10; i++) est.record(400);
  assert.ok(est.estimate_ms() >= 399);
  assert.equal(est.summary().calls, 32);
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
});

const ROBOT = describeRobot(
  {
    robot: 'test',
    control_hz: 50,
    grippers: ['g'],
    action: ['a', 'b', 'g'],
    home_rad: [0, 0],
    home_gripper: [1],
    cameras: [],
    joints: [
      { name: 'a', min_rad: -1, max_rad: 1, max_velocity_rad_s: 5 },
      { name: 'b', min_rad: -2, max_rad: 2, max_velocity_rad_s: 1 },
    ],
  },
  'test',
);

test('safety: position limits, per-tick steps from velocity limits, gripper range, NaN chunks', () => {
  const f = new SafetyFilter(safetyLimits(ROBOT));
  const last = Float64Array.from([0.95, 0, 0.5]);
  const out = new Float64Array(3);
  // a: above its limit -> 1; b: 1 rad away but 1 rad/s x 20 ms allows 0.02; gripper 1.5 -> 1
  assert.equal(f.limit(Float64Array.from([3, 1, 1.5]), last, out), true);
  assert.deepEqual(
    Array.from(out).map((x) => +x.toFixed(9)),
    [1, 0.02, 1],
  );
  assert.equal(f.clamped_actions, 1);
  // within every limit: unchanged
  assert.equal(f.limit(Float64Array.from([0.9, 0.01, 0]), last, out), false);
  // a tighter configured step wins over the velocity limit
  const g = new SafetyFilter(safetyLimits(ROBOT, { max_step_rad: 0.01 }));
  g.limit(Float64Array.from([0, 0.5, 0]), Float64Array.from([0, 0, 0]), out);
  assert.ok(Math.abs(out[1] - 0.01) < 1e-12);
  // NaN anywhere rejects the whole chunk
  const bad = {
    obs_tick: 0,
    first_tick: 1,
    horizon: 2,
    dim: 3,
    actions: Float32Array.from([0, 0, 0, 0, NaN, 0]),
    infer_ms: 0,
  };
  assert.match(f.screen(bad)!, /action 1 value 1 is NaN/);
  assert.equal(f.rejected_chunks, 1);
  assert.match(chunkProblem({ ...bad, dim: 2 }, 3)!, /2 values per action/);
});

test('safety: a command with NaN or Infinity anywhere is not sent; the previous command is kept', () => {
  const f = new SafetyFilter(safetyLimits(ROBOT));
  const last = Float64Array.from([0.5, 0.1, 1]);
  const out = new Float64Array(3);
  // without the check NaN passes every comparison-based clamp; Infinity in a gripper would clamp to 1
  for (const bad of [
    [0.5, Number.NaN, 1],
    [0.5, 0.1, Number.POSITIVE_INFINITY],
    [Number.NEGATIVE_INFINITY, 0.1, 1],
  ]) {
    assert.equal(f.limit(Float64Array.from(bad), last, out), true);
    assert.deepEqual(Array.from(out), Array.from(last));
  }
  assert.equal(f.nonfinite_commands, 3);
  // in place, as the control tick calls it: last stays what it was
  const target = Float64Array.from([0.51, Number.NaN, 1]);
  f.limit(target, last, last);
  assert.deepEqual(Array.from(last), [0.5, 0.1, 1]);
  assert.equal(f.nonfinite_commands, 4);
});

test('control ticker: a residual that returns NaN cannot move the robot (the command is held)', () => {
  const ring = ActionRing.create({ capacity: 64, dim: 3 }, false);
  const buf = new ActionBuffer(ring, { blend: 'replace' });
  const ticker = new ControlTicker(ring, new SafetyFilter(safetyLimits(ROBOT)));
  ticker.reset([0, 0, 1]);
  let broken = false;
  ticker.attachResidual(
    {
      correct: (_k, _state, action) => {
        if (broken) action[0] = Number.NaN;
      },
      reset: () => undefined,
      resume: () => undefined,
      figures: () => ({ name: 'nan', frame: 'joint', evaluations: 0, mean_abs_fraction: [], at_bound_fraction: [] }),
    },
    {
      t_mono_ms: 0,
      position_rad: new Float64Array(2),
      velocity_rad_s: new Float64Array(2),
      gripper: Float64Array.of(1),
    },
  );
  const actions = new Float32Array(10 * 3);
  for (let r = 0; r < 10; r++) actions.set([0.001 * (r + 1), 0, 1], 3 * r);
  buf.insert({ obs_tick: 0, first_tick: 1, horizon: 10, dim: 3, actions, infer_ms: 0 }, 0);
  assert.ok(Math.abs(ticker.next(1)![0] - 0.001) < 1e-6);
  broken = true;
  const held = Array.from(ticker.last);
  assert.deepEqual(Array.from(ticker.next(2)!), held);
  assert.ok(ticker.next(3)!.every(Number.isFinite));
});

test('control ticker: the action for exactly this tick, or hold the last command; seams', () => {
  const ring = ActionRing.create({ capacity: 64, dim: 3 }, false);
  const buf = new ActionBuffer(ring, { blend: 'replace' });
  const ticker = new ControlTicker(ring, new SafetyFilter(safetyLimits(ROBOT)));
  ticker.reset([0, 0, 1]);
  // nothing buffered: an underrun holds the start pose
  assert.deepEqual(Array.from(ticker.next(0)!), [0, 0, 1]);
  assert.equal(ticker.counters.startup_ticks, 1);
  assert.equal(ticker.counters.underruns, 0);
  const mk = (obs: number, base: number): ActionChunk => {
    const a = new Float32Array(10 * 3);
    for (let r = 0; r < 10; r++) {
      a[3 * r] = base + 0.001 * r;
      a[3 * r + 1] = 0;
      a[3 * r + 2] = 1;
    }
    return { obs_tick: obs, first_tick: obs + 1, horizon: 10, dim: 3, actions: a, infer_ms: 0 };
  };
  buf.insert(mk(0, 0), 0);
  for (let k = 1; k <= 5; k++) assert.ok(Math.abs(ticker.next(k)![0] - 0.001 * (k - 1)) < 1e-6);
  buf.insert(mk(3, 0.01), 5); // a seam at tick 6
  for (let k = 6; k <= 8; k++) ticker.next(k);
  assert.equal(ticker.counters.seams, 1);
  assert.ok(seamJumpRatio(ticker.counters) > 1);
  assert.equal(ring.executedTick(), 8);
  // a slot stamped for another tick is never executed: an underrun holds the last command instead
  ring.write(9 + 64, Float64Array.from([0.5, 0, 1]), 0, 99, 1, false);
  const last = Array.from(ticker.last);
  assert.deepEqual(Array.from(ticker.next(9)!), last);
  assert.equal(ticker.source, 'underrun');
});

test(
  'control ticker after a fault: joints restart from the measured ' +
    'pose on a fresh chunk; grippers keep their command',
  () => {
    const ring = ActionRing.create({ capacity: 64, dim: 3 }, false);
    const buf = new ActionBuffer(ring, { blend: 'replace' });
    const ticker = new ControlTicker(ring, new SafetyFilter(safetyLimits(ROBOT)));
    ticker.reset([0, 0, 1]);
    const mk = (obs: number, a: number, g: number): ActionChunk => {
      const actions = new Float32Array(10 * 3);
      for (let r = 0; r < 10; r++) {
        actions[3 * r] = a;
        actions[3 * r + 1] = 0;
        actions[3 * r + 2] = g;
      }
      return { obs_tick: obs, first_tick: obs + 1, horizon: 10, dim: 3, actions, infer_ms: 0 };
    };
    buf.insert(mk(0, 0.05, 0), 0); // close the gripper on an object
    for (let k = 1; k <= 3; k++) ticker.next(k);
    assert.deepEqual(
      Array.from(ticker.last).map((x) => +x.toFixed(6)),
      [0.05, 0, 0],
    );
    assert.equal(ticker.holdForFault(4), null);
    // the object keeps the fingers part-open (0.4) and joint a sagged to 0.04 during the hold
    ticker.resumeAfterFault([0.04, 0, 0.4]);
    // the chunk planned before the fault is refused; the gripper still squeezes
    assert.deepEqual(
      Array.from(ticker.next(5)!).map((x) => +x.toFixed(6)),
      [0.04, 0, 0],
    );
    assert.equal(ticker.source, 'startup');
    assert.equal(ticker.counters.underruns, 0, 'waiting for the first chunk after a fault is not an underrun');
    buf.insert(mk(5, 0.045, 0), 5);
    assert.deepEqual(
      Array.from(ticker.next(6)!).map((x) => +x.toFixed(6)),
      [0.045, 0, 0],
    );
    assert.equal(ticker.source, 'buffer');
    assert.equal(ticker.counters.fault_hold_ticks, 1);
  },
);

test('safety: a workspace box in joint space tightens the limits, never loosens them; bad boxes are named', () => {
  const f = new SafetyFilter(safetyLimits(ROBOT, { workspace_box: { joints: { a: [-0.5, 0.25], b: [-5, 5] } } }));
  const out = new Float64Array(3);
  // a: clamped to the box's 0.25 (its limit is 1); b: the box is wider than the limits, so the limit (2) holds
  f.limit(Float64Array.from([0.9, 2.5, 0.5]), Float64Array.from([0.25, 2, 0.5]), out);
  assert.deepEqual(Array.from(out), [0.25, 2, 0.5]);
  f.limit(Float64Array.from([-0.9, 0, 0.5]), Float64Array.from([-0.5, 0, 0.5]), out);
  assert.equal(out[0], -0.5);
  // a start outside the box is pulled in at no more than one step per tick: no jump
  f.limit(Float64Array.from([0.9, 0, 0.5]), Float64Array.from([0.9, 0, 0.5]), out);
  assert.ok(Math.abs(out[0] - (0.9 - 5 / 50)) < 1e-12, `${out[0]}`);
  assert.equal(jointBoxProblem(ROBOT, { a: [-0.5, 0.5] }), null);
  assert.match(jointBoxProblem(ROBOT, { c: [0, 1] })!, /no joint 'c'/);
  assert.match(jointBoxProblem(ROBOT, { a: [0.5, 0.5] })!, /is empty/);
  assert.match(jointBoxProblem(ROBOT, { a: [1.5, 2] })!, /outside its limits/);
  assert.match(jointBoxProblem(ROBOT, { a: [0.1, 0.5] })!, /home pose/);
});
