// Robot profiles are the robot description: validated on load, and the sim is checked against them (a
// profile that disagrees with the sim model is refused, naming the file and the field), never the other
// way round.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { SimEnv } from '../sim/sim-env.js';
import { builtinProfilePath, loadRobot, loadRobotProfile, ProfileError } from '../src/robot/index.js';
import { assertRefusedStdout } from './fixtures/cli.js';

const VLA_RUN = resolve(import.meta.dirname, '../../bin/vla-run.js');

for (const robot of ['ur5', 'ur5e', 'aloha'] as const) {
  test(`${robot}: the shipped profile loads and the sim model agrees with it`, async () => {
    const desc = await loadRobot(robot);
    const env = await SimEnv.create({ robot, description: desc });
    try {
      assert.deepEqual(env.joint_names, desc.joint_names);
      assert.deepEqual(env.action_names, desc.action_names);
      assert.equal(env.description, desc);
      // home comes from the profile
      env.reset(0);
      const s = env.readState(env.newState());
      desc.home_rad.forEach((q, j) => {
        assert.ok(Math.abs(s.position_rad[j] - q) < 1e-9, `${desc.joint_names[j]} home`);
      });
    } finally {
      env.dispose();
    }
  });
}

async function withProfiles(body: (dir: string, good: Record<string, unknown>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vla-profile-'));
  try {
    await body(dir, JSON.parse(await readFile(builtinProfilePath('ur5'), 'utf8')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a malformed profile is refused with the file and the field that is wrong', async () => {
  await withProfiles(async (dir, good) => {
    const joints = good.joints as object[];
    const cases: [string, unknown, RegExp][] = [
      ['not-json.json', '{ "robot": ', /not valid JSON/],
      [
        'swapped-limits.json',
        { ...good, joints: joints.map((j, i) => (i === 2 ? { ...j, min_rad: 1, max_rad: -1 } : j)) },
        /joints\.2: min_rad must be below max_rad/,
      ],
      [
        'home-out-of-range.json',
        { ...good, home_rad: (good.home_rad as number[]).map((q, i) => (i === 0 ? 99 : q)) },
        /home_rad: home_rad is outside the joint limits/,
      ],
      ['short-home.json', { ...good, home_rad: [0] }, /home_rad needs one value per joint/],
      ['unknown-field.json', { ...good, max_speed: 3 }, /max_speed/],
      [
        'bad-velocity.json',
        { ...good, joints: joints.map((j, i) => (i === 1 ? { ...j, max_velocity_rad_s: -1 } : j)) },
        /joints\.1\.max_velocity_rad_s/,
      ],
      [
        'action-misses-gripper.json',
        { ...good, action: (good.action as string[]).slice(0, 6) },
        /action: action must name every joint and gripper exactly once/,
      ],
      ['gripper-home.json', { ...good, home_gripper: [2] }, /home_gripper/],
      [
        'short-dh.json',
        { ...good, kinematics: { dh: { d_m: [0.1], a_m: [0], alpha_rad: [0] } } },
        /kinematics: kinematics\.dh needs one d_m, a_m and alpha_rad per joint/,
      ],
    ];
    for (const [name, content, expected] of cases) {
      const path = join(dir, name);
      await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
      await assert.rejects(
        loadRobotProfile(path),
        (err: Error) => err instanceof ProfileError && err.message.startsWith(path) && expected.test(err.message),
        name,
      );
    }
    await assert.rejects(loadRobotProfile(join(dir, 'missing.json')), /cannot read robot profile \(ENOENT\)/);
  });
});

test(
  "a profile that disagrees with the sim model is refused: joint count, limits beyond the model's, another " + 'robot',
  async () => {
    await withProfiles(async (dir, good) => {
      const joints = good.joints as { name: string }[];
      const cases: [string, object, RegExp][] = [
        [
          'five-joints.json',
          {
            ...good,
            joints: joints.slice(0, 5),
            home_rad: (good.home_rad as number[]).slice(0, 5),
            action: [...joints.slice(0, 5).map((j) => j.name), 'gripper'],
            kinematics: undefined, // the DH table is per joint: it goes with the sixth
          },
          /joints: expected 6 joints/,
        ],
        [
          'wide-elbow.json',
          { ...good, joints: joints.map((j, i) => (i === 2 ? { ...j, min_rad: -4, max_rad: 4 } : j)) },
          /joints\.2: elbow_joint limits -4\.\.4 rad reach beyond/,
        ],
      ];
      for (const [name, content, expected] of cases) {
        const path = join(dir, name);
        await writeFile(path, JSON.stringify(content));
        const desc = await loadRobot('ur5', path);
        await assert.rejects(
          SimEnv.create({ robot: 'ur5', description: desc }),
          (err: Error) => err instanceof ProfileError && err.message.startsWith(path) && expected.test(err.message),
          name,
        );
      }
      const other = join(dir, 'ur5e.json');
      await writeFile(other, JSON.stringify({ ...good, robot: 'ur5e' }));
      await assert.rejects(loadRobot('ur5', other), /robot: the profile is for 'ur5e', not 'ur5'/);
    });
  },
);

test(
  'vla-run --profile: a profile that disagrees with the sim exits 2 naming the file and the field, before ' +
    'anything moves',
  async () => {
    await withProfiles(async (dir, good) => {
      const path = join(dir, 'narrow-home.json');
      const joints = good.joints as object[];
      await writeFile(
        path,
        JSON.stringify({ ...good, joints: joints.map((j, i) => (i === 2 ? { ...j, min_rad: -9, max_rad: 9 } : j)) }),
      );
      const r = spawnSync(
        process.execPath,
        [VLA_RUN, '--robot', 'ur5', '--sim', '--profile', path, '--clock', 'fast', '--json'],
        { encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(r.status, 2, r.stderr);
      assertRefusedStdout(r.stdout);
      assert.match(
        r.stderr,
        new RegExp(`${path.replace(/[/.]/g, '\\$&')}: joints\\.2: elbow_joint limits -9\\.\\.9 rad`),
      );
    });
  },
);
