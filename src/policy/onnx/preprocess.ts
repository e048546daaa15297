// Observation -> model tensors, and model output -> actions. A Preprocessor owns one buffer per
// model input, allocated once from the manifest and overwritten on every call, so the inference
// worker's hot path allocates nothing (the only exception: a camera whose frame size changes gets a
// new resize map once).
import type { ImageInputSpec, NormStatsT, OnnxManifest, TensorDType } from './manifest.js';
import { expectedInputs, imageDims } from './manifest.js';

/** Per-dimension affine map y = x * scale + shift. */
export interface Affine {
  scale: Float64Array;
  shift: Float64Array;
}

/** x -> the model's normalised space. */
export function normalizer(stats: NormStatsT, dim: number): Affine {
  const a: Affine = { scale: new Float64Array(dim).fill(1), shift: new Float64Array(dim) };
  for (let i = 0; i < dim; i++) {
    if (stats.kind === 'mean_std') {
      a.scale[i] = 1 / (stats.std[i] + stats.eps);
      a.shift[i] = -stats.mean[i] * a.scale[i];
    } else if (stats.kind === 'min_max') {
      a.scale[i] = 2 / (stats.max[i] - stats.min[i] + stats.eps);
      a.shift[i] = -stats.min[i] * a.scale[i] - 1;
    }
  }
  return a;
}

/** The model's normalised space -> x (the inverse of normalizer, without eps). */
export function unnormalizer(stats: NormStatsT, dim: number): Affine {
  const a: Affine = { scale: new Float64Array(dim).fill(1), shift: new Float64Array(dim) };
  for (let i = 0; i < dim; i++) {
    if (stats.kind === 'mean_std') {
      a.scale[i] = stats.std[i];
      a.shift[i] = stats.mean[i];
    } else if (stats.kind === 'min_max') {
      a.scale[i] = (stats.max[i] - stats.min[i]) / 2;
      a.shift[i] = (stats.max[i] + stats.min[i]) / 2;
    }
  }
  return a;
}

/** dst[r * dim + i] = src[r * dim + i] * scale[i] + shift[i] for every row; src and dst may alias. */
export function applyAffine(src: ArrayLike<number>, dst: Float32Array, a: Affine, rows: number, dim: number): void {
  for (let r = 0, k = 0; r < rows; r++) {
    for (let i = 0; i < dim; i++, k++) dst[k] = src[k] * a.scale[i] + a.shift[i];
  }
}

/**
 * Bilinear sampling positions with half-pixel centres (align_corners = false, as torchvision and
 * OpenCV's INTER_LINEAR without antialiasing), clamped at the borders. Offsets are in bytes of the
 * packed RGB source.
 */
export interface ResizeMap {
  srcW: number;
  srcH: number;
  dstW: number;
  dstH: number;
  x0: Int32Array;
  x1: Int32Array;
  wx: Float32Array;
  y0: Int32Array;
  y1: Int32Array;
  wy: Float32Array;
}

export function buildResizeMap(srcW: number, srcH: number, dstW: number, dstH: number): ResizeMap {
  const axis = (src: number, dst: number, stride: number): [Int32Array, Int32Array, Float32Array] => {
    const i0 = new Int32Array(dst);
    const i1 = new Int32Array(dst);
    const w = new Float32Array(dst);
    const ratio = src / dst;
    for (let d = 0; d < dst; d++) {
      const s = Math.min(Math.max((d + 0.5) * ratio - 0.5, 0), src - 1);
      const lo = Math.floor(s);
      i0[d] = lo * stride;
      i1[d] = Math.min(lo + 1, src - 1) * stride;
      w[d] = s - lo;
    }
    return [i0, i1, w];
  };
  const [x0, x1, wx] = axis(srcW, dstW, 3);
  const [y0, y1, wy] = axis(srcH, dstH, srcW * 3);
  return { srcW, srcH, dstW, dstH, x0, x1, wx, y0, y1, wy };
}

/** Per-channel v = byte * k[c] + b[c], folded from the manifest's scale/mean/std. */
export interface PixelAffine {
  k: Float32Array;
  b: Float32Array;
}

export function pixelAffine(img: ImageInputSpec): PixelAffine {
  const n = img.normalize ?? { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] };
  const k = new Float32Array(3);
  const b = new Float32Array(3);
  for (let c = 0; c < 3; c++) {
    k[c] = n.scale / n.std[c];
    b[c] = -n.mean[c] / n.std[c];
  }
  return { k, b };
}

