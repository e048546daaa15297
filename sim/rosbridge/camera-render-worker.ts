// Worker thread of the simulated cell's cameras: renders snapshots of the physics thread's scene with
// the ray-cast cameras and encodes them to PNG, so that a frame never delays /joint_states.
import { parentPort, workerData } from 'node:worker_threads';
import { encodeRgbPng } from '../../src/codecs/png.js';
import { SimCameraRig } from '../camera-rig.js';
import type { CameraRenderReply, CameraRenderRequest, CameraRenderWorkerData } from './camera-render-protocol.js';

const data = workerData as CameraRenderWorkerData;
const port = parentPort!;

try {
  const rig = await SimCameraRig.create({
    robot: data.robot,
    task: data.task,
    physics_hz: data.physics_hz,
    control_hz: data.control_hz,
  });
  port.on('message', (req: CameraRenderRequest) => {
    if (req.type === 'stop') {
      rig.dispose();
      port.close();
      return;
    }
    try {
      const images = rig.render(
        req.snapshot,
        data.cameras.map((name) => ({ name, size: data.size })),
      );
      const reply: CameraRenderReply = {
        type: 'frames',
        seq: req.seq,
        wall_s: req.wall_s,
        images: images.map((im) => ({
          name: im.name,
          width: im.width,
          height: im.height,
          png: new Uint8Array(encodeRgbPng(im.width, im.height, im.rgb)),
        })),
      };
      port.postMessage(
        reply,
        reply.images.map((im) => im.png.buffer as ArrayBuffer),
      );
    } catch (err) {
      port.postMessage({ type: 'error', message: (err as Error).message } satisfies CameraRenderReply);
    }
  });
  port.postMessage({ type: 'ready' } satisfies CameraRenderReply);
} catch (err) {
  port.postMessage({
    type: 'error',
    message: `camera renderer failed to start: ${(err as Error).message}`,
  } satisfies CameraRenderReply);
}
