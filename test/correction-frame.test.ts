// The tool frame: a unit correction asks the flange for a motion in the robot's base frame, and the joint change
// it maps to gives that motion (first order, checked on the profile's own kinematics); the operator's label of a
// joint target is the motion that target asks for; a robot without kinematics is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { correctionFrame, correctionNames, toolFrameProblem } from '../src/policy/residual/correction-frame.js';
import { DhChain, loadRobot } from '../src/robot/index.js';
import { Rng } from '../src/util/rng.js';

const ur5e = await loadRobot('ur5e');
const chain = new DhChain(ur5e.dh!);
// 2 cm, 2 cm, 1 cm; 2, 2, 6 degrees; the gripper a fifth of its range
const DEG = Math.PI / 180;
const scale = [0.02, 0.02, 0.01, 2 * DEG, 2 * DEG, 6 * DEG, 0.2];
const tool = correctionFrame(ur5e, { scale, frame: 'tool' });

/** A pose a UR reaches at work (elbow bent, wrist down), away from its singularities. */
function workPose(rng: Rng): Float64Array {
  const q = [...ur5e.home_rad].map((x) => x + (rng.next() - 0.5) * 0.6);
  return Float64Array.from([...q, 0.5]);
}

function flangeMotion(from: Float64Array, to: Float64Array) {
  const p0 = new Float64Array(3);
  const r0 = new Float64Array(9);
  const p1 = new Float64Array(3);
  const r1 = new Float64Array(9);
  chain.pose(from, p0, r0);
  chain.pose(to, p1, r1);
  // small rotation: w ~ vee(R1 R0^T - I)
  const R = (r: number, c: number) =>
    r1[r * 3] * r0[c * 3] + r1[r * 3 + 1] * r0[c * 3 + 1] + r1[r * 3 + 2] * r0[c * 3 + 2];
  return {
    dp: [p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]],
    w: [(R(2, 1) - R(1, 2)) / 2, (R(0, 2) - R(2, 0)) / 2, (R(1, 0) - R(0, 1)) / 2],
  };
}

test('a unit correction in the tool frame moves the flange by that much along the base frame', () => {
  const rng = new Rng(3);
  const out = new Float64Array(7);
  for (let trial = 0; trial < 50; trial++) {
    const base = workPose(rng);
    const u = Float64Array.from({ length: 7 }, () => rng.next() * 2 - 1);
    tool.delta(base, u, out);
    const moved = Float64Array.from(base, (x, i) => x + out[i]);
    const { dp, w } = flangeMotion(base, moved);
    // a few percent of the motion: the map is the kinematics' first order
    for (let d = 0; d < 3; d++)
      assert.ok(Math.abs(dp[d] - scale[d] * u[d]) < 1.5e-3, `x${d}: ${dp[d]} vs ${scale[d] * u[d]}`);
    for (let d = 0; d < 3; d++) {
      const want = scale[3 + d] * u[3 + d];
      assert.ok(Math.abs(w[d] - want) < 0.3 * DEG, `r${d}: ${w[d] / DEG} vs ${want / DEG} deg`);
    }
    assert.equal(out[6], 0.2 * u[6], 'the gripper as in the joint frame');
  }
});

test("the operator's label of a joint target is the flange motion it asks for, clipped to the bound", () => {
  const rng = new Rng(5);
  const u = new Float64Array(7);
  const back = new Float64Array(7);
  for (let trial = 0; trial < 50; trial++) {
    const base = workPose(rng);
    const asked = Float64Array.from({ length: 7 }, () => (rng.next() * 2 - 1) * 0.8);
    tool.delta(base, asked, back);
    const want = Float64Array.from(base, (x, i) => x + back[i]);
    tool.unitToward(base, want, u);
    for (let i = 0; i < 7; i++) assert.ok(Math.abs(u[i] - asked[i]) < 0.08, `dim ${i}: ${u[i]} vs ${asked[i]}`);
  }
  // a target 10 cm up is clipped to the 1 cm bound on z and asks for little else
  const base = workPose(rng);
  const far = new Float64Array(7);
  tool.delta(base, Float64Array.from([0, 0, 10, 0, 0, 0, 0]), far);
  tool.unitToward(
    base,
    Float64Array.from(base, (x, i) => x + far[i]),
    u,
  );
  assert.equal(u[2], 1);
});

test('the joint frame is scale x u, as before; the tool frame is refused without kinematics', async () => {
  const joint = correctionFrame(ur5e, { scale });
  const out = new Float64Array(7);
  const u = Float64Array.from([1, -1, 0.5, 0, 0.25, -0.5, 1]);
  joint.delta(new Float64Array(7), u, out);
  assert.deepEqual(
    Array.from(out),
    scale.map((s, i) => s * u[i]),
  );
  assert.equal(correctionNames(ur5e, 'joint'), ur5e.action_names);
  assert.deepEqual(correctionNames(ur5e, 'tool'), [
    'tool_x_m',
    'tool_y_m',
    'tool_z_m',
    'tool_rx_rad',
    'tool_ry_rad',
    'tool_rz_rad',
    'gripper',
  ]);
  const aloha = await loadRobot('aloha');
  assert.match(toolFrameProblem(aloha) ?? '', /no kinematics/);
  assert.throws(() => correctionFrame(aloha, { scale: [], frame: 'tool' }), /no kinematics/);
});

test('near a singularity the joint change stays within its cap', () => {
  // wrist 2 at zero lines up the wrist axes: a rotation about them needs an unbounded joint speed
  const q = Float64Array.from([0, -Math.PI / 2, Math.PI / 2, 0, 0, 0, 0.5]);
  const out = new Float64Array(7);
  const capped = correctionFrame(ur5e, { scale, frame: 'tool', max_joint_rad: 5 * DEG });
  capped.delta(q, Float64Array.from([0, 0, 0, 1, 1, 1, 0]), out);
  for (let j = 0; j < 6; j++)
    assert.ok(Number.isFinite(out[j]) && Math.abs(out[j]) <= 5 * DEG + 1e-12, `joint ${j}: ${out[j]}`);
});
