// Messages between the simulated cell and its camera render worker.

import type { RobotName } from '../robots/index.js';
import type { SimSnapshot } from '../sim-env.js';
import type { TaskName } from '../tasks/index.js';

export interface CameraRenderWorkerData {
  robot: RobotName;
  task: TaskName;
  physics_hz: number;
  control_hz: number;
  cameras: string[];
  /** Width and height of every image (px). */
  size: number;
}

export type CameraRenderRequest =
  | { type: 'render'; seq: number; wall_s: number; snapshot: SimSnapshot }
  | { type: 'stop' };

export type CameraRenderReply =
  | { type: 'ready' }
  | {
      type: 'frames';
      seq: number;
      wall_s: number;
      images: { name: string; width: number; height: number; png: Uint8Array }[];
    }
  | { type: 'error'; message: string };
