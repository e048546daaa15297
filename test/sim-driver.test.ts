// The embedded sim behind the Driver contract: its description comes from the robot profile, each write()
// is one tick, read() copies the state into the caller's arrays, and expert episodes run through the
// episode engine record a readable MCAP.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { newJointState } from '../drivers/driver.js';
import { SimDriver } from '../sim/sim-driver.js';
import { openRecorder } from '../src/cli/run/recorder.js';
import { expertEngine } from '../src/cli/sim/expert-engine.js';
import { readEpisode } from '../src/recording/index.js';

test("the description is the profile's: action layout and limits", async () => {
  const d = await SimDriver.create({ robot: 'aloha' });
  try {
    const desc = d.description;
    assert.equal(desc.action_names.length, 14);
    assert.equal(desc.joint_names.length, 12);
    assert.deepEqual(desc.gripper_names, ['left_gripper', 'right_gripper']);
    assert.equal(desc.position_limits_rad.length, 12);
    assert.equal(desc.control_hz, 50);
    assert.deepEqual(
      desc.cameras.map((c) => c.name),
      ['top', 'left_wrist', 'right_wrist'],
    );
    assert.match(desc.source, /calibration\/profiles\/aloha\.json$/);
  } finally {
    await d.close();
  }
});

test("each write() is one tick; read() fills the caller's state, stamped with the tick's virtual time", async () => {
  const d = await SimDriver.create({ robot: 'ur5', time: 'virtual' });
  try {
    const s = newJointState(d.description);
    assert.equal(d.read(s), 'ok');
    const positions = s.position_rad;
    const home = Float64Array.from([...s.position_rad, 1]);
    const stamps = [s.t_mono_ms];
    for (let i = 0; i < 3; i++) {
      d.write(home);
      d.read(s);
      stamps.push(s.t_mono_ms);
    }
    assert.deepEqual(stamps, [0, 20, 40, 60]);
    assert.equal(d.tick, 3);
    assert.equal(s.position_rad, positions, 'the same arrays, filled in place');
    const moved = Float64Array.from(home);
    moved[0] += 0.2;
    for (let i = 0; i < 25; i++) d.write(moved);
    d.read(s);
    const before = s.position_rad[0];
    assert.ok(Math.abs(before - moved[0]) < 0.01);
    // nothing new: the servos keep their last target
    for (let i = 0; i < 10; i++) d.write(null);
    d.read(s);
    assert.ok(Math.abs(s.position_rad[0] - before) < 2e-3, 'write(null) must not move the arm');
    assert.throws(() => d.write(new Float64Array(3)), /expects 7/);
  } finally {
    await d.close();
  }
});

test('an expert episode through the engine succeeds and records a readable MCAP with frames', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-driver-'));
  const ex = await expertEngine('ur5e', 'push');
  try {
    const rec = await openRecorder(
      {
        target: join(dir, 'ep.mcap'),
        many: false,
        robot: ex.driver.description,
        task: 'push',
        policy: 'expert',
        cameras: ['top'],
        camera_size: 48,
        frame_every: 5,
        sim: ex.driver,
      },
      3,
    );
    const r = await ex.engine.runEpisode({ seed: 3, recorder: rec.tick });
    const file = await rec.close(r);
    assert.ok(r.success, JSON.stringify(r));
    const ep = await readEpisode(file!);
    assert.equal(ep.ticks, r.ticks);
    assert.equal(ep.success, true);
    assert.equal(ep.meta.seed, 3);
    assert.equal(ep.action.length, r.ticks * 7);
    assert.equal(ep.frames.top.rgb.length, Math.ceil(r.ticks / 5));
    assert.equal(ep.frames.top.rgb[0].length, 48 * 48 * 3);
    // the recorded state of tick 0 is the home pose, the state the first command was computed from
    assert.ok(Math.abs(ep.position_rad[1] + Math.PI / 2) < 1e-3);
  } finally {
    await ex.close();
    await rm(dir, { recursive: true, force: true });
  }
});
