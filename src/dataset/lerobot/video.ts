// Camera videos of a LeRobot dataset, through ffmpeg (the system's, $FFMPEG_PATH, or the static build of
// @ffmpeg-installer/ffmpeg). Decoding takes one episode's frames out of a file that may hold many (v3.0: an episode
// starts at its from_timestamp); encoding streams raw RGB frames into one mp4 per camera and file.
// The lossless default is H.264 in RGB (libx264rgb, -qp 0, rgb24 in, High 4:4:4 Predictive, decoded as gbrp):
// every frame reads back byte-identical. LeRobot decodes with torchcodec or PyAV, both FFmpeg, which convert it
// to RGB like any other stream; its own encoder writes lossy yuv420p (libsvtav1/h264/hevc, crf 30, g 2), which
// --video-codec h264|av1 follows for smaller files.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { findFfmpeg, NO_FFMPEG_HELP } from '../../../drivers/cameras/ffmpeg-path.js';
import { EpisodeFileError } from '../../recording/errors.js';

export const VIDEO_CODECS = ['lossless', 'h264', 'av1'] as const;
export type VideoCodecName = (typeof VIDEO_CODECS)[number];

interface CodecSetting {
  /** ffmpeg output options. */
  args: readonly string[];
  /** What a reader of the file sees (LeRobot's info "video.codec" and "video.pix_fmt"). */
  codec: string;
  pix_fmt: string;
  /** yuv420p halves the chroma planes: width and height must be even. */
  even: boolean;
  /** For the summary: the encoder and its settings. */
  label: string;
}

/** Keyframe every 2 frames, as LeRobot's encoder does, so a training loader seeks cheaply. */
export const DEFAULT_GOP = 2;

export const CODEC_SETTINGS: Readonly<Record<VideoCodecName, CodecSetting>> = {
  lossless: {
    args: ['-c:v', 'libx264rgb', '-qp', '0', '-pix_fmt', 'rgb24'],
    codec: 'h264',
    pix_fmt: 'gbrp',
    even: false,
    label: 'libx264rgb -qp 0, rgb24 (lossless)',
  },
  h264: {
    args: ['-c:v', 'libx264', '-crf', '30', '-pix_fmt', 'yuv420p'],
    codec: 'h264',
    pix_fmt: 'yuv420p',
    even: true,
    label: 'libx264 -crf 30, yuv420p (lossy)',
  },
  av1: {
    args: [
      '-c:v',
      'libaom-av1',
      '-strict',
      'experimental',
      '-crf',
      '30',
      '-b:v',
      '0',
      '-cpu-used',
      '8',
      '-pix_fmt',
      'yuv420p',
    ],
    codec: 'av1',
    pix_fmt: 'yuv420p',
    even: true,
    label: 'libaom-av1 -crf 30, yuv420p (lossy)',
  },
};

/** The ffmpeg to run, or an error that says how to get one. */
export function ffmpegPath(): string {
  const found = findFfmpeg();
  if (!found) throw new Error(NO_FFMPEG_HELP);
  return found.path;
}

/** Why ffmpeg did not start. */
function spawnProblem(err: NodeJS.ErrnoException): string {
  return err.code === 'ENOENT'
    ? `ffmpeg not found at '${err.path}'; ${NO_FFMPEG_HELP}`
    : `cannot run ffmpeg (${err.message})`;
}

/** The last lines ffmpeg wrote to stderr: its reason, without the noise. */
const lastLines = (text: string): string => text.trim().split('\n').slice(-2).join('; ').slice(0, 400);

export interface DecodeRequest {
  path: string;
  /** Where the episode starts in the file (s). */
  from_s: number;
  /** Frames to take from there on. */
  frames: number;
  width: number;
  height: number;
  fps: number;
}

/**
 * The `frames` RGB frames of one episode. ffmpeg seeks half a frame before from_s (accurate seek: decodes from the
 * keyframe before and drops frames earlier than the seek point), so the first frame is the one at from_s even when
 * from_s was rounded. A file that ends early or does not decode is an EpisodeFileError naming it.
 */
