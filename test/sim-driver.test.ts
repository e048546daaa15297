import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { SimDriver } from '../drivers/sim/sim-driver.js';
import type { JointState } from '../drivers/driver.js';
import { createExpert } from '../sim/experts/index.js';
import { runExpertOnDriver } from '../sim/expert-episode.js';
import { EpisodeWriter, readEpisode } from '../src/recording/index.js';

test('describe() matches the action layout and the published limits', async () => {
  const d = await SimDriver.create({ robot: 'aloha', clock: 'fast' });
  try {
    const desc = d.describe();
    assert.equal(desc.action_names.length, 14);
    assert.equal(desc.joint_names.length, 12);
    assert.deepEqual(desc.gripper_names, ['left_gripper', 'right_gripper']);
    assert.equal(desc.position_limits_rad.length, 12);
    assert.equal(desc.velocity_limits_rad_s.length, 12);
    assert.equal(desc.control_hz, 50);
    assert.deepEqual(desc.cameras.map((c) => c.name), ['top', 'left_wrist', 'right_wrist']);
  } finally {
    await d.disconnect();
  }
  const ur = await SimDriver.create({ robot: 'ur5e', clock: 'fast' });
  try {
    const desc = ur.describe();
    assert.deepEqual(desc.joint_names, ['shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint', 'wrist_1_joint', 'wrist_2_joint', 'wrist_3_joint']);
    assert.deepEqual(desc.position_limits_rad[2], [-Math.PI, Math.PI]);
    assert.ok(desc.velocity_limits_rad_s.every((v) => Math.abs(v - Math.PI) < 1e-12));
  } finally {
    await ur.disconnect();
  }
});

test('fast clock: each send() is one tick on a virtual clock; hold() keeps the arm where it is', async () => {
  const d = await SimDriver.create({ robot: 'ur5', clock: 'fast' });
  try {
    const seen: JointState[] = [];
    d.state$.subscribe((s) => seen.push(s));
    await d.connect();
    const home = Float64Array.from([...seen[0].position_rad, 1]);
    for (let i = 0; i < 3; i++) d.send(home);
    assert.deepEqual(seen.map((s) => s.tick), [0, 1, 2, 3]);
    assert.deepEqual(seen.map((s) => s.t_mono_ms), [0, 20, 40, 60]);
    const moved = Float64Array.from(home);
    moved[0] += 0.2;
    for (let i = 0; i < 25; i++) d.send(moved);
    const before = seen.at(-1)!.position_rad[0];
    assert.ok(Math.abs(before - moved[0]) < 0.01);
    for (let i = 0; i < 10; i++) d.hold();
    assert.ok(Math.abs(seen.at(-1)!.position_rad[0] - before) < 2e-3, 'hold() must not move the arm');
    assert.throws(() => d.send(new Float64Array(3)), /expects 7/);
  } finally {
    await d.disconnect();
  }
});

test('realtime clock: ticks keep coming without commands and the robot holds its pose', async () => {
  const d = await SimDriver.create({ robot: 'ur5e', clock: 'realtime' });
  try {
    const states = firstValueFrom(d.state$.pipe(take(6), toArray()));
    await d.connect();
    const s = await states;
    assert.deepEqual(s.map((x) => x.tick), [0, 1, 2, 3, 4, 5]);
    for (let i = 1; i < s.length; i++) assert.ok(s[i].t_mono_ms > s[i - 1].t_mono_ms);
    for (let j = 0; j < 6; j++) assert.ok(Math.abs(s[5].position_rad[j] - s[0].position_rad[j]) < 2e-3);
  } finally {
    await d.disconnect();
  }
});

test('an expert episode through the driver succeeds and records a readable MCAP with frames', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-driver-'));
  const d = await SimDriver.create({ robot: 'ur5e', task: 'push', clock: 'fast', camera_size: 48 });
  try {
    const desc = d.describe();
    const file = join(dir, 'ep.mcap');
    const recorder = await EpisodeWriter.open(file, {
      robot: 'ur5e', task: 'push', seed: 3, control_hz: 50, joint_names: desc.joint_names, gripper_names: desc.gripper_names,
      action_names: desc.action_names, cameras: [{ name: 'top', width: 48, height: 48 }], policy: 'expert',
    });
    const expert = createExpert(d.env.robot, 'push', 50);
    const r = await runExpertOnDriver(d, expert, 3, { recorder, cameras: ['top'], camera_size: 48, frame_every: 5 });
    await recorder.close({ success: r.success });
    assert.ok(r.success);
    const ep = await readEpisode(file);
    assert.equal(ep.ticks, r.ticks);
    assert.equal(ep.success, true);
    assert.equal(ep.meta.seed, 3);
    assert.equal(ep.action.length, r.ticks * 7);
    assert.equal(ep.frames.top.rgb.length, Math.ceil(r.ticks / 5));
    assert.equal(ep.frames.top.rgb[0].length, 48 * 48 * 3);
    // the recorded state of tick 0 is the home pose the driver reported
    assert.ok(Math.abs(ep.position_rad[1] + Math.PI / 2) < 1e-3);
  } finally {
    await d.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
});
