// ALOHA transfer-cube (as in ACT's sim task): the right arm picks the cube off the table and hands it
// to the left arm. Success: the left gripper holds the cube in the air and the right one has let go.
import type { Rng } from '../../src/util/rng.js';
import type { Vec3 } from '../math3d.js';
import type { SceneObject } from '../mjcf.js';
import { CubeTrack, roundM, type Task, type TaskOutcome, type TaskState, type TaskWorld, yawQuat } from './task.js';

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
  private readonly cube: Vec3 = [0, 0, 0];
  private readonly track = new CubeTrack(TRANSFER_CUBE_HALF_M);

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
    this.track.reset();
    const x = rng.uniform(TRANSFER_SPAWN.x[0], TRANSFER_SPAWN.x[1]);
    const y = rng.uniform(TRANSFER_SPAWN.y[0], TRANSFER_SPAWN.y[1]);
    world.setObjectPose('cube', { pos: [x, y, TRANSFER_CUBE_HALF_M], quat: yawQuat(0) });
  }

  evaluate(world: TaskWorld): boolean {
    this.track.update(world.objectPos('cube', this.cube));
    const heldByLeft = world.touching('left_pad_left', 'cube') && world.touching('left_pad_right', 'cube');
    if (!heldByLeft) return false;
    const rightLetGo = !world.touching('right_pad_left', 'cube') && !world.touching('right_pad_right', 'cube');
    return rightLetGo && !world.touching('table', 'cube');
  }

  /** Never picked up (highest lift ~0), dropped (lifted, on the table now), or held by the wrong hand. */
  outcome(world: TaskWorld): TaskOutcome {
    const cube = world.objectPos('cube', this.cube);
    const holds = (side: string) =>
      world.touching(`${side}_pad_left`, 'cube') && world.touching(`${side}_pad_right`, 'cube');
    return {
      cube_height_m: roundM(Math.max(0, cube[2] - TRANSFER_CUBE_HALF_M)),
      cube_highest_lift_m: roundM(this.track.highest_m),
      left_holds_cube: holds('left'),
      right_holds_cube: holds('right'),
    };
  }

  state(world: TaskWorld): TaskState {
    return { task: this.name, objects: { cube: world.objectPose('cube') } };
  }
}
