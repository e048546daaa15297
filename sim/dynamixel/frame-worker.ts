// Renders the emulator's camera frames off its main thread: ray casting a 224 px image takes tens of
// milliseconds, and the main thread must answer the serial bus within a few.
import { parentPort, workerData } from 'node:worker_threads';
import { SimCameraRig } from '../camera-rig.js';
import type { SimOptions, SimSnapshot } from '../sim-env.js';

export interface FrameJob {
  id: number;
  snapshot: SimSnapshot;
  camera: string;
  size: number;
}
export type FrameResult =
  | { id: number; rgb: Uint8Array; width: number; height: number }
  | { id: number; error: string };

const rig = await SimCameraRig.create(workerData as SimOptions);
parentPort!.on('message', (job: FrameJob | 'stop') => {
  if (job === 'stop') {
    rig.dispose();
    parentPort!.close();
    return;
  }
  try {
    const [img] = rig.render(job.snapshot, [{ name: job.camera, size: job.size }]);
    const rgb = Uint8Array.from(img.rgb);
    parentPort!.postMessage({ id: job.id, rgb, width: img.width, height: img.height } satisfies FrameResult, [
      rgb.buffer,
    ]);
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error).message } satisfies FrameResult);
  }
});
