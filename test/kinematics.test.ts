import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topDownRot } from '../sim/experts/arm-tracker.js';
import { ArmKinematics } from '../sim/kinematics.js';
import { loadMujoco, nameToId } from '../sim/mujoco.js';
import { UR_HOME_RAD } from '../sim/robots/ur.js';
import { SimEnv } from '../sim/sim-env.js';
import { Rng } from '../src/util/rng.js';

for (const robot of ['ur5', 'ur5e', 'aloha'] as const) {
  test(`${robot}: forward kinematics of the arm description matches the MuJoCo model`, async () => {
    const mj = await loadMujoco();
    const env = await SimEnv.create({ robot });
    try {
      const rng = new Rng(1);
      const qpos = env.data.qpos as Float64Array;
      for (const [a, arm] of env.robot.arms.entries()) {
        const kin = new ArmKinematics(arm);
        const site = nameToId(mj, env.model, 'site', `${arm.prefix}tcp`);
        const adr = arm.links.map(
          (l) => (env.model.jnt_qposadr as Int32Array)[nameToId(mj, env.model, 'joint', arm.prefix + l.joint)],
        );
        for (let trial = 0; trial < 20; trial++) {
          const q = arm.links.map((l) => rng.uniform(Math.max(l.range_rad[0], -3), Math.min(l.range_rad[1], 3)));
          adr.forEach((ad, i) => {
            qpos[ad] = q[i];
          });
          mj.mj_kinematics(env.model, env.data);
          const fk = kin.forward(q);
          const p = (env.data.site_xpos as Float64Array).subarray(3 * site, 3 * site + 3);
          const R = (env.data.site_xmat as Float64Array).subarray(9 * site, 9 * site + 9);
          for (let k = 0; k < 3; k++) assert.ok(Math.abs(fk.pos[k] - p[k]) < 1e-9, `arm ${a} pos[${k}]`);
          for (let k = 0; k < 9; k++) assert.ok(Math.abs(fk.rot[k] - R[k]) < 1e-9, `arm ${a} rot[${k}]`);
        }
      }
    } finally {
      env.dispose();
    }
  });
}

test('IK reaches top-down poses across the UR workspace from the home seed', async () => {
  const env = await SimEnv.create({ robot: 'ur5e' });
  try {
    const kin = new ArmKinematics(env.robot.arms[0]);
    const rng = new Rng(2);
    for (let i = 0; i < 50; i++) {
      const target = {
        pos: [rng.uniform(0.3, 0.65), rng.uniform(-0.3, 0.3), rng.uniform(0.02, 0.3)] as [number, number, number],
        rot: topDownRot(rng.uniform(-Math.PI, Math.PI)),
      };
      const r = kin.solve(target, UR_HOME_RAD, { max_iterations: 200 });
      assert.ok(r.converged, `target ${target.pos} not reached: ${r.position_error_m} m, ${r.rotation_error_rad} rad`);
      const back = kin.forward(r.q);
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(back.pos[k] - target.pos[k]) < 1e-3);
    }
  } finally {
    env.dispose();
  }
});
