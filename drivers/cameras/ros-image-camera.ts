// A camera on a ROS topic (sensor_msgs/CompressedImage through rosbridge, roslib), e.g. the simulated
// cell's /camera/top/image_raw/compressed or a real camera driver's compressed republisher (JPEG, or
// PNG). Frames are stamped on arrival (monotonic), not by header.stamp. Decoding is lazy: a 640x480 JPEG
// costs ~20 ms in JavaScript, so only the frame the runtime asks for (latest(), a few times a second) is
// decoded, not each of the 30 a second that arrive.

import { type Observable, Subject } from 'rxjs';
import { MSG_TYPES, uint8Data } from '../../protocols/ros/messages.js';
import { decodeJpegRgb } from '../../src/codecs/jpeg.js';
import { type DecodedRgb, decodePngRgb } from '../../src/codecs/png.js';
import type { Logger } from '../../src/telemetry/log.js';
import { monotonicMs } from '../../src/util/clock.js';
import { type Ros, Topic } from '../ur/roslib.js';
import { CameraError, type CameraImage, type CameraSource, type FrameArrival } from './camera-source.js';

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

/** The newest message, decoded when someone asks for it. */
interface Pending {
  bytes: Uint8Array;
  kind: 'png' | 'jpeg';
  t_mono_ms: number;
  seq: number;
}

export class RosImageCamera implements CameraSource {
  readonly name: string;
  readonly frame$: Observable<FrameArrival>;
  /** Messages that could not be decoded (unsupported format, corrupt data). */
  decode_errors = 0;
  private readonly arrivals = new Subject<FrameArrival>();
  private readonly failures = new Subject<CameraError>();
  private topic: Topic | undefined;
  private pending: Pending | undefined;
  private last: CameraImage | undefined;
  private seq = 0;

  constructor(private readonly opts: RosImageCameraOptions) {
    this.name = opts.name;
    this.frame$ = this.arrivals.asObservable();
  }

  /** The newest frame that decodes (decoded now if it has not been yet). */
  latest(): CameraImage | undefined {
    const p = this.pending;
    if (p && p.seq !== this.last?.seq) {
      this.pending = undefined;
      const rgb = this.decode(p);
      if (rgb)
        this.last = {
          camera: this.name,
          width: rgb.width,
          height: rgb.height,
          rgb: rgb.rgb,
          t_mono_ms: p.t_mono_ms,
          seq: p.seq,
        };
    }
    return this.last;
  }

  start(): Promise<CameraImage> {
    if (this.topic) return Promise.reject(new CameraError(`camera '${this.name}' is already started`));
    this.topic = new Topic({
      ros: this.opts.ros,
      name: this.opts.topic,
      messageType: MSG_TYPES.compressed_image,
      throttle_rate: this.opts.throttle_ms ?? 0,
      queue_length: 1,
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
      const timer = setTimeout(
        () => done(new CameraError(`camera '${this.name}': no image on ${this.opts.topic} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      // the first frame must decode: a stream the runtime cannot read is refused before anything moves
      const okSub = this.arrivals.subscribe(() => {
        const f = this.latest();
        if (f) done(undefined, f);
      });
      const errSub = this.failures.subscribe((e) => done(e));
    });
  }

  async stop(): Promise<void> {
    this.topic?.unsubscribe();
    this.topic = undefined;
    this.arrivals.complete();
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
    const kind = startsWith(bytes, PNG_MAGIC) ? 'png' : startsWith(bytes, JPEG_MAGIC) ? 'jpeg' : undefined;
    if (!kind) {
      this.fail(
        `${this.opts.topic}: format '${String(m.format)}' is neither JPEG nor PNG (raw sensor_msgs/Image is not ` +
          `supported; publish the compressed transport)`,
      );
      return;
    }
    this.pending = { bytes, kind, t_mono_ms, seq: ++this.seq };
    this.arrivals.next({ camera: this.name, t_mono_ms, seq: this.seq });
  }

  private decode(p: Pending): DecodedRgb | undefined {
    try {
      return p.kind === 'png' ? decodePngRgb(p.bytes) : decodeJpegRgb(p.bytes);
    } catch (err) {
      this.fail(`${this.opts.topic}: cannot decode ${p.kind.toUpperCase()}: ${(err as Error).message}`);
      return undefined;
    }
  }

  private fail(message: string): void {
    if (this.decode_errors++ % 100 === 0) this.opts.log?.warn({ camera: this.name }, message);
    this.failures.next(new CameraError(`camera '${this.name}': ${message}`));
  }
}

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}