/**
 * Packed RGB (srcW x srcH) -> one image tensor: resize, layout, and per-channel normalisation in one
 * pass. `px` is undefined for uint8 tensors (bytes are rounded, not normalised).
 */
export function writeImageTensor(
  src: Uint8Array,
  map: ResizeMap,
  layout: 'NCHW' | 'NHWC',
  dst: Float32Array | Uint8Array,
  px: PixelAffine | undefined,
): void {
  const { dstW, dstH, x0, x1, wx, y0, y1, wy } = map;
  const plane = dstW * dstH;
  // NCHW: channel c of pixel p is at c * plane + p; NHWC: at p * 3 + c
  const cStride = layout === 'NCHW' ? plane : 1;
  const pStride = layout === 'NCHW' ? 1 : 3;
  const k0 = px ? px.k[0] : 1,
    k1 = px ? px.k[1] : 1,
    k2 = px ? px.k[2] : 1;
  const b0 = px ? px.b[0] : 0,
    b1 = px ? px.b[1] : 0,
    b2 = px ? px.b[2] : 0;
  // uint8 targets round to nearest: Uint8Array assignment truncates, so add 0.5 first
  const r = px ? 0 : 0.5;
  if (map.srcW === dstW && map.srcH === dstH) {
    // no resize: a straight per-pixel affine (the common case when the sim renders at model size)
    for (let p = 0, s = 0; p < plane; p++, s += 3) {
      const o = p * pStride;
      dst[o] = src[s] * k0 + b0;
      dst[o + cStride] = src[s + 1] * k1 + b1;
      dst[o + 2 * cStride] = src[s + 2] * k2 + b2;
    }
    return;
  }
  for (let y = 0, p = 0; y < dstH; y++) {
    const r0 = y0[y],
      r1 = y1[y],
      fy = wy[y];
    for (let x = 0; x < dstW; x++, p++) {
      const a = r0 + x0[x],
        b = r0 + x1[x],
        c = r1 + x0[x],
        d = r1 + x1[x],
        fx = wx[x];
      const o = p * pStride;
      let top = src[a] + (src[b] - src[a]) * fx;
      let bot = src[c] + (src[d] - src[c]) * fx;
      dst[o] = (top + (bot - top) * fy) * k0 + b0 + r;
      top = src[a + 1] + (src[b + 1] - src[a + 1]) * fx;
      bot = src[c + 1] + (src[d + 1] - src[c + 1]) * fx;
      dst[o + cStride] = (top + (bot - top) * fy) * k1 + b1 + r;
      top = src[a + 2] + (src[b + 2] - src[a + 2]) * fx;
      bot = src[c + 2] + (src[d + 2] - src[c + 2]) * fx;
      dst[o + 2 * cStride] = (top + (bot - top) * fy) * k2 + b2 + r;
    }
  }
}

/**
 * Committed prefix -> [maxLen x dim] rows. Rows past the committed ones repeat the last committed
 * action; with nothing committed they repeat `hold` (the current position, which is what an
 * absolute-position robot holds). Never zeros: a zero row is the dataset-mean action in normalised
 * space, and a model would steer towards it. Returns how many rows are real.
 */
export function padCommittedPrefix(
  actions: Float32Array | undefined,
  count: number,
  dim: number,
  hold: Float32Array,
  dst: Float32Array,
  maxLen: number,
): number {
  const real = Math.max(0, Math.min(count, maxLen, actions ? Math.floor(actions.length / dim) : 0));
  if (real > 0) dst.set(actions!.subarray(0, real * dim));
  const last = real > 0 ? actions!.subarray((real - 1) * dim, real * dim) : hold;
  if (last.length !== dim)
    throw new Error(
      `committed prefix: expected the current state to have ${dim} values to pad with, found ${last.length}`,
    );
  for (let r = real; r < maxLen; r++) dst.set(last, r * dim);
  return real;
}

/** One model input's buffer, ready to be wrapped in a tensor once. */
export interface FeedBuffer {
  name: string;
  dtype: TensorDType;
  dims: number[];
  data: Float32Array | Uint8Array | BigInt64Array;
}

interface ImageSlot {
  spec: ImageInputSpec;
  data: Float32Array | Uint8Array;
  px: PixelAffine | undefined;
  map: ResizeMap | undefined;
}

/** What Preprocessor.write needs from an observation. */
export interface PreprocessInput {
  state: Float32Array;
  /** Frames in manifest image order. */
  frames: { rgb: Uint8Array; width: number; height: number }[];
  committed?: { actions: Float32Array; count: number };
}

