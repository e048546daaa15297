// Where a local camera comes from, as users write it on the command line or in a robot profile:
//   NAME=/dev/videoN[:WxH][@FPS]     a V4L2 device (any path), captured at WxH (default 640x480), FPS (30)
//   NAME=lavfi:SOURCE[:WxH][@FPS]    one of ffmpeg's test sources (testsrc, smptebars, ...): a stand-in
//                                    for a device, read through exactly the same path
// Frames reach the policy at WxH; its pre-processing resizes them to the model's input as the manifest says.
import { lavfiTestInputArgs, v4l2InputArgs } from './ffmpeg-camera.js';

export interface LocalCameraSpec {
  /** The camera's name in the policy's manifest. */
  name: string;
  /** The device path or lavfi:SOURCE, as written. */
  source: string;
  width: number;
  height: number;
  fps: number;
  /** ffmpeg's input arguments for it. */
  input_args: string[];
}

export class CameraSpecError extends Error {}

const SPEC = /^([A-Za-z0-9_]+)=((?:\/[^:@]+)|(?:lavfi:[a-z0-9_]+))(?::(\d+)x(\d+))?(?:@(\d+))?$/;
const DEFAULT = { width: 640, height: 480, fps: 30 };

export function parseCameraSpec(text: string): LocalCameraSpec {
  const m = SPEC.exec(text.trim());
  if (!m) {
    throw new CameraSpecError(
      `camera '${text}': expected NAME=/dev/videoN[:WxH][@FPS] or NAME=lavfi:testsrc[:WxH][@FPS], e.g. ` +
        `top=/dev/video0:640x480@30`,
    );
  }
  const [, name, source, w, h, f] = m;
  const width = w ? Number(w) : DEFAULT.width;
  const height = h ? Number(h) : DEFAULT.height;
  const fps = f ? Number(f) : DEFAULT.fps;
  if (width < 8 || height < 8 || width > 7680 || height > 4320)
    throw new CameraSpecError(`camera '${text}': size ${width}x${height} is outside 8x8 .. 7680x4320`);
  if (fps < 1 || fps > 240) throw new CameraSpecError(`camera '${text}': ${fps} frames per second is outside 1 .. 240`);
  const input_args = source.startsWith('lavfi:')
    ? lavfiTestInputArgs(width, height, fps, source.slice('lavfi:'.length))
    : v4l2InputArgs(source, fps, { width, height });
  return { name, source, width, height, fps, input_args };
}

/** Several specs; one camera name at most once. */
export function parseCameraSpecs(texts: string[]): LocalCameraSpec[] {
  const specs = texts.map(parseCameraSpec);
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new CameraSpecError(`camera '${s.name}' is given twice`);
    seen.add(s.name);
  }
  return specs;
}
