// Camera frames for an openpi server, prepared on the robot host the way openpi's own client prepares them
// (openpi_client.image_tools.resize_with_pad, a PIL port of tf.image.resize_with_pad), so a model sees what it
// was trained on, aspect ratio kept:
//   ratio = max(w / W, h / H); the frame is resized to (int(w / ratio), int(h / ratio)) with PIL's BILINEAR
//   filter and pasted on a black W x H canvas at (int((W - w') / 2), int((H - h') / 2)); a frame already W x H
//   passes unchanged.
// PIL's BILINEAR is a separable triangle filter whose support widens with the downscale factor (so shrinking
// averages, no aliasing), horizontal pass first, then vertical, each rounded to bytes through 22-bit fixed-point
// weights. This file follows that arithmetic so the bytes match PIL's.
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;

/** Per output pixel along one axis: first input index, tap count, and `ksize` fixed-point weights. */
interface AxisCoeffs {
  first: Int32Array;
  count: Int32Array;
  ksize: number;
  k: Int32Array;
}

function axisCoeffs(inSize: number, outSize: number): AxisCoeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale; // the triangle's support is 1 at scale 1
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < n; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      w[x] = t < 1 ? 1 - t : 0;
      ww += w[x];
    }
    for (let x = 0; x < n; x++) {
      const v = (ww !== 0 ? w[x] / ww : w[x]) * ONE;
      k[xx * ksize + x] = v < 0 ? Math.trunc(v - 0.5) : Math.trunc(v + 0.5);
    }
    first[xx] = xmin;
    count[xx] = n;
  }
  return { first, count, ksize, k };
}

const clip8 = (v: number): number => {
  const r = v >> PRECISION_BITS;
  return r < 0 ? 0 : Math.min(r, 255);
};

/** One pass along x (rows stay): src is w x h RGB, the result outW x h. */
function passX(src: Uint8Array, w: number, h: number, c: AxisCoeffs, outW: number): Uint8Array {
  const out = new Uint8Array(outW * h * 3);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let xx = 0; xx < outW; xx++) {
      const k0 = xx * c.ksize;
      const base = row + c.first[xx] * 3;
      let r = HALF,
        g = HALF,
        b = HALF;
      for (let x = 0; x < c.count[xx]; x++) {
        const kv = c.k[k0 + x];
        const s = base + x * 3;
        r += src[s] * kv;
        g += src[s + 1] * kv;
        b += src[s + 2] * kv;
      }
      const o = (y * outW + xx) * 3;
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
  }
  return out;
}

/** One pass along y (columns stay): src is w x h RGB, the result w x outH. */
function passY(src: Uint8Array, w: number, c: AxisCoeffs, outH: number): Uint8Array {
  const out = new Uint8Array(w * outH * 3);
  const stride = w * 3;
  for (let yy = 0; yy < outH; yy++) {
    const k0 = yy * c.ksize;
    const top = c.first[yy] * stride;
    for (let x = 0; x < stride; x++) {
      let v = HALF;
      for (let y = 0; y < c.count[yy]; y++) v += src[top + y * stride + x] * c.k[k0 + y];
      out[yy * stride + x] = clip8(v);
    }
  }
  return out;
}

/** The size openpi resizes a w x h frame to before padding it to W x H. */
export function padResizeSize(w: number, h: number, W: number, H: number): { width: number; height: number } {
  const ratio = Math.max(w / W, h / H);
  return { width: Math.trunc(w / ratio), height: Math.trunc(h / ratio) };
}

/**
 * Packed RGB frames to W x H with openpi's resize_with_pad rule (see the file header); the weights for each
 * source size are computed once and kept.
 */
export class PadResizer {
  private readonly cache = new Map<string, { x?: AxisCoeffs; y?: AxisCoeffs }>();

  resize(rgb: Uint8Array, w: number, h: number, W: number, H: number): Uint8Array {
    if (!(w > 0 && h > 0) || rgb.length < w * h * 3)
      throw new Error(`expected ${w * h * 3} bytes of ${w}x${h} RGB, found ${rgb.length}`);
    if (w === W && h === H) return rgb.slice(0, w * h * 3);
    const { width: rw, height: rh } = padResizeSize(w, h, W, H);
    if (rw < 1 || rh < 1) throw new Error(`a ${w}x${h} frame is too narrow to resize to ${W}x${H} with padding`);
    const key = `${w}x${h}>${rw}x${rh}`;
    let c = this.cache.get(key);
    if (!c) {
      c = { x: rw !== w ? axisCoeffs(w, rw) : undefined, y: rh !== h ? axisCoeffs(h, rh) : undefined };
      this.cache.set(key, c);
    }
    let img = rgb.subarray(0, w * h * 3);
    if (c.x) img = passX(img, w, h, c.x, rw);
    if (c.y) img = passY(img, rw, c.y, rh);
    const out = new Uint8Array(W * H * 3);
    const left = Math.trunc((W - rw) / 2);
    const top = Math.trunc((H - rh) / 2);
    for (let y = 0; y < rh; y++) out.set(img.subarray(y * rw * 3, (y + 1) * rw * 3), ((top + y) * W + left) * 3);
    return out;
  }
}

/** HxWx3 -> 3xHxW (the channel-first layout some openpi policies, ALOHA's, take). */
export function hwcToChw(hwc: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  const plane = w * h;
  for (let p = 0; p < plane; p++) {
    out[p] = hwc[p * 3];
    out[plane + p] = hwc[p * 3 + 1];
    out[2 * plane + p] = hwc[p * 3 + 2];
  }
  return out;
}

/** 3xHxW -> HxWx3. */
export function chwToHwc(chw: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  const plane = w * h;
  for (let p = 0; p < plane; p++) {
    out[p * 3] = chw[p];
    out[p * 3 + 1] = chw[plane + p];
    out[p * 3 + 2] = chw[2 * plane + p];
  }
  return out;
}
