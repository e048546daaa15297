// JPEG <-> packed RGB (jpeg-js, pure JavaScript): what most ROS camera drivers publish as CompressedImage, and
// what a remote policy's frames may travel as over a slow link.
import jpeg from 'jpeg-js';
import type { DecodedRgb } from './png.js';

/** Decodes a baseline or progressive JPEG; throws on corrupt data or an image above `max_megapixels`. */
export function decodeJpegRgb(bytes: Uint8Array, max_megapixels = 50): DecodedRgb {
  const { width, height, data } = jpeg.decode(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    maxResolutionInMP: max_megapixels,
  });
  return { width, height, rgb: data };
}

/** Packed RGB -> a baseline JPEG of the given quality (1..100). */
export function encodeJpegRgb(width: number, height: number, rgb: Uint8Array, quality: number): Buffer {
  const n = width * height;
  const rgba = Buffer.allocUnsafe(n * 4);
  for (let p = 0, s = 0, d = 0; p < n; p++, s += 3, d += 4) {
    rgba[d] = rgb[s];
    rgba[d + 1] = rgb[s + 1];
    rgba[d + 2] = rgb[s + 2];
    rgba[d + 3] = 255;
  }
  return jpeg.encode({ data: rgba, width, height }, quality).data as Buffer;
}
