// --camera NAME=/dev/videoN[:WxH][@FPS] (repeatable) and the robot profile's camera sources: which cameras
// of the policy are read on this host, checked before anything moves (exit 2 names what is wrong).

import { CameraError } from '../../../drivers/cameras/camera-source.js';
import {
  CameraSpecError,
  type LocalCameraSpec,
  parseCameraSpec,
  parseCameraSpecs,
} from '../../../drivers/cameras/camera-spec.js';
import type { CameraSpec } from '../../robot/index.js';
import type { Logger } from '../../telemetry/log.js';
import { LocalCameras } from '../../world/local-cameras.js';
import { UsageError } from '../common.js';

export const CAMERA_FLAG_HELP =
  "NAME=/dev/videoN[:WxH][@FPS]: feed the policy's camera NAME from a V4L2 device on this host " +
  '(default 640x480@30; NAME=lavfi:testsrc stands in for a device); ' +
  'repeat per camera; the others keep their usual source';

/** commander's collector for a repeatable flag. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** --camera flags first, else the profile's cameras that name a source; only cameras the policy reads. */
export function localCameraSpecs(
  flags: string[],
  profileCameras: readonly CameraSpec[],
  policyCameras: string[],
  policyName: string,
): LocalCameraSpec[] {
  let specs: LocalCameraSpec[];
  try {
    specs = parseCameraSpecs(flags);
    for (const c of profileCameras) {
      if (c.source && !specs.some((s) => s.name === c.name)) specs.push(parseCameraSpec(`${c.name}=${c.source}`));
    }
  } catch (err) {
    if (err instanceof CameraSpecError) throw new UsageError(err.message);
    throw err;
  }
  for (const s of specs) {
    if (flags.length && !policyCameras.includes(s.name) && flags.some((f) => f.trim().startsWith(`${s.name}=`))) {
      throw new UsageError(
        `--camera ${s.name}: ${policyName} reads no camera '${s.name}' (it reads: ` +
          `${policyCameras.join(', ') || 'none'})`,
      );
    }
  }
  return specs.filter((s) => policyCameras.includes(s.name));
}

/** Start them (undefined when there are none); a camera that delivers nothing is bad input. */
export async function startLocalCameras(
  specs: LocalCameraSpec[],
  log: Logger | undefined,
): Promise<LocalCameras | undefined> {
  if (!specs.length) return undefined;
  try {
    return await LocalCameras.start(specs, log);
  } catch (err) {
    if (err instanceof CameraError) throw new UsageError(`${err.message}; nothing was commanded`);
    throw err;
  }
}
