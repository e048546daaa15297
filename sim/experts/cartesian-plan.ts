// A tool-centre-point trajectory as a list of timed waypoints, interpolated with a minimum-jerk profile
// (zero velocity and acceleration at every waypoint) in position and by slerp in orientation.

import type { Pose } from '../kinematics.js';
import { type Mat3, mat3FromQuat, type Quat, quatFromMat3, type Vec3 } from '../math3d.js';

export interface Waypoint {
  pos: Vec3;
  rot: Mat3;
  /** Gripper opening at this waypoint, 0 closed .. 1 open (interpolated like the pose). */
  gripper: number;
  /** Control tick at which the waypoint is reached. */
  tick: number;
}

export interface PlanSample {
  pose: Pose;
  gripper: number;
}

export class CartesianPlan {
  private readonly points: Waypoint[] = [];
  private readonly quats: Quat[] = [];

  constructor(start: Waypoint) {
    this.push(start);
  }

  get endTick(): number {
    return this.points[this.points.length - 1].tick;
  }

  get last(): Waypoint {
    return this.points[this.points.length - 1];
  }

  /** Append a waypoint reached `duration_ticks` after the previous one. */
  moveTo(pos: Vec3, rot: Mat3, gripper: number, duration_ticks: number): this {
    this.push({ pos, rot, gripper, tick: this.endTick + Math.max(1, Math.round(duration_ticks)) });
    return this;
  }

  /** Stay at the last waypoint for `duration_ticks`. */
  hold(duration_ticks: number, gripper = this.last.gripper): this {
    return this.moveTo(this.last.pos, this.last.rot, gripper, duration_ticks);
  }

  /** Drop the waypoints after `tick` and continue from the plan's pose at that tick. */
  truncateAt(tick: number): this {
    const s = this.sample(tick);
    while (this.points.length > 1 && this.last.tick > tick) {
      this.points.pop();
      this.quats.pop();
    }
    if (this.last.tick < tick) this.push({ pos: s.pose.pos, rot: s.pose.rot, gripper: s.gripper, tick });
    return this;
  }

  sample(tick: number): PlanSample {
    const pts = this.points;
    if (tick <= pts[0].tick) return this.at(0);
    if (tick >= this.endTick) return this.at(pts.length - 1);
    let i = 1;
    while (pts[i].tick < tick) i++;
    const a = pts[i - 1],
      b = pts[i];
    const tau = (tick - a.tick) / (b.tick - a.tick);
    const s = tau * tau * tau * (10 - 15 * tau + 6 * tau * tau);
    const pos: Vec3 = [
      a.pos[0] + s * (b.pos[0] - a.pos[0]),
      a.pos[1] + s * (b.pos[1] - a.pos[1]),
      a.pos[2] + s * (b.pos[2] - a.pos[2]),
    ];
    const rot = mat3FromQuat(slerp(this.quats[i - 1], this.quats[i], s));
    return { pose: { pos, rot }, gripper: a.gripper + s * (b.gripper - a.gripper) };
  }

  private at(i: number): PlanSample {
    const p = this.points[i];
    return { pose: { pos: [...p.pos], rot: Float64Array.from(p.rot) }, gripper: p.gripper };
  }

  private push(w: Waypoint): void {
    let q = quatFromMat3(w.rot);
    // keep consecutive quaternions in one hemisphere so slerp takes the short way
    const prev = this.quats[this.quats.length - 1];
    if (prev && prev[0] * q[0] + prev[1] * q[1] + prev[2] * q[2] + prev[3] * q[3] < 0) q = [-q[0], -q[1], -q[2], -q[3]];
    this.points.push({ ...w, pos: [...w.pos], rot: Float64Array.from(w.rot) });
    this.quats.push(q);
  }
}

function slerp(a: Quat, b: Quat, t: number): Quat {
  let dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
  dot = Math.min(1, Math.max(-1, dot));
  if (dot > 0.9995) {
    const q: Quat = [
      a[0] + t * (b[0] - a[0]),
      a[1] + t * (b[1] - a[1]),
      a[2] + t * (b[2] - a[2]),
      a[3] + t * (b[3] - a[3]),
    ];
    const n = Math.hypot(...q);
    return [q[0] / n, q[1] / n, q[2] / n, q[3] / n];
  }
  const theta = Math.acos(dot);
  const sa = Math.sin((1 - t) * theta) / Math.sin(theta);
  const sb = Math.sin(t * theta) / Math.sin(theta);
  return [sa * a[0] + sb * b[0], sa * a[1] + sb * b[1], sa * a[2] + sb * b[2], sa * a[3] + sb * b[3]];
}

/** Ticks for a minimum-jerk move: distance at a mean speed, orientation change at a mean rate, a floor. */
export function moveTicks(
  from: Waypoint,
  toPos: Vec3,
  control_hz: number,
  opts: { speed_m_s: number; min_s: number; yaw_change_rad?: number; rate_rad_s?: number },
): number {
  const d = Math.hypot(toPos[0] - from.pos[0], toPos[1] - from.pos[1], toPos[2] - from.pos[2]);
  const rot_s = opts.yaw_change_rad !== undefined ? Math.abs(opts.yaw_change_rad) / (opts.rate_rad_s ?? 1.5) : 0;
  return Math.ceil(Math.max(opts.min_s, d / opts.speed_m_s, rot_s) * control_hz);
}
