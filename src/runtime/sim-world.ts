// The embedded sim's world as the main thread sees it: cameras rendered from the control thread's scene
// snapshot (off the control thread), task state as the control thread read it. Episodes are reset and
// judged by the control thread's SimDriver, so reset() and success() are absent.
import { SimCameraRig } from '../../sim/camera-rig.js';
import type { TaskName } from '../../sim/tasks/task.js';
import type { SimDriverConfig } from './control-protocol.js';
import type { WorldLink } from './world-link.js';

export async function simWorld(cfg: SimDriverConfig, renderCameras: boolean): Promise<WorldLink> {
  const rig = renderCameras
    ? await SimCameraRig.create({ robot: cfg.robot, task: cfg.task as TaskName | undefined, physics_hz: cfg.physics_hz, control_hz: cfg.control_hz })
    : undefined;
  return {
    view(m, want) {
      const images = rig && m.snapshot ? rig.render(m.snapshot, want).map((f) => ({ ...f, t_mono_ms: m.t_mono_ms })) : [];
      return { images, task: m.task };
    },
    async close() { rig?.dispose(); },
  };
}
