// Forward and inverse kinematics of an ArmSpec chain: FK by composing the body frames, IK by damped
// least squares on the geometric Jacobian. Scratch buffers are allocated once per solver because the
// experts call solve() for every action of every chunk.

import { type Mat3, mat3FromQuat, mat3Mul, mat3MulVec, rotationError, type Vec3 } from './math3d.js';
import type { ArmSpec } from './robots/arm-spec.js';

export interface Pose {
  pos: Vec3;
  /** Row-major rotation matrix; columns are the frame's x, y, z axes in world coordinates. */
  rot: Mat3;
}

export interface IkOptions {
  /** Weight of orientation error (rad) against position error (m). */
  rotation_weight?: number;
  max_iterations?: number;
  tolerance_m?: number;
  tolerance_rad?: number;
}

export interface IkResult {
  q: Float64Array;
  position_error_m: number;
  rotation_error_rad: number;
  converged: boolean;
}

export class ArmKinematics {
  readonly dof: number;
  private readonly linkRot: Mat3[];
  private readonly flangeRot: Mat3;
  private readonly baseRot: Mat3;
  // scratch
  private readonly origins: Float64Array;
  private readonly axes: Float64Array;
  private readonly tmpA = new Float64Array(9);
  private readonly tmpB = new Float64Array(9);
  private readonly jointRot = new Float64Array(9);
  private readonly jac: Float64Array;
  private readonly err = new Float64Array(6);
  private readonly jjt = new Float64Array(36);
  private readonly sol = new Float64Array(6);
  private readonly dq: Float64Array;

  constructor(readonly arm: ArmSpec) {
    this.dof = arm.links.length;
    this.linkRot = arm.links.map((l) => mat3FromQuat(l.quat));
    this.flangeRot = mat3FromQuat(arm.flange_quat);
    this.baseRot = mat3FromQuat(arm.base_quat);
    this.origins = new Float64Array(3 * this.dof);
    this.axes = new Float64Array(3 * this.dof);
    this.jac = new Float64Array(6 * this.dof);
    this.dq = new Float64Array(this.dof);
  }

  /** Pose of the tool centre point for joint angles q; fills joint origins and axes for the Jacobian. */
  forward(q: ArrayLike<number>, out: Pose = { pos: [0, 0, 0], rot: new Float64Array(9) }): Pose {
    const R = out.rot;
    R.set(this.baseRot);
    const p: Vec3 = [this.arm.base_pos[0], this.arm.base_pos[1], this.arm.base_pos[2]];
    const v: Vec3 = [0, 0, 0];
    for (let i = 0; i < this.dof; i++) {
      const link = this.arm.links[i];
      mat3MulVec(R, link.pos, v);
      p[0] += v[0];
      p[1] += v[1];
      p[2] += v[2];
      mat3Mul(R, this.linkRot[i], this.tmpA);
      // joint origin and axis in world, before the joint rotates the body
      this.origins[3 * i] = p[0];
      this.origins[3 * i + 1] = p[1];
      this.origins[3 * i + 2] = p[2];
      mat3MulVec(this.tmpA, link.axis, v);
      this.axes[3 * i] = v[0];
      this.axes[3 * i + 1] = v[1];
      this.axes[3 * i + 2] = v[2];
      axisAngleMat(link.axis, q[i], this.jointRot);
      mat3Mul(this.tmpA, this.jointRot, R);
    }
    mat3MulVec(R, this.arm.flange_pos, v);
    p[0] += v[0];
    p[1] += v[1];
    p[2] += v[2];
    mat3Mul(R, this.flangeRot, this.tmpB);
    R.set(this.tmpB);
    // TCP along the flange z axis
    p[0] += R[2] * this.arm.tcp_offset_m;
    p[1] += R[5] * this.arm.tcp_offset_m;
    p[2] += R[8] * this.arm.tcp_offset_m;
    out.pos[0] = p[0];
    out.pos[1] = p[1];
    out.pos[2] = p[2];
    return out;
  }

