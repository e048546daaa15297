// Cameras attached to the robot host (V4L2 through ffmpeg) feeding the observation next to whatever the
// robot's world link provides (ROS image topics, the emulator's sim link): a local camera replaces the
// world's camera of the same name, so sources can be mixed per camera. Counts what each camera gave the
// policy, for the summary.

import type { LocalCameraSpec } from '../../drivers/cameras/camera-spec.js';
import { FfmpegCamera } from '../../drivers/cameras/ffmpeg-camera.js';
import type { CameraImage } from '../policy/policy.js';
import type { WorldLink } from '../runtime/world-link.js';
import type { Logger } from '../telemetry/log.js';
import { monotonicMs } from '../util/clock.js';

/** What one camera gave the policy during the run. */
export interface CameraUse {
  source: string;
  /** Distinct frames handed to the runtime for an observation (a stale one is then skipped). */
  frames_served: number;
  /** Age of the oldest frame handed over (ms). */
  max_age_ms: number;
}

export class LocalCameras {
  private readonly used = new Map<string, CameraUse & { last_seq: number }>();

  private constructor(
    private readonly cameras: FfmpegCamera[],
    private readonly specs: LocalCameraSpec[],
  ) {
    for (const s of specs)
      this.used.set(s.name, {
        source: `${s.source} ${s.width}x${s.height}@${s.fps}`,
        frames_served: 0,
        max_age_ms: 0,
        last_seq: 0,
      });
  }

  /** Start each camera and wait for its first frame; a CameraError names the one that does not deliver. */
  static async start(specs: LocalCameraSpec[], log?: Logger): Promise<LocalCameras> {
    const cameras: FfmpegCamera[] = [];
    try {
      for (const s of specs) {
        const cam = new FfmpegCamera({ name: s.name, width: s.width, height: s.height, input_args: s.input_args, log });
        cameras.push(cam);
        await cam.start();
      }
    } catch (err) {
      await Promise.all(cameras.map((c) => c.stop()));
      throw err;
    }
    return new LocalCameras(cameras, specs);
  }

  get names(): string[] {
    return this.specs.map((s) => s.name);
  }

  /** `world` with these cameras' frames in place of its own of the same name. */
  over(world: WorldLink): WorldLink {
    return {
      ...world,
      success: world.success?.bind(world),
      reset: world.reset?.bind(world),
      view: (m, want) => {
        const view = world.view(
          m,
          want.filter((w) => !this.used.has(w.name)),
        );
        const now = monotonicMs();
        const local = this.cameras.flatMap((c) => {
          const f = c.latest();
          return f && want.some((w) => w.name === c.name) ? [this.count(f, now)] : [];
        });
        return { ...view, images: [...view.images.filter((i) => !this.used.has(i.name)), ...local] };
      },
      close: async () => {
        await this.stop();
        await world.close();
      },
    };
  }

  /** Per camera: its source, the frames it gave the policy and the oldest one's age. */
  usage(): Record<string, CameraUse> {
    return Object.fromEntries(
      [...this.used].map(([name, { last_seq: _, ...u }]) => [name, { ...u, max_age_ms: Math.round(u.max_age_ms) }]),
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.cameras.map((c) => c.stop()));
  }

  private count(
    f: { camera: string; width: number; height: number; rgb: Uint8Array; t_mono_ms: number; seq: number },
    now: number,
  ): CameraImage {
    const u = this.used.get(f.camera)!;
    if (f.seq !== u.last_seq) {
      u.frames_served++;
      u.last_seq = f.seq;
    }
    u.max_age_ms = Math.max(u.max_age_ms, now - f.t_mono_ms);
    return { name: f.camera, width: f.width, height: f.height, rgb: f.rgb, t_mono_ms: f.t_mono_ms };
  }
}
