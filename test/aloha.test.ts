import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlohaTransferCubeExpert } from '../sim/experts/aloha-transfer-cube.js';
import { createExpert } from '../sim/experts/index.js';
import { SimEnv } from '../sim/sim-env.js';
import { type ExpertEngine, expertEngine } from '../src/cli/sim/expert-engine.js';

const env = await SimEnv.create({ robot: 'aloha', task: 'transfer-cube' });
test.after(() => env.dispose());

const expert = (noise = 0) => new AlohaTransferCubeExpert(env.robot, env.control_hz, { noise });

test('the registry hands out the ALOHA transfer-cube expert', () => {
  const e = createExpert(env.robot, 'transfer-cube', env.control_hz);
  assert.ok(e instanceof AlohaTransferCubeExpert);
  assert.equal(e.action_dim, env.action_dim);
});

/** Expert episodes through the episode engine (the loop that drives a robot), closed afterwards. */
async function withExpert<T>(noise: number, body: (ex: ExpertEngine) => Promise<T>): Promise<T> {
  const ex = await expertEngine('aloha', 'transfer-cube', { noise });
  try {
    return await body(ex);
  } finally {
    await ex.close();
  }
}

test('the clean expert hands the cube over in seeded episodes', async () => {
  await withExpert(0, async (ex) => {
    for (const seed of [0, 1, 2, 3, 4]) {
      const r = await ex.engine.runEpisode({ seed });
      assert.ok(r.success, `seed ${seed} failed after ${r.ticks} ticks`);
      assert.ok(r.ticks < env.max_ticks);
    }
  });
});

test('the noisy expert still succeeds', async () => {
  await withExpert(1, async (ex) => {
    for (const seed of [10, 11])
      assert.ok((await ex.engine.runEpisode({ seed })).success, `seed ${seed} failed at noise 1`);
  });
});

test('success is false at reset and while only the right hand holds the cube', async () => {
  env.reset(7);
  assert.equal(env.task.evaluate(env), false);
  assert.equal(env.success, false);
  await withExpert(0, async (ex) => {
    const e = ex.driver.env;
    let heldByRightOnly = 0;
    const r = await ex.engine.runEpisode({
      seed: 7,
      recorder: {
        tick: () => {
          const right = e.touching('right_pad_left', 'cube') && e.touching('right_pad_right', 'cube');
          const left = e.touching('left_pad_left', 'cube') || e.touching('left_pad_right', 'cube');
          if (right && !left && e.objectPose('cube').pos[2] > 0.1) {
            heldByRightOnly++;
            assert.equal(e.task.evaluate(e), false, `tick ${e.tick}`);
            assert.equal(e.success, false, `tick ${e.tick}`);
          }
        },
      },
    });
    assert.ok(heldByRightOnly > 20, `the right hand held the cube up for only ${heldByRightOnly} ticks`);
    assert.ok(r.success, 'the handover itself should succeed');
  });
});

test('contacts come from sensors the task declares: either order, and an undeclared pair is refused', () => {
  env.reset(3);
  for (let i = 0; i < 50; i++) env.step();
  assert.equal(env.touching('table', 'cube'), true, 'the cube rests on the table');
  assert.equal(env.touching('cube', 'table'), true, 'either order');
  assert.equal(env.touching('left_pad_left', 'cube'), false);
  assert.throws(() => env.touching('table', 'left_pad_left'), /does not declare it/);
});

test('same seed, same episode', async () => {
  for (const noise of [0, 1]) {
    await withExpert(noise, async (ex) => {
      const final = async () => ({
        ...(await ex.engine.runEpisode({ seed: 5 })),
        cube: ex.driver.env.objectPose('cube'),
      });
      const a = await final();
      const b = await final();
      assert.deepEqual(b, a, `noise ${noise}`);
    });
  }
});

test('overlapping chunks agree: the plan is a function of the absolute tick', () => {
  env.reset(3);
  const e = expert(1);
  e.reset(3);
  const state = env.readState(env.newState());
  const obs = (tick: number) => ({
    tick,
    position_rad: state.position_rad,
    gripper: state.gripper,
    task: env.taskState(),
  });
  const a = e.chunk(obs(0), 60);
  const b = e.chunk(obs(20), 40);
  assert.deepEqual(b, a.subarray(20 * e.action_dim));
});
