// UR pick-place: a 4 cm cube on the table is to be put down inside a target disc.
import type { Rng } from '../../src/util/rng.js';
import type { Vec3 } from '../math3d.js';
import type { SceneObject } from '../mjcf.js';
import {
  CubeTrack,
  dist3,
  distXY,
  roundM,
  type Task,
  type TaskOutcome,
  type TaskState,
  type TaskWorld,
  yawQuat,
} from './task.js';

export const CUBE_HALF_M = 0.02;
export const TARGET_RADIUS_M = 0.06;
/** Where cube and target are placed, in the robot's base frame (m). */
export const WORKSPACE = { x: [0.35, 0.62], y: [-0.25, 0.25] } as const;
const MIN_SEPARATION_M = 0.18;

export class PickPlaceTask implements Task {
  readonly name = 'pick-place' as const;
  readonly max_seconds = 8;
  readonly contacts = [];
  private readonly cube: Vec3 = [0, 0, 0];
  private readonly target: Vec3 = [0, 0, 0];
  private readonly tcp: Vec3 = [0, 0, 0];
  private readonly track = new CubeTrack(CUBE_HALF_M);

  objects(): SceneObject[] {
    return [
      {
        kind: 'box',
        name: 'cube',
        half_m: [CUBE_HALF_M, CUBE_HALF_M, CUBE_HALF_M],
        mass_kg: 0.1,
        rgba: [0.85, 0.12, 0.1, 1],
        friction: 1,
        pos: [0.5, 0, CUBE_HALF_M],
      },
      {
        kind: 'marker',
        name: 'target',
        radius_m: TARGET_RADIUS_M,
        rgba: [0.15, 0.7, 0.25, 1],
        pos: [0.5, -0.2, 0.0005],
      },
    ];
  }

  reset(world: TaskWorld, rng: Rng): void {
    this.track.reset();
    const cx = rng.uniform(WORKSPACE.x[0], WORKSPACE.x[1]);
    const cy = rng.uniform(WORKSPACE.y[0], WORKSPACE.y[1]);
    let tx = 0,
      ty = 0;
    do {
      tx = rng.uniform(WORKSPACE.x[0], WORKSPACE.x[1]);
      ty = rng.uniform(WORKSPACE.y[0], WORKSPACE.y[1]);
    } while (Math.hypot(tx - cx, ty - cy) < MIN_SEPARATION_M);
    world.setObjectPose('cube', { pos: [cx, cy, CUBE_HALF_M], quat: yawQuat(rng.uniform(-Math.PI / 4, Math.PI / 4)) });
    world.setMarkerPos('target', [tx, ty, 0.0005]);
  }

  evaluate(world: TaskWorld): boolean {
    const cube = world.objectPos('cube', this.cube);
    const target = world.markerPos('target', this.target);
    this.track.update(cube, target);
    const inside = distXY(cube, target) < TARGET_RADIUS_M;
    const resting = cube[2] < CUBE_HALF_M + 0.005;
    // put down means let go: the fingers are apart or the hand has left the cube
    const tcp = world.tcpPos(0, this.tcp);
    const released = world.gripperGap_m(0) > 2 * CUBE_HALF_M + 0.01 || dist3(tcp, cube) > 0.06;
    return inside && resting && released;
  }

  /** Never lifted (a missed grasp), dropped on the way (lifted, far), or put down just outside the disc. */
  outcome(world: TaskWorld): TaskOutcome {
    const cube = world.objectPos('cube', [0, 0, 0]);
    return {
      ...this.track.targetFigures(cube, world.markerPos('target')),
      cube_highest_lift_m: roundM(this.track.highest_m),
      cube_height_m: roundM(Math.max(0, cube[2] - CUBE_HALF_M)),
    };
  }

  state(world: TaskWorld): TaskState {
    return {
      task: this.name,
      objects: { cube: world.objectPose('cube') },
      target: { pos: world.markerPos('target'), radius_m: TARGET_RADIUS_M },
    };
  }
}
