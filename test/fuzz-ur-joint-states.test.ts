// The UR driver's reading of /joint_states (drivers/ur/joint-state-reader.ts) under fuzz: mutated messages (a
// field of the wrong type, removed, or added at any depth; NaN as JSON null or a string; wrong lengths; joints
// missing or reordered). Each either throws (the driver counts it and keeps its last good state: `out` must be
// untouched) or is a usable message, and then every joint is read by name and finite. VLA_FUZZ_SEED repeats.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { caseRng, int, mutateJson, pick } from '../bench/fuzz-mutate.js';
import { JointStateReader, type MeasuredJoints } from '../drivers/ur/joint-state-reader.js';

const SEED = Number(process.env.VLA_FUZZ_SEED ?? 1);
const JOINTS = ['shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint', 'wrist_1_joint', 'wrist_2_joint'];
const ALL = [...JOINTS, 'wrist_3_joint'];

function message(seed: number, i: number): unknown {
  const rng = caseRng(seed, i);
  const names = [...ALL, 'gripper'];
  if (rng.next() < 0.3) names.reverse();
  const msg = {
    header: { stamp: { sec: 1, nanosec: 0 }, frame_id: '' },
    name: names,
    position: names.map(() => rng.uniform(-3, 3)),
    velocity: names.map(() => rng.uniform(-1, 1)),
    effort: [],
  };
  const r = rng.next();
  if (r < 0.2) return msg;
  if (r < 0.4) {
    msg.position[int(rng, 0, names.length - 1)] = pick(rng, [null, 'NaN', '1.0', [], {}]) as never;
    return msg;
  }
  if (r < 0.5) return pick(rng, [null, 42, 'joint_states', [], { name: 'x' }]);
  return mutateJson(rng, msg);
}

const fresh = (): MeasuredJoints => ({
  position_rad: new Float64Array(6).fill(7),
  velocity_rad_s: new Float64Array(6).fill(7),
  gripper: 7,
});

test('2000 mutated /joint_states: refused untouched, or read by name with finite values', () => {
  const reader = new JointStateReader(ALL, 'gripper');
  let refused = 0;
  for (let i = 0; i < 2000; i++) {
    const msg = message(SEED, i);
    const out = fresh();
    const why = `seed ${SEED} case ${i}: ${JSON.stringify(msg)?.slice(0, 300)}`;
    try {
      reader.read(msg, out);
    } catch {
      refused++;
      assert.deepEqual(out, fresh(), `a refused message left values behind: ${why}`);
      continue;
    }
    const m = msg as { name: string[]; position: number[] };
    ALL.forEach((j, k) => {
      const at = m.name.indexOf(j);
      assert.ok(at >= 0, `read although ${j} is missing: ${why}`);
      assert.ok(Number.isFinite(out.position_rad[k]) && Number.isFinite(out.velocity_rad_s[k]), why);
      assert.equal(out.position_rad[k], m.position[at], why);
    });
  }
  assert.ok(refused > 500 && refused < 1900, `${refused} refused`);
});
