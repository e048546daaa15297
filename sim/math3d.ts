// Small 3-D helpers on plain tuples and flat row-major 3x3 matrices. Quaternions are (w, x, y, z)
// as in MuJoCo. Kept dependency-free: the kinematics run inside the expert's per-chunk IK.

export type Vec3 = [number, number, number];
export type Quat = [number, number, number, number];
/** Row-major 3x3 rotation matrix. */
export type Mat3 = Float64Array;

export function quatFromAxisAngle(axis: Vec3, angle_rad: number): Quat {
  const n = Math.hypot(axis[0], axis[1], axis[2]);
  const s = Math.sin(angle_rad / 2) / n;
  return [Math.cos(angle_rad / 2), axis[0] * s, axis[1] * s, axis[2] * s];
}

export function mat3FromQuat(q: Quat, out: Mat3 = new Float64Array(9)): Mat3 {
  const [w, x, y, z] = q;
  out[0] = 1 - 2 * (y * y + z * z);
  out[1] = 2 * (x * y - w * z);
  out[2] = 2 * (x * z + w * y);
  out[3] = 2 * (x * y + w * z);
  out[4] = 1 - 2 * (x * x + z * z);
  out[5] = 2 * (y * z - w * x);
  out[6] = 2 * (x * z - w * y);
  out[7] = 2 * (y * z + w * x);
  out[8] = 1 - 2 * (x * x + y * y);
  return out;
}

export function quatFromMat3(m: ArrayLike<number>): Quat {
  const tr = m[0] + m[4] + m[8];
  let q: Quat;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    q = [0.25 * s, (m[7] - m[5]) / s, (m[2] - m[6]) / s, (m[3] - m[1]) / s];
  } else if (m[0] > m[4] && m[0] > m[8]) {
    const s = Math.sqrt(1 + m[0] - m[4] - m[8]) * 2;
    q = [(m[7] - m[5]) / s, 0.25 * s, (m[1] + m[3]) / s, (m[2] + m[6]) / s];
  } else if (m[4] > m[8]) {
    const s = Math.sqrt(1 + m[4] - m[0] - m[8]) * 2;
    q = [(m[2] - m[6]) / s, (m[1] + m[3]) / s, 0.25 * s, (m[5] + m[7]) / s];
  } else {
    const s = Math.sqrt(1 + m[8] - m[0] - m[4]) * 2;
    q = [(m[3] - m[1]) / s, (m[2] + m[6]) / s, (m[5] + m[7]) / s, 0.25 * s];
  }
  const n = Math.hypot(q[0], q[1], q[2], q[3]);
  return [q[0] / n, q[1] / n, q[2] / n, q[3] / n];
}

/** out = a * b (3x3, row-major). `out` must not alias `a` or `b`. */
export function mat3Mul(a: Mat3, b: Mat3, out: Mat3): Mat3 {
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      out[r * 3 + c] = a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
    }
  }
  return out;
}

/** out = m * v */
export function mat3MulVec(m: ArrayLike<number>, v: ArrayLike<number>, out: Vec3 | Float64Array): Vec3 | Float64Array {
  const x = v[0],
    y = v[1],
    z = v[2];
  out[0] = m[0] * x + m[1] * y + m[2] * z;
  out[1] = m[3] * x + m[4] * y + m[5] * z;
  out[2] = m[6] * x + m[7] * y + m[8] * z;
  return out;
}

/** Rotation vector (axis * angle) of R_a * R_b^T: the rotation that takes b onto a, in world frame. */
export function rotationError(a: Mat3, b: Mat3, out: Float64Array, offset = 0): void {
  // E = A * B^T
  const e = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      e[r * 3 + c] = a[r * 3] * b[c * 3] + a[r * 3 + 1] * b[c * 3 + 1] + a[r * 3 + 2] * b[c * 3 + 2];
    }
  }
  const cos = Math.min(1, Math.max(-1, (e[0] + e[4] + e[8] - 1) / 2));
  const angle = Math.acos(cos);
  let x = e[7] - e[5],
    y = e[2] - e[6],
    z = e[3] - e[1];
  const s = Math.hypot(x, y, z);
  if (s < 1e-9) {
    if (angle < 1e-6) {
      out[offset] = 0;
      out[offset + 1] = 0;
      out[offset + 2] = 0;
      return;
    }
    // angle ~ pi: axis from the diagonal of (E + I) / 2
    x = Math.sqrt(Math.max(0, (e[0] + 1) / 2));
    y = Math.sqrt(Math.max(0, (e[4] + 1) / 2)) * (e[1] >= 0 ? 1 : -1);
    z = Math.sqrt(Math.max(0, (e[8] + 1) / 2)) * (e[2] >= 0 ? 1 : -1);
    out[offset] = x * angle;
    out[offset + 1] = y * angle;
    out[offset + 2] = z * angle;
    return;
  }
  out[offset] = (x / s) * angle;
  out[offset + 1] = (y / s) * angle;
  out[offset + 2] = (z / s) * angle;
}

/** Rotation matrix whose columns are the given axes (each a unit vector). */
export function mat3FromColumns(x: Vec3, y: Vec3, z: Vec3): Mat3 {
  return new Float64Array([x[0], y[0], z[0], x[1], y[1], z[1], x[2], y[2], z[2]]);
}
