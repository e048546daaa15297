// A local camera (V4L2, /dev/videoN) read through ffmpeg (ffmpeg-path.ts: the system's or the one shipped
// in npm) as a child process that writes raw RGB24 frames of a fixed size to its stdout; frames are cut
// by exact byte count. The input arguments are injectable so that tests (and users without a camera) can
// use ffmpeg's lavfi test source through the same path.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { type Observable, Subject } from 'rxjs';
import type { Logger } from '../../src/telemetry/log.js';
import { monotonicMs } from '../../src/util/clock.js';
import { CameraError, type CameraImage, type CameraSource } from './camera-source.js';
import { findFfmpeg, NO_FFMPEG_HELP } from './ffmpeg-path.js';
import { RawFrameSplitter } from './raw-frame-splitter.js';

export interface FfmpegCameraOptions {
  name: string;
  /** Output frame size; ffmpeg scales whatever the device delivers to it. */
  width: number;
  height: number;
  /** ffmpeg input arguments (default: v4l2InputArgs('/dev/video0')). */
  input_args?: string[];
  /** ffmpeg executable (default: findFfmpeg()). */
  ffmpeg_path?: string;
  /** How long start() waits for the first frame (default 5000 ms). */
  start_timeout_ms?: number;
  log?: Logger;
}

/** A V4L2 device, e.g. /dev/video0, captured at `size` when given (else the device's default mode). */
export function v4l2InputArgs(device: string, fps = 30, size?: { width: number; height: number }): string[] {
  return [
    '-f',
    'v4l2',
    '-framerate',
    String(fps),
    ...(size ? ['-video_size', `${size.width}x${size.height}`] : []),
    '-i',
    device,
  ];
}

/** One of ffmpeg's moving test patterns (lavfi): a camera for tests and dry runs. */
export function lavfiTestInputArgs(width: number, height: number, fps = 30, source = 'testsrc'): string[] {
  // -re: at the pattern's rate, as a device delivers (without it ffmpeg makes thousands a second)
  return ['-re', '-f', 'lavfi', '-i', `${source}=size=${width}x${height}:rate=${fps}`];
}

const STDERR_KEEP_CHARS = 2000;

export class FfmpegCamera implements CameraSource {
  readonly name: string;
  readonly frame$: Observable<CameraImage>;
  /** Why ffmpeg stopped on its own, if it did. */
  exit_reason: string | undefined;
  private readonly frames = new Subject<CameraImage>();
  private child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  private last: CameraImage | undefined;
  private seq = 0;
  private stderr = '';
  private stopping = false;

  constructor(private readonly opts: FfmpegCameraOptions) {
    this.name = opts.name;
    this.frame$ = this.frames.asObservable();
  }

  latest(): CameraImage | undefined {
    return this.last;
  }

  /** The input ffmpeg reads (the argument after -i), for messages. */
  get input(): string {
    const args = this.opts.input_args ?? v4l2InputArgs('/dev/video0');
    return args[args.indexOf('-i') + 1] ?? args.join(' ');
  }

  start(): Promise<CameraImage> {
    if (this.child) return Promise.reject(new CameraError(`camera '${this.name}' is already started`));
    const { width, height } = this.opts;
    const exe = this.opts.ffmpeg_path ?? findFfmpeg()?.path;
    if (!exe) return Promise.reject(new CameraError(`camera '${this.name}': ${NO_FFMPEG_HELP}`));
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      ...(this.opts.input_args ?? v4l2InputArgs('/dev/video0')),
      '-an',
      '-vf',
      `scale=${width}:${height}`,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ];
    const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const splitter = new RawFrameSplitter(width * height * 3, (rgb) => this.onFrame(rgb));
    child.stdout.on('data', (chunk: Buffer) => splitter.push(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-STDERR_KEEP_CHARS);
    });
    return this.firstFrame(child, exe);
  }

  /** Resolves with the first frame, or rejects with why ffmpeg gave none (not found, cannot read, too slow). */
  private firstFrame(child: ChildProcessByStdio<null, Readable, Readable>, exe: string): Promise<CameraImage> {
    return new Promise<CameraImage>((resolve, reject) => {
      let settled = false;
      const settle = (err: CameraError | undefined, frame?: CameraImage) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sub.unsubscribe();
        if (err) {
          this.kill();
          reject(err);
        } else resolve(frame!);
      };
      const timeoutMs = this.opts.start_timeout_ms ?? 5000;
      const timer = setTimeout(
        () =>
          settle(
            new CameraError(
              `camera '${this.name}': no frame from ${this.input} within ${timeoutMs} ms${this.stderrTail()}`,
            ),
          ),
        timeoutMs,
      );
      const sub = this.frames.subscribe((f) => settle(undefined, f));
      child.once('error', (err: NodeJS.ErrnoException) => {
        this.child = undefined;
        settle(
          new CameraError(
            err.code === 'ENOENT'
              ? `camera '${this.name}': ffmpeg not found at '${exe}'; ${NO_FFMPEG_HELP}`
              : `camera '${this.name}': cannot start ffmpeg ('${exe}'): ${err.message}`,
          ),
        );
      });
      child.once('exit', (code, signal) => {
        this.child = undefined;
        if (this.stopping) return;
        const why = `ffmpeg exited (${signal ?? `code ${code}`}) reading ${this.input}${this.stderrTail()}`;
        if (!settled) {
          settle(
            new CameraError(
              `camera '${this.name}': cannot read ${this.input}: ` +
                `${this.stderrLast() || `ffmpeg exited (${signal ?? `code ${code}`})`}`,
            ),
          );
          return;
        }
        // after a good start: no more frames; the runtime's stale-frame guard sees their age grow
        this.exit_reason = why;
        this.opts.log?.error({ camera: this.name }, why);
        this.frames.complete();
      });
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      this.kill();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    this.frames.complete();
  }

  private kill(): void {
    this.child?.kill('SIGTERM');
  }

  private onFrame(rgb: Uint8Array): void {
    this.last = {
      camera: this.name,
      width: this.opts.width,
      height: this.opts.height,
      rgb,
      t_mono_ms: monotonicMs(),
      seq: ++this.seq,
    };
    this.frames.next(this.last);
  }

  private stderrLast(): string {
    return this.stderr.trim().split('\n').filter(Boolean).at(-1) ?? '';
  }

  private stderrTail(): string {
    const last = this.stderrLast();
    return last ? ` (ffmpeg: ${last})` : '';
  }
}
