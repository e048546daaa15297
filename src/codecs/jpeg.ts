// JPEG -> packed RGB (jpeg-js, pure JavaScript): what most ROS camera drivers publish as CompressedImage.
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
