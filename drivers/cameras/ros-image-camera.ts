// A camera on a ROS topic (sensor_msgs/CompressedImage through rosbridge, roslib), e.g. the simulated
// cell's /camera/top/image_raw/compressed or a real camera driver's compressed republisher. PNG is
// decoded (pngjs); JPEG is not supported (no JPEG decoder among the dependencies): such a camera fails
// to start with a message saying so. Frames are stamped on arrival (monotonic), not by header.stamp.
import { Topic, type Ros } from '../ur/roslib.js';
import { Subject, type Observable } from 'rxjs';
import { CameraError, type CameraImage, type CameraSource } from './camera-source.js';
import { decodePngRgb } from '../../src/recording/png.js';
import { MSG_TYPES, uint8Data } from '../ur/ros-messages.js';
import { monotonicMs } from '../../src/util/clock.js';
import type { Logger } from '../../src/telemetry/log.js';

export interface RosImageCameraOptions {
  /** An open roslib connection (e.g. UrDriver.connection.ros): cameras share the driver's socket. */
  ros: Ros;
  name: string;
  /** e.g. cameraTopic(settings, 'top') from calibration/ros-settings.ts. */
  topic: string;
  /** Ask rosbridge for at most one frame per this many ms (default 0: every frame). */
  throttle_ms?: number;
  /** How long start() waits for the first frame (default 5000 ms). */
  start_timeout_ms?: number;
  log?: Logger;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];

export class RosImageCamera implements CameraSource {
  readonly name: string;
  readonly frame$: Observable<CameraImage>;
  /** Messages that could not be decoded (unsupported format, corrupt data). */
  decode_errors = 0;
  private readonly frames = new Subject<CameraImage>();
  private readonly failures = new Subject<CameraError>();
  private topic: Topic | undefined;
  private last: CameraImage | undefined;
  private seq = 0;

  constructor(private readonly opts: RosImageCameraOptions) {
    this.name = opts.name;
    this.frame$ = this.frames.asObservable();
  }

  latest(): CameraImage | undefined { return this.last; }

  start(): Promise<CameraImage> {
    if (this.topic) return Promise.reject(new CameraError(`camera '${this.name}' is already started`));
    this.topic = new Topic({
      ros: this.opts.ros, name: this.opts.topic, messageType: MSG_TYPES.compressed_image,
      throttle_rate: this.opts.throttle_ms ?? 0, queue_length: 1,
    });
    this.topic.subscribe((m) => this.onMessage(m));
    const timeoutMs = this.opts.start_timeout_ms ?? 5000;
    return new Promise<CameraImage>((resolve, reject) => {
      const done = (err?: CameraError, frame?: CameraImage) => {
        clearTimeout(timer);
        okSub.unsubscribe();
        errSub.unsubscribe();
        if (err) {
          void this.stop();
          reject(err);
        } else resolve(frame!);
      };
      const timer = setTimeout(() => done(new CameraError(`camera '${this.name}': no image on ${this.opts.topic} within ${timeoutMs} ms`)), timeoutMs);
      const okSub = this.frames.subscribe((f) => done(undefined, f));
      const errSub = this.failures.subscribe((e) => done(e));
    });
  }

  async stop(): Promise<void> {
    this.topic?.unsubscribe();
    this.topic = undefined;
    this.frames.complete();
  }

  private onMessage(msg: unknown): void {
    const t_mono_ms = monotonicMs();
    const m = msg as { format?: unknown; data?: unknown };
    let bytes: Uint8Array;
    try {
      bytes = uint8Data(m.data);
    } catch (err) {
      this.fail(`${this.opts.topic}: ${(err as Error).message}`);
      return;
    }
    if (!startsWith(bytes, PNG_MAGIC)) {
      const kind = startsWith(bytes, JPEG_MAGIC) ? 'JPEG' : `'${String(m.format)}'`;
      this.fail(`${this.opts.topic}: ${kind} images are not supported (only PNG); publish PNG (e.g. image_transport's png_level / compressed format png)`);
      return;
    }
    let rgb;
    try {
      rgb = decodePngRgb(bytes);
    } catch (err) {
      this.fail(`${this.opts.topic}: cannot decode PNG: ${(err as Error).message}`);
      return;
    }
    this.last = { camera: this.name, width: rgb.width, height: rgb.height, rgb: rgb.rgb, t_mono_ms, seq: ++this.seq };
    this.frames.next(this.last);
  }

  private fail(message: string): void {
    if (this.decode_errors++ % 100 === 0) this.opts.log?.warn({ camera: this.name }, message);
    this.failures.next(new CameraError(`camera '${this.name}': ${message}`));
  }
}

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}