  /**
   * Joint angles that put the TCP at `target`, starting from `seed` (the previous solution, so the arm
   * stays on one IK branch). Joint ranges are respected by clamping after each step.
   */
  solve(target: Pose, seed: ArrayLike<number>, opts: IkOptions = {}): IkResult {
    const wRot = opts.rotation_weight ?? 0.3;
    const maxIt = opts.max_iterations ?? 60;
    const tolP = opts.tolerance_m ?? 2e-4;
    const tolR = opts.tolerance_rad ?? 2e-3;
    const n = this.dof;
    const q = Float64Array.from(seed);
    const pose: Pose = { pos: [0, 0, 0], rot: new Float64Array(9) };
    let pe = Infinity,
      re = Infinity;
    for (let it = 0; it < maxIt; it++) {
      this.forward(q, pose);
      const e = this.err;
      e[0] = target.pos[0] - pose.pos[0];
      e[1] = target.pos[1] - pose.pos[1];
      e[2] = target.pos[2] - pose.pos[2];
      rotationError(target.rot, pose.rot, e, 3);
      pe = Math.hypot(e[0], e[1], e[2]);
      re = Math.hypot(e[3], e[4], e[5]);
      if (pe < tolP && re < tolR) break;
      e[3] *= wRot;
      e[4] *= wRot;
      e[5] *= wRot;
      // geometric Jacobian, rotation rows weighted like the error
      const J = this.jac;
      for (let i = 0; i < n; i++) {
        const ax = this.axes[3 * i],
          ay = this.axes[3 * i + 1],
          az = this.axes[3 * i + 2];
        const rx = pose.pos[0] - this.origins[3 * i],
          ry = pose.pos[1] - this.origins[3 * i + 1],
          rz = pose.pos[2] - this.origins[3 * i + 2];
        J[i] = ay * rz - az * ry;
        J[n + i] = az * rx - ax * rz;
        J[2 * n + i] = ax * ry - ay * rx;
        J[3 * n + i] = ax * wRot;
        J[4 * n + i] = ay * wRot;
        J[5 * n + i] = az * wRot;
      }
      // dq = J^T (J J^T + lambda^2 I)^-1 e
      const lambda2 = 1e-4 + 1e-2 * Math.min(1, pe + re);
      for (let r = 0; r < 6; r++) {
        for (let c = 0; c < 6; c++) {
          let s = 0;
          for (let k = 0; k < n; k++) s += J[r * n + k] * J[c * n + k];
          this.jjt[r * 6 + c] = s + (r === c ? lambda2 : 0);
        }
      }
      solve6(this.jjt, e, this.sol);
      let maxStep = 0;
      for (let k = 0; k < n; k++) {
        let s = 0;
        for (let r = 0; r < 6; r++) s += J[r * n + k] * this.sol[r];
        this.dq[k] = s;
        if (Math.abs(s) > maxStep) maxStep = Math.abs(s);
      }
      // a bounded step keeps the iteration on the seed's branch when the target is far away
      const scale = maxStep > 0.5 ? 0.5 / maxStep : 1;
      for (let k = 0; k < n; k++) q[k] += this.dq[k] * scale;
      for (let k = 0; k < n; k++) {
        const [lo, hi] = this.arm.links[k].range_rad;
        if (q[k] < lo) q[k] = lo;
        else if (q[k] > hi) q[k] = hi;
      }
    }
    return { q, position_error_m: pe, rotation_error_rad: re, converged: pe < tolP * 5 && re < tolR * 5 };
  }
}

function axisAngleMat(axis: Vec3, angle: number, out: Mat3): void {
  const c = Math.cos(angle),
    s = Math.sin(angle),
    t = 1 - c;
  const [x, y, z] = axis;
  out[0] = t * x * x + c;
  out[1] = t * x * y - s * z;
  out[2] = t * x * z + s * y;
  out[3] = t * x * y + s * z;
  out[4] = t * y * y + c;
  out[5] = t * y * z - s * x;
  out[6] = t * x * z - s * y;
  out[7] = t * y * z + s * x;
  out[8] = t * z * z + c;
}

/** Solve the 6x6 symmetric positive-definite system A x = b (A is overwritten). */
function solve6(A: Float64Array, b: Float64Array, x: Float64Array): void {
  // Cholesky in place
  for (let j = 0; j < 6; j++) {
    let d = A[j * 6 + j];
    for (let k = 0; k < j; k++) d -= A[j * 6 + k] * A[j * 6 + k];
    d = Math.sqrt(Math.max(d, 1e-12));
    A[j * 6 + j] = d;
    for (let i = j + 1; i < 6; i++) {
      let s = A[i * 6 + j];
      for (let k = 0; k < j; k++) s -= A[i * 6 + k] * A[j * 6 + k];
      A[i * 6 + j] = s / d;
    }
  }
  for (let i = 0; i < 6; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= A[i * 6 + k] * x[k];
    x[i] = s / A[i * 6 + i];
  }
  for (let i = 5; i >= 0; i--) {
    let s = x[i];
    for (let k = i + 1; k < 6; k++) s -= A[k * 6 + i] * x[k];
    x[i] = s / A[i * 6 + i];
  }
}