export function decodeFrames(req: DecodeRequest): Promise<Uint8Array[]> {
  const frameBytes = req.width * req.height * 3;
  const total = frameBytes * req.frames;
  const seek = Math.max(0, req.from_s - 0.5 / req.fps);
  // info level: the input's stream line says its frame size, checked against what info.json says
  const args = ['-hide_banner', '-loglevel', 'info', '-nostats', '-nostdin', '-ss', seek.toFixed(6), '-i', req.path];
  args.push('-frames:v', String(req.frames), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  return new Promise((resolve, reject) => {
    if (req.frames === 0) return resolve([]);
    const child = spawn(ffmpegPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = Buffer.allocUnsafe(total);
    let got = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const n = Math.min(chunk.length, total - got);
      chunk.copy(out, got, 0, n);
      got += n;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 20000) stderr += chunk.toString();
    });
    child.on('error', (err) => reject(new EpisodeFileError(req.path, spawnProblem(err))));
    child.on('close', (code) => {
      if (code !== 0) {
        const why = lastLines(stderr) || `ffmpeg exited with ${code}`;
        const hint = /moov atom not found|Invalid data/.test(stderr) ? ' (truncated or damaged mp4?)' : '';
        return reject(new EpisodeFileError(req.path, `cannot decode video: ${why}${hint}`));
      }
      const size = /Video: .*?, (\d+)x(\d+)/.exec(stderr);
      if (size && (Number(size[1]) !== req.width || Number(size[2]) !== req.height)) {
        return reject(
          new EpisodeFileError(req.path, `video is ${size[1]}x${size[2]}, the dataset says ${req.width}x${req.height}`),
        );
      }
      const whole = Math.floor(got / frameBytes);
      if (whole < req.frames) {
        return reject(
          new EpisodeFileError(
            req.path,
            `video ends early: ${whole} of ${req.frames} frames from ${req.from_s.toFixed(3)} s (truncated?)`,
          ),
        );
      }
      const frames: Uint8Array[] = [];
      for (let i = 0; i < req.frames; i++)
        frames.push(new Uint8Array(out.subarray(i * frameBytes, (i + 1) * frameBytes)));
      resolve(frames);
    });
  });
}

export interface EncoderOptions {
  width: number;
  height: number;
  fps: number;
  codec: VideoCodecName;
  gop: number;
}

/** One mp4 being written: frames go in as raw RGB, in order; finish() waits for ffmpeg to close the file. */
export class VideoEncoder {
  #frames = 0;
  #stderr = '';
  #exit: Promise<number | null>;
  #stdin: Writable;
  #failed: NodeJS.ErrnoException | undefined;
  #child: ChildProcess;

  private constructor(
    readonly path: string,
    readonly opts: EncoderOptions,
    child: ChildProcess,
  ) {
    this.#child = child;
    this.#stdin = child.stdin!;
    // a write after ffmpeg died is reported by finish(), with ffmpeg's own reason
    this.#stdin.on('error', () => {});
    child.stderr!.on('data', (chunk: Buffer) => {
      if (this.#stderr.length < 8000) this.#stderr += chunk.toString();
    });
    this.#exit = new Promise((resolve) => {
      child.on('error', (err) => {
        this.#failed = err;
        resolve(null);
      });
      child.on('close', (code) => resolve(code));
    });
  }

  static async start(path: string, opts: EncoderOptions): Promise<VideoEncoder> {
    const setting = CODEC_SETTINGS[opts.codec];
    if (setting.even && (opts.width % 2 !== 0 || opts.height % 2 !== 0)) {
      throw new Error(
        `${opts.codec} (yuv420p) needs an even width and height; frames are ${opts.width}x${opts.height} ` +
          '(use --video-codec lossless)',
      );
    }
    await mkdir(dirname(path), { recursive: true });
    const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24'];
    args.push('-s', `${opts.width}x${opts.height}`, '-r', String(opts.fps), '-i', 'pipe:0');
    args.push(...setting.args, '-g', String(opts.gop), '-an', path);
    const child = spawn(ffmpegPath(), args, { stdio: ['pipe', 'ignore', 'pipe'] });
    return new VideoEncoder(path, opts, child);
  }

  get frames(): number {
    return this.#frames;
  }

  /** Queues one frame; resolves when ffmpeg can take more (backpressure), so memory stays bounded. */
  async write(rgb: Uint8Array): Promise<void> {
    const expected = this.opts.width * this.opts.height * 3;
    if (rgb.length !== expected) throw new Error(`${this.path}: frame has ${rgb.length} bytes, expected ${expected}`);
    // ffmpeg went away (it could not start, or refused its input): its reason, not a hang on 'drain'
    if (this.#stdin.destroyed) throw await this.#failure();
    this.#frames++;
    if (!this.#stdin.write(rgb)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#stdin.off('drain', done);
          this.#stdin.off('close', done);
          resolve();
        };
        this.#stdin.on('drain', done);
        this.#stdin.on('close', done);
      });
    }
  }

  /** Closes the input and waits for the file; returns its size in bytes. */
  async finish(): Promise<number> {
    this.#stdin.end();
    if ((await this.#exit) !== 0) throw await this.#failure();
    return (await stat(this.path)).size;
  }

  /** Once ffmpeg has exited: why it did not write the file. */
  async #failure(): Promise<EpisodeFileError> {
    const code = await this.#exit;
    const why = this.#failed ? spawnProblem(this.#failed) : lastLines(this.#stderr) || `ffmpeg exited with ${code}`;
    return new EpisodeFileError(this.path, `cannot encode video (${CODEC_SETTINGS[this.opts.codec].label}): ${why}`);
  }

  /** Stops ffmpeg (an export that failed elsewhere); the partial file is left to the caller. */
  async abort(): Promise<void> {
    this.#stdin.destroy();
    this.#child.kill('SIGKILL');
    await this.#exit;
  }

  /** Size written so far (ffmpeg writes the mp4 as it goes; the index comes at finish). */
  async bytesSoFar(): Promise<number> {
    return (await stat(this.path).catch(() => ({ size: 0 }))).size;
  }
}
