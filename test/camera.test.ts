import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMujoco } from '../sim/mujoco.js';
import { SimEnv } from '../sim/sim-env.js';
import { expertEngine } from '../src/cli/sim/expert-engine.js';

test('the ray-cast image agrees with exhaustive per-ray casting (mj_ray) into the physics model', async () => {
  const mj = await loadMujoco();
  const ex = await expertEngine('ur5e', 'pick-place');
  const env = ex.driver.env;
  try {
    // mid-episode, cube in the hand: the gripper geoms are in view of both cameras
    await ex.engine.runEpisode({ seed: 2, max_ticks: 120 });
    const geom = new mj.IntBuffer(1),
      normal = new mj.DoubleBuffer(3);
    for (const name of ['top', 'wrist']) {
      const cam = env.camera(name, 64);
      const frame = env.render(cam);
      const inner = cam as unknown as {
        dirWorld: Float64Array;
        pnt: Float64Array;
        pixelOf: Int32Array;
        axisCos: Float32Array;
      };
      let hits = 0,
        checked = 0;
      // every third ray: its pixel's depth must be mj_ray's distance along the optical axis
      for (let i = 0; i < 64 * 64; i += 3, checked++) {
        const d = mj.mj_ray(
          env.model,
          env.data,
          Array.from(inner.pnt),
          Array.from(inner.dirWorld.subarray(3 * i, 3 * i + 3)),
          null as unknown as number[],
          true,
          -1,
          geom,
          normal,
        );
        const pix = inner.pixelOf[i];
        if ((geom.GetView() as Int32Array)[0] < 0) {
          assert.equal(frame.depth_m[pix], Infinity, `${name} pixel ${pix} should be empty`);
          continue;
        }
        hits++;
        assert.ok(
          Math.abs(frame.depth_m[pix] - d * inner.axisCos[i]) < 1e-5,
          `${name} pixel ${pix}: depth ${frame.depth_m[pix]} vs ${d * inner.axisCos[i]}`,
        );
      }
      assert.ok(hits > checked / 2, `${name}: only ${hits} of ${checked} rays hit something`);
    }
    geom.delete();
    normal.delete();
  } finally {
    await ex.close();
  }
});

test('images are deterministic, show the scene, and depth is sane', async () => {
  const env = await SimEnv.create({ robot: 'ur5e', task: 'pick-place' });
  try {
    env.reset(11);
    const cam = env.camera('top', 96);
    const a = env.render(cam, cam.newFrame());
    const b = env.render(cam, cam.newFrame());
    assert.deepEqual(a.rgb, b.rgb);
    // the red cube and the green target are in view
    let red = 0,
      green = 0;
    for (let i = 0; i < a.rgb.length; i += 3) {
      const [r, g, bl] = [a.rgb[i], a.rgb[i + 1], a.rgb[i + 2]];
      if (r > 120 && g < 60 && bl < 60) red++;
      if (g > 100 && r < 80 && bl < 100) green++;
    }
    assert.ok(red > 3, `cube pixels: ${red}`);
    assert.ok(green > 10, `target pixels: ${green}`);
    // the camera is ~1.2 m above the table: every hit is between 0.3 and 3 m away
    for (const d of a.depth_m) if (Number.isFinite(d)) assert.ok(d > 0.3 && d < 3, `depth ${d}`);
    // a different seed moves the cube: a different image
    env.reset(12);
    assert.notDeepEqual(env.render(cam, cam.newFrame()).rgb, a.rgb);
  } finally {
    env.dispose();
  }
});

test('camera names and sizes are checked', async () => {
  const env = await SimEnv.create({ robot: 'aloha' });
  try {
    assert.throws(() => env.camera('wrist', 64), /no camera 'wrist' \(valid: top, left_wrist, right_wrist\)/);
    assert.throws(() => env.camera('top', 0), /1\.\.1024/);
    assert.equal(env.render(env.camera('left_wrist', 32, 24)).rgb.length, 32 * 24 * 3);
  } finally {
    env.dispose();
  }
});

test(
  "a snapshot rendered elsewhere (the runtime's camera rig) shows exactly what the scene shows, moving cameras " +
    'included',
  async () => {
    const { SimCameraRig } = await import('../sim/camera-rig.js');
    const ex = await expertEngine('ur5', 'pick-place');
    const env = ex.driver.env;
    const rig = await SimCameraRig.create({ robot: 'ur5', task: 'pick-place' });
    try {
      // the rig renders a few poses in a row: each must follow the snapshot, not the rig's last pose
      for (const ticks of [0, 90, 150]) {
        ex.driver.reset(5);
        if (ticks > 0) await ex.engine.runEpisode({ seed: 5, max_ticks: ticks });
        // after mj_step the body poses are a physics substep behind qpos; put them at qpos first, as the rig does
        env.showSnapshot(env.snapshot());
        for (const name of ['top', 'wrist']) {
          const direct = env.render(env.camera(name, 48)).rgb;
          const viaRig = rig.render(env.snapshot(), [{ name, size: 48 }])[0].rgb;
          assert.deepEqual(viaRig, direct, `${name} camera after ${ticks} ticks`);
        }
      }
    } finally {
      rig.dispose();
      await ex.close();
    }
  },
);
