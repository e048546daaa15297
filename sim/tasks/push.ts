// UR push: a 5 cm cube is pushed along the table onto a target disc; lifting it fails the episode.
import type { Rng } from '../../src/util/rng.js';
import type { Vec3 } from '../math3d.js';
import type { SceneObject } from '../mjcf.js';
import {
  CubeTrack,
  distXY,
  roundM,
  type Task,
  type TaskOutcome,
  type TaskState,
  type TaskWorld,
  yawQuat,
} from './task.js';

export const PUSH_CUBE_HALF_M = 0.025;
export const PUSH_TARGET_RADIUS_M = 0.05;
const WORKSPACE = { x: [0.38, 0.6], y: [-0.22, 0.22] } as const;
/** Lifting the cube by more than this above its resting height counts as picking, not pushing. */
const LIFT_TOLERANCE_M = 0.015;

export class PushTask implements Task {
  readonly name = 'push' as const;
  readonly max_seconds = 8;
  readonly contacts = [];
  private lifted = false;
  private readonly cube: Vec3 = [0, 0, 0];
  private readonly target: Vec3 = [0, 0, 0];
  private readonly start: Vec3 = [0, 0, 0];
  private readonly track = new CubeTrack(PUSH_CUBE_HALF_M);

  objects(): SceneObject[] {
    const h = PUSH_CUBE_HALF_M;
    return [
      {
        kind: 'box',
        name: 'cube',
        half_m: [h, h, h],
        mass_kg: 0.2,
        rgba: [0.15, 0.35, 0.85, 1],
        friction: 0.6,
        pos: [0.5, 0, h],
      },
      {
        kind: 'marker',
        name: 'target',
        radius_m: PUSH_TARGET_RADIUS_M,
        rgba: [0.9, 0.75, 0.15, 1],
        pos: [0.5, -0.2, 0.0005],
      },
    ];
  }

  reset(world: TaskWorld, rng: Rng): void {
    this.lifted = false;
    this.track.reset();
    let cx = 0,
      cy = 0,
      tx = 0,
      ty = 0;
    // the target is 12-22 cm from the cube, both inside the workspace
    for (;;) {
      cx = rng.uniform(WORKSPACE.x[0], WORKSPACE.x[1]);
      cy = rng.uniform(WORKSPACE.y[0], WORKSPACE.y[1]);
      const heading = rng.uniform(-Math.PI, Math.PI);
      const dist = rng.uniform(0.12, 0.22);
      tx = cx + dist * Math.cos(heading);
      ty = cy + dist * Math.sin(heading);
      if (tx >= WORKSPACE.x[0] && tx <= WORKSPACE.x[1] && ty >= WORKSPACE.y[0] && ty <= WORKSPACE.y[1]) break;
    }
    world.setObjectPose('cube', {
      pos: [cx, cy, PUSH_CUBE_HALF_M],
      quat: yawQuat(rng.uniform(-Math.PI / 4, Math.PI / 4)),
    });
    world.setMarkerPos('target', [tx, ty, 0.0005]);
    this.start[0] = cx;
    this.start[1] = cy;
  }

  begin(world: TaskWorld): void {
    world.objectPos('cube', this.start);
  }

  evaluate(world: TaskWorld): boolean {
    const cube = world.objectPos('cube', this.cube);
    if (cube[2] > PUSH_CUBE_HALF_M + LIFT_TOLERANCE_M) this.lifted = true;
    const target = world.markerPos('target', this.target);
    this.track.update(cube, target);
    return !this.lifted && distXY(cube, target) < PUSH_TARGET_RADIUS_M;
  }

  /** A miss that passed the disc (closest < final), one left short, one that hardly moved, one lifted. */
  outcome(world: TaskWorld): TaskOutcome {
    const cube = world.objectPos('cube', [0, 0, 0]);
    return {
      ...this.track.targetFigures(cube, world.markerPos('target')),
      cube_moved_m: roundM(distXY(cube, this.start)),
      cube_lifted: this.lifted,
    };
  }

  state(world: TaskWorld): TaskState {
    return {
      task: this.name,
      objects: { cube: world.objectPose('cube') },
      target: { pos: world.markerPos('target'), radius_m: PUSH_TARGET_RADIUS_M },
    };
  }
}
