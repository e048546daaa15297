// ALOHA transfer-cube (as in ACT's sim task): the right arm picks the cube off the table and hands it
// to the left arm. Success: the left gripper holds the cube in the air and the right one has let go.
import type { Rng } from '../../src/util/rng.js';
import type { SceneObject } from '../mjcf.js';
import { type Task, type TaskState, type TaskWorld, yawQuat } from './task.js';

export const TRANSFER_CUBE_HALF_M = 0.02;
/** Cube spawn region, on the right arm's half of the table (m). */
export const TRANSFER_SPAWN = { x: [0.05, 0.2], y: [-0.1, 0.1] } as const;

export class TransferCubeTask implements Task {
  readonly name = 'transfer-cube' as const;
  readonly max_seconds = 8;
  readonly contacts = [
    ['left_pad_left', 'cube'],
    ['left_pad_right', 'cube'],
    ['right_pad_left', 'cube'],
    ['right_pad_right', 'cube'],
    ['table', 'cube'],
  ] as const;

  objects(): SceneObject[] {
    const h = TRANSFER_CUBE_HALF_M;
    return [
      {
        kind: 'box',
        name: 'cube',
        half_m: [h, h, h],
        mass_kg: 0.05,
        rgba: [0.85, 0.12, 0.1, 1],
        friction: 1,
        pos: [0.1, 0, h],
      },
    ];
  }

  reset(world: TaskWorld, rng: Rng): void {
    const x = rng.uniform(TRANSFER_SPAWN.x[0], TRANSFER_SPAWN.x[1]);
    const y = rng.uniform(TRANSFER_SPAWN.y[0], TRANSFER_SPAWN.y[1]);
    world.setObjectPose('cube', { pos: [x, y, TRANSFER_CUBE_HALF_M], quat: yawQuat(0) });
  }

  evaluate(world: TaskWorld): boolean {
    const heldByLeft = world.touching('left_pad_left', 'cube') && world.touching('left_pad_right', 'cube');
    if (!heldByLeft) return false;
    const rightLetGo = !world.touching('right_pad_left', 'cube') && !world.touching('right_pad_right', 'cube');
    return rightLetGo && !world.touching('table', 'cube');
  }

  state(world: TaskWorld): TaskState {
    return { task: this.name, objects: { cube: world.objectPose('cube') } };
  }
}
