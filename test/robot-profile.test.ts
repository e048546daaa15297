import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinProfilePath, loadRobotProfile, ProfileError } from '../calibration/robot-profile.js';
import { SimDriver } from '../drivers/sim/sim-driver.js';

for (const robot of ['ur5', 'ur5e', 'aloha'] as const) {
  test(`${robot}: the shipped profile agrees with the simulated robot`, async () => {
    const profile = await loadRobotProfile(builtinProfilePath(robot));
    const d = await SimDriver.create({ robot, clock: 'fast' });
    try {
      const desc = d.describe();
      assert.deepEqual(profile.joints.map((j) => j.name), desc.joint_names);
      assert.deepEqual(profile.grippers, desc.gripper_names);
      assert.equal(profile.control_hz, desc.control_hz);
      profile.joints.forEach((j, i) => {
        assert.ok(Math.abs(j.min_rad - desc.position_limits_rad[i][0]) < 1e-5, `${j.name} min`);
        assert.ok(Math.abs(j.max_rad - desc.position_limits_rad[i][1]) < 1e-5, `${j.name} max`);
        assert.ok(Math.abs(j.max_velocity_rad_s - desc.velocity_limits_rad_s[i]) < 1e-5, `${j.name} velocity`);
        assert.ok(Math.abs(profile.home_rad[i] - d.env.robot.home_rad[i]) < 1e-5, `${j.name} home`);
      });
      assert.deepEqual(profile.cameras.map((c) => c.name), desc.cameras.map((c) => c.name));
    } finally {
      await d.disconnect();
    }
  });
}

test('a malformed profile is refused with the field that is wrong', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-profile-'));
  try {
    const good = JSON.parse(await readFile(builtinProfilePath('ur5'), 'utf8'));
    const cases: [string, unknown, RegExp][] = [
      ['not-json.json', '{ "robot": ', /not valid JSON/],
      ['swapped-limits.json', { ...good, joints: good.joints.map((j: object, i: number) => (i === 2 ? { ...j, min_rad: 1, max_rad: -1 } : j)) }, /joints\.2: min_rad must be below max_rad/],
      ['home-out-of-range.json', { ...good, home_rad: good.home_rad.map((q: number, i: number) => (i === 0 ? 99 : q)) }, /home_rad: home_rad is outside the joint limits/],
      ['short-home.json', { ...good, home_rad: [0] }, /home_rad needs one value per joint/],
      ['unknown-field.json', { ...good, max_speed: 3 }, /max_speed/],
      ['nan-velocity.json', { ...good, joints: good.joints.map((j: object, i: number) => (i === 1 ? { ...j, max_velocity_rad_s: -1 } : j)) }, /joints\.1\.max_velocity_rad_s/],
    ];
    for (const [name, content, expected] of cases) {
      const path = join(dir, name);
      await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
      await assert.rejects(loadRobotProfile(path), (err: Error) => err instanceof ProfileError && err.message.startsWith(path) && expected.test(err.message));
    }
    await assert.rejects(loadRobotProfile(join(dir, 'missing.json')), /cannot read robot profile \(ENOENT\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
