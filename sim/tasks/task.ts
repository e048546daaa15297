// A task adds objects to the scene, randomises them from a seed, and judges success. The TaskWorld is
// the narrow view of the simulation a task (and its scripted expert) may use.

import type { Rng } from '../../src/util/rng.js';
import type { Quat, Vec3 } from '../math3d.js';
import type { SceneObject } from '../mjcf.js';

export const TASK_NAMES = ['pick-place', 'push', 'transfer-cube'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export type ContactPair = readonly [geomA: string, geomB: string];

export interface ObjectPose {
  pos: Vec3;
  quat: Quat;
}

/**
 * Privileged task state: object poses and the target. Only scripted experts read it; a learned
 * policy sees cameras and joints like it would on a real robot.
 */
export interface TaskState {
  task: TaskName;
  objects: Record<string, ObjectPose>;
  target?: { pos: Vec3; radius_m: number };
}

/**
 * The narrow view of the simulation a task may use. Reads with an `out` fill it (evaluated every tick: no
 * allocation).
 */
export interface TaskWorld {
  objectPose(name: string): ObjectPose;
  objectPos(name: string, out: Vec3): Vec3;
  setObjectPose(name: string, pose: ObjectPose): void;
  markerPos(name: string, out?: Vec3): Vec3;
  setMarkerPos(name: string, pos: Vec3): void;
  /** Distance between the two finger pads of arm `arm` (m). */
  gripperGap_m(arm: number): number;
  tcpPos(arm: number, out?: Vec3): Vec3;
  /** Whether two named geoms are in contact now (a pair the task declared in `contacts`). */
  touching(geomA: string, geomB: string): boolean;
}

export interface Task {
  readonly name: TaskName;
  /** Episode length limit (s of robot time): the same at any control rate (taskTickLimit). */
  readonly max_seconds: number;
  objects(): SceneObject[];
  /**
   * The geom pairs whose contact the task asks about (TaskWorld.touching): the scene gets a contact sensor
   * for each, which MuJoCo fills in every step, so asking after every tick reads a number, allocating nothing.
   */
  readonly contacts: readonly ContactPair[];
  reset(world: TaskWorld, rng: Rng): void;
  /**
   * Called once, as the episode's first tick starts, on the scene as it stands then (a replay may have put back a
   * recorded start after reset): where the objects start, for outcome().
   */
  begin?(world: TaskWorld): void;
  /** Called after every control tick: updates per-episode bookkeeping and says whether the goal holds now. */
  evaluate(world: TaskWorld): boolean;
  state(world: TaskWorld): TaskState;
  /**
   * How the episode ended in the scene, for a person asking why it failed: distances in m, flags. Read once,
   * when the episode ends (it may allocate).
   */
  outcome(world: TaskWorld): TaskOutcome;
}

/** A task's final scene figures, named with their units (`cube_to_target_m`). */
export type TaskOutcome = Record<string, number | boolean>;

/**
 * Where the cube has been this episode: its closest approach to a target and its highest lift above its resting
 * height. Updated after every tick by evaluate(): plain numbers, nothing allocated.
 */
export class CubeTrack {
  closest_m = Infinity;
  highest_m = 0;
  constructor(private readonly rest_z_m: number) {}

  reset(): void {
    this.closest_m = Infinity;
    this.highest_m = 0;
  }

  update(cube: Vec3, target?: Vec3): void {
    if (target) this.closest_m = Math.min(this.closest_m, distXY(cube, target));
    this.highest_m = Math.max(this.highest_m, cube[2] - this.rest_z_m);
  }

  /** The cube's distance to the target now, and its closest this episode (where it stands if no tick ran). */
  targetFigures(cube: Vec3, target: Vec3): { cube_to_target_m: number; closest_cube_to_target_m: number } {
    const now_m = distXY(cube, target);
    return { cube_to_target_m: roundM(now_m), closest_cube_to_target_m: roundM(Math.min(this.closest_m, now_m)) };
  }
}

/** Metres to a tenth of a millimetre: figures a person reads, not noise. */
export const roundM = (x: number) => Math.round(x * 1e4) / 1e4;

export function isTaskName(s: string): s is TaskName {
  return (TASK_NAMES as readonly string[]).includes(s);
}

export function yawQuat(yaw_rad: number): Quat {
  return [Math.cos(yaw_rad / 2), 0, 0, Math.sin(yaw_rad / 2)];
}

// sqrt, not Math.hypot: tasks are evaluated after every control tick, and hypot's variable arguments allocate
export function distXY(a: Vec3, b: Vec3): number {
  const dx = a[0] - b[0],
    dy = a[1] - b[1];
  return Math.sqrt(dx * dx + dy * dy);
}

export function dist3(a: Vec3, b: Vec3): number {
  const dx = a[0] - b[0],
    dy = a[1] - b[1],
    dz = a[2] - b[2];
  return Math.sqrt(dx * dx + dy * dy + dz * dz);
}

/** A task's episode limit in control ticks at `control_hz`. */
export function taskTickLimit(task: Pick<Task, 'max_seconds'>, control_hz: number): number {
  return Math.round(task.max_seconds * control_hz);
}
