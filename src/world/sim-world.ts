// The embedded sim's world as the episode engine sees it. Episodes are reset and judged by the sim next to
// the control loop, so reset() and success() are absent here; what is here is the cameras and the
// privileged task state:
//  - in real time the physics steps in the control thread, which sends a snapshot of the scene with each
//    observation; the cameras are rendered from it here, off the control thread (a slow render delays an
//    observation, never a command);
//  - on the virtual clock the sim steps in this thread and nothing moves while an observation is taken,
//    so the cameras are rendered from the sim itself.

import type { CameraFrame } from '../../sim/camera.js';
import { SimCameraRig } from '../../sim/camera-rig.js';
import type { SimDriver } from '../../sim/sim-driver.js';
import type { SimOptions } from '../../sim/sim-env.js';
import type { WorldLink } from '../runtime/world-link.js';

/** Real time: render from the control thread's snapshots (no rig when the policy reads no camera). */
export async function snapshotWorld(sim: SimOptions, renderCameras: boolean): Promise<WorldLink> {
  const rig = renderCameras ? await SimCameraRig.create(sim) : undefined;
  return {
    view(m, want) {
      const images =
        rig && m.snapshot ? rig.render(m.snapshot, want).map((f) => ({ ...f, t_mono_ms: m.t_mono_ms })) : [];
      return { images, privileged: m.privileged };
    },
    async close() {
      rig?.dispose();
    },
  };
}

/** The virtual clock: render from the sim as it is now (the observation's tick). */
export function directWorld(driver: SimDriver): WorldLink {
  const frames = new Map<string, CameraFrame>();
  return {
    view(m, want) {
      const images = want.map(({ name, size }) => {
        const key = `${name}@${size}`;
        const f = driver.render(name, size, frames.get(key));
        frames.set(key, f);
        return { name, width: f.width, height: f.height, rgb: f.rgb, t_mono_ms: m.t_mono_ms };
      });
      return { images, privileged: m.privileged };
    },
    async close() {},
  };
}
