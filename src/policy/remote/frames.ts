// A camera frame on its way to a remote policy: resized on the robot host to the model's input size with the
// manifest's own rule (the bilinear, half-pixel-centre resize the ONNX pre-processing uses, rounded to bytes),
// so the server feeds the model what a local run would; optionally JPEG for a slow link. Frames are copied into
// staging buffers of the client's (ZeroMQ sends them without copying, after infer() has returned, while the
// caller may already be reusing its own arrays); the client reuses a staging set once its request was answered,
// so a steady stream of requests allocates no frame memory (a fresh 450 KB per request made the robot host's
// main thread stop for a full GC every ~70 requests).
import { encodeJpegRgb } from '../../codecs/jpeg.js';
import { buildResizeMap, type ResizeMap, writeImageTensor } from '../onnx/preprocess.js';
import type { CameraImage } from '../policy.js';

export interface WireFrame {
  name: string;
  width: number;
  height: number;
  encoding: 'raw' | 'jpeg';
  data: Buffer;
}

export class FramePreparer {
  private readonly maps = new Map<string, ResizeMap>();

  /** @param jpeg_quality 1..100 to send JPEG; undefined sends raw RGB. */
  constructor(private readonly jpeg_quality: number | undefined) {}

  /** `stage`: where a raw frame goes (width x height x 3 bytes at the wanted size), when the caller has one. */
  prepare(img: CameraImage, want: { width: number; height: number }, stage?: Buffer): WireFrame {
    const { width, height } = want;
    const bytes = img.width * img.height * 3;
    if (!(img.width > 0 && img.height > 0) || img.rgb.length < bytes)
      throw new Error(
        `camera '${img.name}': expected ${bytes} bytes of ${img.width}x${img.height} RGB, found ${img.rgb.length}`,
      );
    const n = width * height * 3;
    const rgb = stage?.length === n ? stage : Buffer.allocUnsafe(n);
    if (img.width === width && img.height === height) rgb.set(img.rgb.subarray(0, bytes));
    else writeImageTensor(img.rgb, this.resizeMap(img, want), 'NHWC', rgb, undefined);
    if (this.jpeg_quality === undefined) return { name: img.name, width, height, encoding: 'raw', data: rgb };
    const data = encodeJpegRgb(width, height, rgb, this.jpeg_quality);
    return { name: img.name, width, height, encoding: 'jpeg', data };
  }

  private resizeMap(img: CameraImage, want: { width: number; height: number }): ResizeMap {
    const key = `${img.name}:${img.width}x${img.height}`;
    let map = this.maps.get(key);
    if (!map || map.dstW !== want.width || map.dstH !== want.height) {
      map = buildResizeMap(img.width, img.height, want.width, want.height);
      this.maps.set(key, map);
    }
    return map;
  }
}
