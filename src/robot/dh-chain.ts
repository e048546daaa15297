// Forward kinematics from standard Denavit-Hartenberg parameters (the form UR publishes for its arms):
//   T_i = Rz(theta_i) * Tz(d_i) * Tx(a_i) * Rx(alpha_i)
// Only the flange's position is computed, for the Cartesian workspace box of the safety filter, which runs in
// the control thread every tick: so nothing is allocated per call.

/** An arm's standard DH parameters, one entry per joint (m, m, rad). */
export interface DhParameters {
  d_m: readonly number[];
  a_m: readonly number[];
  alpha_rad: readonly number[];
}

export class DhChain {
  readonly dof: number;
  private readonly rot = new Float64Array(9);
  private readonly next = new Float64Array(9);

  constructor(private readonly dh: DhParameters) {
    this.dof = dh.d_m.length;
    if (dh.a_m.length !== this.dof || dh.alpha_rad.length !== this.dof)
      throw new Error(`DH parameters: d_m, a_m and alpha_rad must have one value per joint (${this.dof})`);
  }

  /**
   * The flange's position in the base frame for joint angles `q` (the first `dof` values of `at`, indexed by
   * `index[j]` when given), written to `out` [x, y, z].
   */
  flange(at: ArrayLike<number>, out: Float64Array, index?: ArrayLike<number>): Float64Array {
    const r = this.rot;
    r.fill(0);
    r[0] = r[4] = r[8] = 1;
    let px = 0;
    let py = 0;
    let pz = 0;
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
    }
    out[0] = px;
    out[1] = py;
    out[2] = pz;
    return out;
  }
}
