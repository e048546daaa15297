// The simulated cell's cameras, rendered away from the control loop: a second copy of the scene is put
// into the pose of a snapshot taken by the thread that steps the physics, and the cameras are cast
// there. Like real cameras, a slow one delays the observation, never a command.

import type { CameraFrame, RayCamera } from './camera.js';
import { SimEnv, type SimOptions, type SimSnapshot } from './sim-env.js';

export interface RenderedImage {
  name: string;
  width: number;
  height: number;
  /** Valid until the next render of the same camera and size (frames are reused, not reallocated). */
  rgb: Uint8Array;
}

export class SimCameraRig {
  private readonly cams = new Map<string, { cam: RayCamera; frame: CameraFrame }>();

  private constructor(private readonly env: SimEnv) {}

  static async create(opts: SimOptions): Promise<SimCameraRig> {
    return new SimCameraRig(await SimEnv.create(opts));
  }

  render(snapshot: SimSnapshot, cameras: { name: string; size: number }[]): RenderedImage[] {
    if (cameras.length === 0) return [];
    this.env.showSnapshot(snapshot);
    return cameras.map(({ name, size }) => {
      const key = `${name}@${size}`;
      let c = this.cams.get(key);
      if (!c) {
        const cam = this.env.camera(name, size);
        c = { cam, frame: cam.newFrame() };
        this.cams.set(key, c);
      }
      this.env.render(c.cam, c.frame);
      return { name, width: c.frame.width, height: c.frame.height, rgb: c.frame.rgb };
    });
  }

  dispose(): void {
    this.env.dispose();
  }
}
