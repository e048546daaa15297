// Turns a Cartesian plan into joint targets tick by tick. Each tick's IK starts from the previous tick's
// solution so the arm never jumps between IK branches; solutions are cached by tick because chunks
// overlap and the same tick may be asked for twice.

import type { Rng } from '../../src/util/rng.js';
import { ArmKinematics, type Pose } from '../kinematics.js';
import type { Mat3, Quat } from '../math3d.js';
import type { ArmSpec } from '../robots/arm-spec.js';

export class ArmTracker {
  readonly kin: ArmKinematics;
  private readonly cache = new Map<number, Float64Array>();
  private worstError_m = 0;

  constructor(arm: ArmSpec) {
    this.kin = new ArmKinematics(arm);
  }

  reset(): void {
    this.cache.clear();
    this.worstError_m = 0;
  }

  /** Forget solutions after `tick`: the plan changed from there on. */
  forgetAfter(tick: number): void {
    for (const k of this.cache.keys()) if (k > tick) this.cache.delete(k);
  }

  /** Largest IK position error seen this episode (m): a plan that leaves the workspace shows up here. */
  get worst_ik_error_m(): number {
    return this.worstError_m;
  }

  /** Joint targets that put the TCP at `pose` at `tick`; `seed` is used when there is no earlier solution. */
  solve(tick: number, pose: Pose, seed: ArrayLike<number>): Float64Array {
    const hit = this.cache.get(tick);
    if (hit) return hit;
    const start = this.cache.get(tick - 1) ?? seed;
    const r = this.kin.solve(pose, start);
    this.worstError_m = Math.max(this.worstError_m, r.position_error_m);
    this.cache.set(tick, r.q);
    if (this.cache.size > 256) {
      for (const k of this.cache.keys()) if (k < tick - 128) this.cache.delete(k);
    }
    return r.q;
  }
}

/**
 * Ornstein-Uhlenbeck noise indexed by tick: the value at a tick does not depend on how the ticks were
 * asked for, so overlapping chunks see one consistent noisy trajectory.
 */
export class TickNoise {
  private readonly values = new Map<number, Float64Array>();
  private lastTick = -1;
  private state: Float64Array;

  constructor(
    private readonly dim: number,
    private readonly sigma: number,
    private readonly tau_ticks: number,
    private readonly rng: Rng,
  ) {
    this.state = new Float64Array(dim);
  }

  at(tick: number): Float64Array {
    if (this.sigma === 0) return this.state;
    while (this.lastTick < tick) {
      this.lastTick++;
      const a = Math.exp(-1 / this.tau_ticks);
      const b = this.sigma * Math.sqrt(1 - a * a);
      const next = new Float64Array(this.dim);
      for (let i = 0; i < this.dim; i++) next[i] = a * this.state[i] + b * this.rng.normal();
      this.state = next;
      this.values.set(this.lastTick, next);
      this.values.delete(this.lastTick - 256);
    }
    return this.values.get(tick) ?? this.state;
  }
}

/** Gripper pointing straight down, fingers closing along (sin yaw, -cos yaw, 0). */
export function topDownRot(yaw_rad: number): Mat3 {
  const c = Math.cos(yaw_rad),
    s = Math.sin(yaw_rad);
  // columns x = (c, s, 0), y = (s, -c, 0), z = (0, 0, -1)
  return new Float64Array([c, s, 0, s, -c, 0, 0, 0, -1]);
}

/** Yaw of a frame's x axis in the world xy plane. */
export function yawOf(rot: Mat3): number {
  return Math.atan2(rot[3], rot[0]);
}

export function quatYaw(q: Quat): number {
  const [w, x, y, z] = q;
  return Math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z));
}

/**
 * The yaw among `base + k * period` closest to `current`, returned unwrapped next to `current` so an
 * interpolation from `current` takes the short way round.
 */
export function nearestYaw(base: number, period: number, current: number): number {
  let d = (base - current) % period;
  if (d > period / 2) d -= period;
  if (d < -period / 2) d += period;
  return current + d;
}
