// Forward kinematics from standard Denavit-Hartenberg parameters (the form UR publishes for its arms):
//   T_i = Rz(theta_i) * Tz(d_i) * Tx(a_i) * Rx(alpha_i)
// The flange's position feeds the Cartesian workspace box of the safety filter, which runs in the control thread
// every tick; the flange's pose and the geometric Jacobian feed a residual that corrects in the tool's frame. So
// nothing is allocated per call: one walk down the chain fills scratch buffers the accessors read.

/** An arm's standard DH parameters, one entry per joint (m, m, rad). */
export interface DhParameters {
  d_m: readonly number[];
  a_m: readonly number[];
  alpha_rad: readonly number[];
}

export class DhChain {
  readonly dof: number;
  /** The rotation so far, row-major: after a walk, the flange's orientation in the base frame. */
  private readonly rot = new Float64Array(9);
  private readonly next = new Float64Array(9);
  /** Per frame 0..dof: its origin and its z axis (joint i + 1 turns about frame i's z) in the base frame. */
  private readonly origins: Float64Array;
  private readonly axes: Float64Array;

  constructor(private readonly dh: DhParameters) {
    this.dof = dh.d_m.length;
    if (dh.a_m.length !== this.dof || dh.alpha_rad.length !== this.dof)
      throw new Error(`DH parameters: d_m, a_m and alpha_rad must have one value per joint (${this.dof})`);
    this.origins = new Float64Array(3 * (this.dof + 1));
    this.axes = new Float64Array(3 * (this.dof + 1));
  }

  /**
   * The flange's position in the base frame for joint angles `q` (the first `dof` values of `at`, indexed by
   * `index[j]` when given), written to `out` [x, y, z].
   */
  flange(at: ArrayLike<number>, out: Float64Array, index?: ArrayLike<number>): Float64Array {
    this.walk(at, index);
    const n = 3 * this.dof;
    out[0] = this.origins[n];
    out[1] = this.origins[n + 1];
    out[2] = this.origins[n + 2];
    return out;
  }

  /** The flange's position (`pos`, m) and orientation (`rot`, row-major 3x3, columns its axes) in the base frame. */
  pose(at: ArrayLike<number>, pos: Float64Array, rot: Float64Array, index?: ArrayLike<number>): void {
    this.flange(at, pos, index);
    rot.set(this.rot);
  }

  /**
   * The geometric Jacobian at `q` into `jac` (row-major, 6 x dof): rows 0-2 the flange's linear velocity, rows 3-5
   * its angular velocity, both in the base frame, per unit joint velocity. Also writes the pose like pose().
   */
  jacobian(
    at: ArrayLike<number>,
    jac: Float64Array,
    pos: Float64Array,
    rot: Float64Array,
    index?: ArrayLike<number>,
  ): void {
    this.pose(at, pos, rot, index);
    const n = this.dof;
    for (let j = 0; j < n; j++) {
      const zx = this.axes[3 * j];
      const zy = this.axes[3 * j + 1];
      const zz = this.axes[3 * j + 2];
      const rx = pos[0] - this.origins[3 * j];
      const ry = pos[1] - this.origins[3 * j + 1];
      const rz = pos[2] - this.origins[3 * j + 2];
      // a revolute joint: v = z x (p - o), w = z
      jac[j] = zy * rz - zz * ry;
      jac[n + j] = zz * rx - zx * rz;
      jac[2 * n + j] = zx * ry - zy * rx;
      jac[3 * n + j] = zx;
      jac[4 * n + j] = zy;
      jac[5 * n + j] = zz;
    }
  }

  private walk(at: ArrayLike<number>, index?: ArrayLike<number>): void {
    const r = this.rot;
    r.fill(0);
    r[0] = r[4] = r[8] = 1;
    let px = 0;
    let py = 0;
    let pz = 0;
    this.origins.fill(0, 0, 3);
    this.axes[0] = 0;
    this.axes[1] = 0;
    this.axes[2] = 1;
    for (let j = 0; j < this.dof; j++) {
      const q = at[index ? index[j] : j];
      const c = Math.cos(q);
      const s = Math.sin(q);
      const ca = Math.cos(this.dh.alpha_rad[j]);
      const sa = Math.sin(this.dh.alpha_rad[j]);
      const a = this.dh.a_m[j];
      // the joint's offset (a cos q, a sin q, d), turned into the base frame by the rotation so far
      const tx = a * c;
      const ty = a * s;
      const tz = this.dh.d_m[j];
      px += r[0] * tx + r[1] * ty + r[2] * tz;
      py += r[3] * tx + r[4] * ty + r[5] * tz;
      pz += r[6] * tx + r[7] * ty + r[8] * tz;
      // rotation so far times Rz(q) Rx(alpha) = [[c, -s ca, s sa], [s, c ca, -c sa], [0, sa, ca]]
      const n = this.next;
      for (let row = 0; row < 3; row++) {
        const r0 = r[row * 3];
        const r1 = r[row * 3 + 1];
        const r2 = r[row * 3 + 2];
        n[row * 3] = r0 * c + r1 * s;
        n[row * 3 + 1] = -r0 * s * ca + r1 * c * ca + r2 * sa;
        n[row * 3 + 2] = r0 * s * sa - r1 * c * sa + r2 * ca;
      }
      r.set(n);
      const o = 3 * (j + 1);
      this.origins[o] = px;
      this.origins[o + 1] = py;
      this.origins[o + 2] = pz;
      this.axes[o] = r[2];
      this.axes[o + 1] = r[5];
      this.axes[o + 2] = r[8];
    }
  }
}
