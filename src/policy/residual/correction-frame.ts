// What the residual's unit correction u means. In the joint frame each arm dimension is one joint, moved by up to
// its bound (rad). In the tool frame the arm's dimensions are the flange's motion in the robot's base frame, a
// translation [x, y, z] (m) and then a rotation vector [rx, ry, rz] (rad), mapped to the joints through the arm's
// kinematics at the base action: a push's precision is Cartesian (pads on a 5 cm face), and in the joint frame six
// joints must agree to give it. Grippers are the same in both: a fraction of their 0..1 range. Nothing here
// allocates per call: the control tick and the fine-tuner's operator call it at every decision.
import { DhChain, isGripperAction, type RobotDescription } from '../../robot/index.js';
import type { ResidualManifest } from './residual-manifest.js';

export interface CorrectionFrame {
  /** The change to the base action `base` (action layout) that the unit correction u asks for, into `out`. */
  delta(base: ArrayLike<number>, u: ArrayLike<number>, out: Float64Array): void;
  /** The unit correction that takes `base` toward `want` (both action layout), each dimension clipped to [-1, 1]. */
  unitToward(base: ArrayLike<number>, want: ArrayLike<number>, out: Float64Array): void;
}

export const TOOL_DIMENSIONS = ['tool_x_m', 'tool_y_m', 'tool_z_m', 'tool_rx_rad', 'tool_ry_rad', 'tool_rz_rad'];
/** The tool frame's default cap on the joint change one correction maps to (near a singularity the map grows). */
export const DEFAULT_MAX_JOINT_RAD = (10 * Math.PI) / 180;
/** Damping of the least-squares map from a tool motion to the joints (m or rad): keeps it finite at a singularity. */
const DAMPING = 0.01;

/** Why this robot cannot take a tool-frame residual, or null when it can. */
export function toolFrameProblem(desc: RobotDescription): string | null {
  if (!desc.dh) return `${desc.robot}'s profile has no kinematics (kinematics.dh): only a joint-frame residual`;
  if (desc.joint_names.length !== TOOL_DIMENSIONS.length)
    return `a tool-frame residual needs one arm of 6 joints; ${desc.robot} has ${desc.joint_names.length}`;
  return null;
}

/** The names of u's dimensions in a frame, in the action layout's slots (the tool frame's arm slots: tool_x_m ...). */
export function correctionNames(desc: RobotDescription, frame: 'joint' | 'tool' | undefined): readonly string[] {
  if (frame !== 'tool') return desc.action_names;
  return desc.action_names.map((name, i) => {
    const j = desc.action_source[i];
    return j >= 0 ? TOOL_DIMENSIONS[j] : name;
  });
}

export function correctionFrame(
  desc: RobotDescription,
  m: Pick<ResidualManifest, 'scale' | 'frame' | 'max_joint_rad'>,
): CorrectionFrame {
  if (m.frame !== 'tool') return new JointFrame(Float64Array.from(m.scale));
  const problem = toolFrameProblem(desc);
  if (problem) throw new Error(problem);
  return new ToolFrame(desc, Float64Array.from(m.scale), m.max_joint_rad ?? DEFAULT_MAX_JOINT_RAD);
}

const clip1 = (x: number) => Math.max(-1, Math.min(1, x));

class JointFrame implements CorrectionFrame {
  constructor(private readonly scale: Float64Array) {}

  delta(_base: ArrayLike<number>, u: ArrayLike<number>, out: Float64Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.scale[i] * u[i];
  }

  unitToward(base: ArrayLike<number>, want: ArrayLike<number>, out: Float64Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.scale[i] > 0 ? clip1((want[i] - base[i]) / this.scale[i]) : 0;
  }
}

class ToolFrame implements CorrectionFrame {
  private readonly chain: DhChain;
  /** For each arm joint j, its slot in the action layout (tool dimension j sits there too). */
  private readonly slot: Int32Array;
  private readonly grippers: Int32Array;
  private readonly jac = new Float64Array(36);
  private readonly m = new Float64Array(36);
  private readonly v = new Float64Array(6);
  private readonly dq = new Float64Array(6);
  private readonly p0 = new Float64Array(3);
  private readonly r0 = new Float64Array(9);
  private readonly p1 = new Float64Array(3);
  private readonly r1 = new Float64Array(9);

  constructor(
    desc: RobotDescription,
    private readonly scale: Float64Array,
    private readonly max_joint_rad: number,
  ) {
    this.chain = new DhChain(desc.dh as NonNullable<RobotDescription['dh']>);
    this.slot = Int32Array.from(desc.joint_names, (_, j) => desc.action_source.indexOf(j));
    this.grippers = Int32Array.from({ length: desc.action_names.length }, (_, i) => i).filter((i) =>
      isGripperAction(desc, i),
    );
  }

