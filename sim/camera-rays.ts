// The geometry of a camera's rays: one per pixel through its centre, grouped in square tiles (camera.ts
// culls geoms per tile), and the small vector helpers the camera needs.

export interface RayLayout {
  /** Ray directions in the camera frame (x right, y up, looking down -z), unit length, tile by tile. */
  dirCam: Float64Array;
  /** Pixel index (row-major) of each ray. */
  pixelOf: Int32Array;
  /** Cosine between each ray and the optical axis, to turn ray distance into depth. */
  axisCos: Float32Array;
  /** Each tile's range of rays: [start, count]. */
  tiles: [number, number][];
}

export function rayLayout(width: number, height: number, tanX: number, tanY: number, tile_px: number): RayLayout {
  const n = width * height;
  const out: RayLayout = {
    dirCam: new Float64Array(3 * n),
    pixelOf: new Int32Array(n),
    axisCos: new Float32Array(n),
    tiles: [],
  };
  let k = 0;
  for (let r0 = 0; r0 < height; r0 += tile_px) {
    for (let c0 = 0; c0 < width; c0 += tile_px) {
      const start = k;
      for (let r = r0; r < Math.min(height, r0 + tile_px); r++) {
        for (let c = c0; c < Math.min(width, c0 + tile_px); c++, k++) {
          // pixel centres; row 0 is the top of the image
          const x = (((c + 0.5) / width) * 2 - 1) * tanX;
          const y = (1 - ((r + 0.5) / height) * 2) * tanY;
          const len = Math.hypot(x, y, 1);
          out.dirCam[3 * k] = x / len;
          out.dirCam[3 * k + 1] = y / len;
          out.dirCam[3 * k + 2] = -1 / len;
          out.axisCos[k] = 1 / len;
          out.pixelOf[k] = r * width + c;
        }
      }
      out.tiles.push([start, k - start]);
    }
  }
  return out;
}

export function rotate(R: Float64Array, v: Float64Array, out: Float64Array, n: number): void {
  for (let i = 0; i < 3 * n; i += 3) {
    const x = v[i],
      y = v[i + 1],
      z = v[i + 2];
    out[i] = R[0] * x + R[1] * y + R[2] * z;
    out[i + 1] = R[3] * x + R[4] * y + R[5] * z;
    out[i + 2] = R[6] * x + R[7] * y + R[8] * z;
  }
}

export function normalize(a: [number, number, number]): [number, number, number] {
  const l = Math.hypot(a[0], a[1], a[2]);
  return [a[0] / l, a[1] / l, a[2] / l];
}
