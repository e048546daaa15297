// The simulated cell's cameras on ROS: sensor_msgs/CompressedImage (PNG, base64 in rosbridge JSON) on
// <camera_prefix>/<name>/image_raw/compressed. Frames are rendered in a worker thread; a frame that is
// due while the previous one is still rendering is skipped, never queued, like a camera driver that
// drops frames rather than delivering old ones late.
import { Worker } from 'node:worker_threads';
import { cameraTopic, type RosSettings } from '../../calibration/ros-settings.js';
import { type CompressedImageMsg, header, MSG_TYPES } from '../../protocols/ros/messages.js';
import type { Logger } from '../../src/telemetry/log.js';
import type { SimSnapshot } from '../sim-env.js';
import type { CameraRenderReply, CameraRenderRequest, CameraRenderWorkerData } from './camera-render-protocol.js';
import type { RosbridgeServer, TopicPublisher } from './rosbridge-server.js';

export class SimCameraPublisher {
  frames_published = 0;
  /** Frames that were due while the previous one was still rendering. */
  frames_skipped = 0;
  private inFlight = false;
  private seq = 0;

  private constructor(
    private readonly worker: Worker,
    private readonly publishers: Map<string, TopicPublisher>,
    private readonly settings: RosSettings,
    private readonly log: Logger | undefined,
  ) {
    worker.on('message', (m: CameraRenderReply) => this.onReply(m));
    worker.on('error', (err) => log?.error({ err: err.message }, 'camera render worker failed'));
  }

  static async start(
    server: RosbridgeServer,
    data: CameraRenderWorkerData,
    settings: RosSettings,
    log?: Logger,
  ): Promise<SimCameraPublisher> {
    const worker = new Worker(new URL('./camera-render-worker.js', import.meta.url), { workerData: data });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (m: CameraRenderReply) =>
        m.type === 'ready'
          ? resolve()
          : reject(new Error(m.type === 'error' ? m.message : 'camera worker: unexpected first message')),
      );
      worker.once('error', reject);
    });
    const publishers = new Map(
      data.cameras.map((name) => [name, server.advertise(cameraTopic(settings, name), MSG_TYPES.compressed_image)]),
    );
    return new SimCameraPublisher(worker, publishers, settings, log);
  }

  /** Whether anybody listens: rendering for nobody would only burn CPU. */
  get wanted(): boolean {
    for (const p of this.publishers.values()) if (p.subscribers > 0) return true;
    return false;
  }

  /** A frame is due: render this snapshot, unless the previous frame is still being rendered. */
  request(snapshot: SimSnapshot, wall_s: number): void {
    if (this.inFlight) {
      this.frames_skipped++;
      return;
    }
    this.inFlight = true;
    this.worker.postMessage({ type: 'render', seq: this.seq++, wall_s, snapshot } satisfies CameraRenderRequest);
  }

  async stop(): Promise<void> {
    this.worker.postMessage({ type: 'stop' } satisfies CameraRenderRequest);
    await this.worker.terminate();
  }

  private onReply(m: CameraRenderReply): void {
    if (m.type === 'error') {
      this.inFlight = false;
      this.log?.warn({ err: m.message }, 'camera frame not rendered');
      return;
    }
    if (m.type !== 'frames') return;
    this.inFlight = false;
    for (const im of m.images) {
      const msg: CompressedImageMsg = {
        header: header(this.settings.layout, m.wall_s, m.seq, `${im.name}_optical_frame`),
        format: 'png',
        data: Buffer.from(im.png.buffer, im.png.byteOffset, im.png.byteLength).toString('base64'),
      };
      this.publishers.get(im.name)?.publish(msg);
      this.frames_published++;
    }
  }
}