export class Preprocessor {
  /** Every input the model takes, in manifest order; the data arrays never change identity. */
  readonly feeds: FeedBuffer[];
  /** Un-normalised actions land here ([horizon x dim]). */
  readonly horizon: number;
  readonly dim: number;
  private readonly images: ImageSlot[];
  private readonly stateNorm: Affine | undefined;
  private readonly actionNorm: Affine;
  private readonly actionUnnorm: Affine;

  constructor(private readonly manifest: OnnxManifest) {
    this.horizon = manifest.action.horizon;
    this.dim = manifest.action.dim;
    this.feeds = expectedInputs(manifest).map((t) => {
      const n = t.dims.reduce((a, b) => a * b, 1);
      const data =
        t.dtype === 'float32' ? new Float32Array(n) : t.dtype === 'uint8' ? new Uint8Array(n) : new BigInt64Array(n);
      return { name: t.name, dtype: t.dtype, dims: t.dims, data };
    });
    this.images = manifest.inputs.images.map((spec, i) => {
      const dims = imageDims(spec);
      if (this.feeds[i].dims.join() !== dims.join()) throw new Error('feed order does not match the image order');
      return {
        spec,
        data: this.feeds[i].data as Float32Array | Uint8Array,
        px: spec.dtype === 'float32' ? pixelAffine(spec) : undefined,
        map: undefined,
      };
    });
    const { state } = manifest.inputs;
    this.stateNorm = state ? normalizer(state.normalization, state.dim) : undefined;
    this.actionNorm = normalizer(manifest.action.normalization, this.dim);
    this.actionUnnorm = unnormalizer(manifest.action.normalization, this.dim);
    // language: the runtime has no tokenizer yet, so the token / embedding input stays all zeros
  }

  private feed(name: string | undefined): FeedBuffer {
    const f = this.feeds.find((x) => x.name === name);
    if (!f) throw new Error(`no feed named ${name}`);
    return f;
  }

  writeImage(index: number, rgb: Uint8Array, width: number, height: number): void {
    const slot = this.images[index];
    if (rgb.length < width * height * 3)
      throw new Error(
        `camera ${slot.spec.camera}: expected ${width * height * 3} bytes for ${width}x${height} RGB, found ` +
          `${rgb.length}`,
      );
    if (!slot.map || slot.map.srcW !== width || slot.map.srcH !== height) {
      slot.map = buildResizeMap(width, height, slot.spec.width, slot.spec.height);
    }
    writeImageTensor(rgb, slot.map, slot.spec.layout, slot.data, slot.px);
  }

  writeState(state: Float32Array): void {
    const spec = this.manifest.inputs.state;
    if (!spec || !this.stateNorm) return;
    if (state.length !== spec.dim) throw new Error(`state: expected ${spec.dim} values, found ${state.length}`);
    applyAffine(state, this.feed(spec.input).data as Float32Array, this.stateNorm, 1, spec.dim);
  }

  writeCommitted(committed: { actions: Float32Array; count: number } | undefined, state: Float32Array): void {
    const spec = this.manifest.inputs.committed;
    if (!spec) return;
    const dst = this.feed(spec.input).data as Float32Array;
    const real = padCommittedPrefix(committed?.actions, committed?.count ?? 0, this.dim, state, dst, spec.max_length);
    if (spec.normalized) applyAffine(dst, dst, this.actionNorm, spec.max_length, this.dim);
    if (spec.length_input) (this.feed(spec.length_input).data as BigInt64Array)[0] = BigInt(real);
  }

  write(input: PreprocessInput): void {
    if (input.frames.length !== this.images.length)
      throw new Error(`expected ${this.images.length} frames, found ${input.frames.length}`);
    for (let i = 0; i < this.images.length; i++) {
      const f = input.frames[i];
      this.writeImage(i, f.rgb, f.width, f.height);
    }
    this.writeState(input.state);
    this.writeCommitted(input.committed, input.state);
  }

  /** Model output ([horizon x dim], normalised) -> actions in robot units. */
  unnormalizeActions(output: ArrayLike<number>, dst: Float32Array): void {
    if (output.length !== this.horizon * this.dim)
      throw new Error(`output: expected ${this.horizon * this.dim} values, found ${output.length}`);
    applyAffine(output, dst, this.actionUnnorm, this.horizon, this.dim);
  }
}