  /** dq = J^T (J J^T + damping^2 I)^-1 v: the least joint motion giving the tool motion v, then capped per joint. */
  delta(base: ArrayLike<number>, u: ArrayLike<number>, out: Float64Array): void {
    const { jac: J, m, v, dq, slot } = this;
    this.chain.jacobian(base, J, this.p0, this.r0, slot);
    for (let d = 0; d < 6; d++) v[d] = this.scale[slot[d]] * u[slot[d]];
    for (let r = 0; r < 6; r++)
      for (let c = 0; c < 6; c++) {
        let s = r === c ? DAMPING * DAMPING : 0;
        for (let k = 0; k < 6; k++) s += J[r * 6 + k] * J[c * 6 + k];
        m[r * 6 + c] = s;
      }
    solve6(m, v);
    for (let j = 0; j < 6; j++) {
      let s = 0;
      for (let r = 0; r < 6; r++) s += J[r * 6 + j] * v[r];
      dq[j] = Math.max(-this.max_joint_rad, Math.min(this.max_joint_rad, s));
    }
    for (let j = 0; j < 6; j++) out[slot[j]] = dq[j];
    for (let i = 0; i < this.grippers.length; i++) {
      const g = this.grippers[i];
      out[g] = this.scale[g] * u[g];
    }
  }

  unitToward(base: ArrayLike<number>, want: ArrayLike<number>, out: Float64Array): void {
    const { p0, r0, p1, r1, slot, v } = this;
    this.chain.pose(base, p0, r0, slot);
    this.chain.pose(want, p1, r1, slot);
    for (let d = 0; d < 3; d++) v[d] = p1[d] - p0[d];
    rotationVector(r1, r0, v);
    for (let d = 0; d < 6; d++) {
      const s = this.scale[slot[d]];
      out[slot[d]] = s > 0 ? clip1(v[d] / s) : 0;
    }
    for (let i = 0; i < this.grippers.length; i++) {
      const g = this.grippers[i];
      out[g] = this.scale[g] > 0 ? clip1((want[g] - base[g]) / this.scale[g]) : 0;
    }
  }
}

/**
 * The rotation vector (axis x angle, base frame) turning orientation a0 into a1 (row-major 3x3), written to
 * out[3..5]: the log of a1 a0^T.
 */
function rotationVector(a1: Float64Array, a0: Float64Array, out: Float64Array): void {
  // R = a1 a0^T: only its trace and its antisymmetric part are needed
  const sx = (entry(a1, a0, 2, 1) - entry(a1, a0, 1, 2)) / 2;
  const sy = (entry(a1, a0, 0, 2) - entry(a1, a0, 2, 0)) / 2;
  const sz = (entry(a1, a0, 1, 0) - entry(a1, a0, 0, 1)) / 2;
  const sin = Math.hypot(sx, sy, sz);
  const cos = (entry(a1, a0, 0, 0) + entry(a1, a0, 1, 1) + entry(a1, a0, 2, 2) - 1) / 2;
  const k = sin > 1e-12 ? Math.atan2(sin, cos) / sin : 1;
  out[3] = k * sx;
  out[4] = k * sy;
  out[5] = k * sz;
}

/** Entry (r, c) of a1 a0^T. */
function entry(a1: Float64Array, a0: Float64Array, r: number, c: number): number {
  return a1[r * 3] * a0[c * 3] + a1[r * 3 + 1] * a0[c * 3 + 1] + a1[r * 3 + 2] * a0[c * 3 + 2];
}

/** Solves the 6 x 6 system m x = b in place (b becomes x), Gaussian elimination with partial pivoting. */
function solve6(m: Float64Array, b: Float64Array): void {
  for (let c = 0; c < 6; c++) {
    let p = c;
    for (let r = c + 1; r < 6; r++) if (Math.abs(m[r * 6 + c]) > Math.abs(m[p * 6 + c])) p = r;
    if (p !== c) {
      for (let k = 0; k < 6; k++) {
        const t = m[c * 6 + k];
        m[c * 6 + k] = m[p * 6 + k];
        m[p * 6 + k] = t;
      }
      const t = b[c];
      b[c] = b[p];
      b[p] = t;
    }
    for (let r = c + 1; r < 6; r++) {
      const f = m[r * 6 + c] / m[c * 6 + c];
      for (let k = c; k < 6; k++) m[r * 6 + k] -= f * m[c * 6 + k];
      b[r] -= f * b[c];
    }
  }
  for (let r = 5; r >= 0; r--) {
    let s = b[r];
    for (let k = r + 1; k < 6; k++) s -= m[r * 6 + k] * b[k];
    b[r] = s / m[r * 6 + r];
  }
}
