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
  const out = new Float64Array(7);
  const step = (from: Float64Array, pan: number, gripper: number) => {
    const target = Float64Array.from(from);
    target[0] += pan;
    target[6] = gripper;
    f.limit(target, from, out);
    return Float64Array.from(out);
  };
  // panning turns the flange (at about -0.49, -0.13) about z: one way takes it toward +x, out of the box
  const probe = Float64Array.from(home);
  probe[0] += 0.01;
  const outward = chain.flange(probe, new Float64Array(3))[0] > at[0] ? 1 : -1;
  let last = home;
  let moved = 0;
  for (let i = 0; i < 100; i++) {
    const next = step(last, outward * 0.01, 0.5);
    assert.equal(next[6], 0.5, 'the gripper is not held');
    if (next[0] === last[0]) break;
    moved++;
    last = next;
  }
  assert.ok(moved > 0 && moved < 100, `${moved} steps outward before the hold`);
  const edge = chain.flange(last, new Float64Array(3), [0, 1, 2, 3, 4, 5]);
  assert.ok(edge[0] <= box.x[1] + 1e-12, `the flange stayed in: x ${edge[0]} of ${box.x[1]}`);
  assert.equal(f.box_holds, 1);
  // back inward: passes
  const back = step(last, -outward * 0.01, 0.5);
  assert.notEqual(back[0], last[0]);
  assert.equal(f.box_holds, 1);

  // started outside (the box was drawn in while the arm was out: limits are plain data): only motion back passes
  const g = new SafetyFilter(safetyLimits(desc, { workspace_box: { flange_m: box } }));
  (g.limits.flange as NonNullable<typeof g.limits.flange>).hi[0] = at[0] - 0.05;
  const o2 = new Float64Array(7);
  const away = Float64Array.from(home);
  away[0] += outward * 0.01;
  g.limit(away, home, o2);
  assert.equal(o2[0], home[0], 'further out: held');
  const toward = Float64Array.from(home);
  toward[0] -= outward * 0.01;
  g.limit(toward, home, o2);
  assert.equal(o2[0], toward[0], 'back toward the box: passes');
  assert.equal(g.box_holds, 1);
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
