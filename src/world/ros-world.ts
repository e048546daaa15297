// A UR cell's world as the runtime's main thread sees it, over its own rosbridge connection (the control
// thread has another one for joint states and commands, so camera traffic never queues behind a command):
//  - cameras: sensor_msgs/CompressedImage topics (RosImageCamera), stamped on arrival, so the runtime's
//    stale-image guard measures their age like any other camera's;
//  - episodes: only the simulated endpoint (vla-sim serve) has them: /vla_sim/reset with the seed, the
//    success topic, and the task state a scripted expert reads. It is recognised by its latched task
//    state. A real robot has none of these: there reset() and success() are absent, and a run is one
//    episode for --duration or until Ctrl-C.

import { cameraTopic, type RosSettings } from '../../calibration/ros-settings.js';
import { RosImageCamera } from '../../drivers/cameras/ros-image-camera.js';
import { RosConnection } from '../../drivers/ur/ros-connection.js';
import type { WorldLink } from '../runtime/world-link.js';
import type { Logger } from '../telemetry/log.js';
import { type PublishedTaskState, RosEpisodeLink } from './ros-episode-link.js';

export interface RosWorldOptions {
  url: string;
  settings: RosSettings;
  /** How long to wait for the simulated endpoint's latched task state before taking the far end for a real robot. */
  probe_ms?: number;
  log?: Logger;
}

/** After a reset, the control thread's connection must have seen the new pose before the episode starts (ms). */
const RESET_SETTLE_MS = 30;
const DEFAULT_PROBE_MS = 1500;

export class RosWorld {
  private readonly cameras: RosImageCamera[] = [];

  private constructor(
    readonly connection: RosConnection,
    private readonly settings: RosSettings,
    private link: RosEpisodeLink | undefined,
    /** The endpoint's task state at connect; undefined: a real robot (no simulated episodes). */
    readonly simTask: PublishedTaskState | undefined,
    private readonly log: Logger | undefined,
  ) {}

  /** Connect (RosConnectionError when refused: nothing moves) and find out whether this is the simulated endpoint. */
  static async open(opts: RosWorldOptions): Promise<RosWorld> {
    const s = opts.settings;
    const connection = await RosConnection.open({
      url: opts.url,
      connect_timeout_ms: s.connect_timeout_ms,
      reconnect_initial_ms: s.reconnect_initial_ms,
      reconnect_max_ms: s.reconnect_max_ms,
      log: opts.log,
    });
    let link: RosEpisodeLink | undefined = new RosEpisodeLink(connection.ros, s);
    const task = await until(() => link!.taskState(), opts.probe_ms ?? DEFAULT_PROBE_MS);
    if (!task) {
      link.close();
      link = undefined;
    }
    return new RosWorld(connection, s, link, task, opts.log);
  }

  get simEndpoint(): boolean {
    return this.link !== undefined;
  }

  /** The simulated endpoint's task state as last published (privileged: scripted experts and operators only). */
  taskState(): PublishedTaskState | undefined {
    return this.link?.taskState();
  }

  /** Subscribe to the cameras and wait for a first frame of each; CameraError says which one is missing. */
  async startCameras(names: string[], start_timeout_ms = 5000): Promise<void> {
    for (const name of names) {
      const cam = new RosImageCamera({
        ros: this.connection.ros,
        name,
        topic: cameraTopic(this.settings, name),
        start_timeout_ms,
        log: this.log,
      });
      await cam.start();
      this.cameras.push(cam);
    }
  }

  /** The runtime's view of this world. */
  worldLink(): WorldLink {
    const view: WorldLink['view'] = (_m) => ({
      images: this.cameras.flatMap((c) => {
        const f = c.latest();
        return f ? [{ name: c.name, width: f.width, height: f.height, rgb: f.rgb, t_mono_ms: f.t_mono_ms }] : [];
      }),
      privileged: this.link ? { task: this.link.taskState() } : undefined,
    });
    const close = () => this.close();
    const link = this.link;
    if (!link) return { view, close };
    return {
      view,
      close,
      success: () => link.success(),
      reset: async (seed) => {
        await link.reset(seed);
        // the new episode's task state comes before the service's answer; wait briefly if it did not
        await until(() => (link.taskState()?.seed === seed ? true : undefined), 2000);
        await new Promise((r) => setTimeout(r, RESET_SETTLE_MS));
      },
    };
  }

  async close(): Promise<void> {
    for (const c of this.cameras) await c.stop();
    this.link?.close();
    await this.connection.close();
  }
}

/** Poll `get` every 10 ms until it returns something or `timeout_ms` passes. */
async function until<T>(get: () => T | undefined, timeout_ms: number): Promise<T | undefined> {
  const end = performance.now() + timeout_ms;
  for (;;) {
    const v = get();
    if (v !== undefined || performance.now() >= end) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}
