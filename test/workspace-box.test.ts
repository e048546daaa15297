// The Cartesian workspace box: the flange's position from the profile's DH parameters agrees with the sim's own
// kinematics (built from the same published table along another path), and the safety filter holds a command that
// would take the flange out of the box, or further out, while one that brings it back passes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArmKinematics } from '../sim/kinematics.js';
import { urArm } from '../sim/robots/ur.js';
import { DhChain, loadRobot } from '../src/robot/index.js';
import { type FlangeBox, flangeBoxProblem, SafetyFilter, safetyLimits } from '../src/runtime/safety.js';
import { Rng } from '../src/util/rng.js';

for (const robot of ['ur5', 'ur5e'] as const) {
  test(`${robot}: the flange from the profile's DH table is where the sim's kinematics put it`, async () => {
    const desc = await loadRobot(robot);
    assert.ok(desc.dh, 'the profile has kinematics');
    const chain = new DhChain(desc.dh);
    const sim = new ArmKinematics(urArm(robot));
    const rng = new Rng(7);
    const out = new Float64Array(3);
    for (let i = 0; i < 200; i++) {
      const q = Array.from({ length: 6 }, () => (rng.next() * 2 - 1) * Math.PI);
      chain.flange(q, out);
      const tcp = sim.forward(q);
      // the sim's world is UR's base frame turned half a turn about z, and its TCP lies past the flange on z
      const R = tcp.rot;
      const off = sim.arm.tcp_offset_m;
      const flange = [tcp.pos[0] - R[2] * off, tcp.pos[1] - R[5] * off, tcp.pos[2] - R[8] * off];
      const inBase = [-flange[0], -flange[1], flange[2]];
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(out[k] - inBase[k]) < 1e-9, `q ${q}: ${out} vs ${inBase}`);
    }
  });
}

test('a flange box: leaving it, or going further out, is held; coming back passes', async () => {
  const desc = await loadRobot('ur5e');
  const chain = new DhChain(desc.dh!);
  const home = Float64Array.from([...desc.home_rad, 1]);
  const at = chain.flange(desc.home_rad, new Float64Array(3));
  // the home flange sits 2 cm inside the box's upper x face
  const box: FlangeBox = {
    x: [at[0] - 0.3, at[0] + 0.02],
    y: [at[1] - 0.3, at[1] + 0.3],
    z: [at[2] - 0.3, at[2] + 0.3],
  };
  assert.equal(flangeBoxProblem(desc, box), null);
  const f = new SafetyFilter(safetyLimits(desc, { workspace_box: { flange_m: box } }));
  // as the control tick calls it: the previous command is also where the new one is written
  const last = Float64Array.from(home);
  const tick = (joint: number, delta: number, gripper = 0.5) => {
    const target = Float64Array.from(last);
    target[joint] += delta;
    target[6] = gripper;
    const before = last[joint];
    f.limit(target, last, last);
    assert.equal(last[6], gripper, 'the gripper is never held');
    return last[joint] !== before;
  };
  // panning turns the flange (at about -0.49, -0.13) about z: +pan takes it toward +x, out through that face
  let moved = 0;
  while (moved < 100 && tick(0, 0.01)) moved++;
  assert.ok(moved > 0 && moved < 100, `${moved} steps outward before the hold`);
  const edge = chain.flange(last, new Float64Array(3), [0, 1, 2, 3, 4, 5]);
  assert.ok(edge[0] <= box.x[1] + 1e-12 && edge[0] > box.x[1] - 0.005, `held at the face: x ${edge[0]}`);
  assert.equal(f.box_holds, 1);
  assert.ok(tick(0, -0.01), 'back inward passes');
  assert.equal(f.box_holds, 1);

  // started outside (the box drawn in while the arm was out: limits are plain data): 5 cm out in x, on the z face
  const g = new SafetyFilter(safetyLimits(desc, { workspace_box: { flange_m: box } }));
  const drawn = g.limits.flange as NonNullable<typeof g.limits.flange>;
  drawn.hi[0] = at[0] - 0.05;
  drawn.hi[2] = at[2];
  const out = new Float64Array(7);
  const held = (joint: number, delta: number) => {
    const target = Float64Array.from(home);
    target[joint] += delta;
    g.limit(target, home, out);
    return out[joint] === home[joint];
  };
  assert.ok(held(0, 0.01), 'further out in x: held');
  // the elbow back: 1 mm less out in x but 5 mm out in z; shorter as a straight line, yet out on a new axis
  assert.ok(held(2, -0.01), 'trading one axis for another: held');
  assert.ok(!held(0, -0.01), 'back toward the box: passes');
  assert.equal(g.box_holds, 2);
});

test('a DH table that does not fit the joints is refused, never read past its end', async () => {
  const desc = await loadRobot('ur5e');
  const dh = desc.dh!;
  const short = {
    ...desc,
    dh: { d_m: dh.d_m.slice(0, 5), a_m: dh.a_m.slice(0, 5), alpha_rad: dh.alpha_rad.slice(0, 5) },
  };
  const wide: FlangeBox = { x: [-2, 2], y: [-2, 2], z: [-2, 2] };
  assert.throws(
    () => safetyLimits(short, { workspace_box: { flange_m: wide } }),
    /DH table has 5 joints, its actions 6/,
  );
});

test('flange boxes that cannot be used are named', async () => {
  const ur = await loadRobot('ur5e');
  const aloha = await loadRobot('aloha');
  const wide: FlangeBox = { x: [-2, 2], y: [-2, 2], z: [-2, 2] };
  assert.equal(flangeBoxProblem(ur, wide), null);
  assert.match(flangeBoxProblem(aloha, wide)!, /aloha's profile has no kinematics/);
  assert.match(flangeBoxProblem(ur, { ...wide, z: [1, 1] })!, /z \[1, 1\] is empty/);
  assert.match(
    flangeBoxProblem(ur, { ...wide, x: [0, 1] })!,
    /home pose puts the flange at \(-0\.492, .*outside the box in x/,
  );
});
