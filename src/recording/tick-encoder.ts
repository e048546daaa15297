// One tick of an episode as the messages EpisodeWriter puts in the file (/joint_state, /action, one frame per
// camera), after checking the tick against the episode meta and the ticks before it: a bad record is refused
// before anything is queued, so the file stays valid and the caller learns which field was wrong.
import type { EpisodeMeta, TickRecord } from './episode-writer.js';
import { checkLength } from './meta-check.js';
import { encodeRawImage } from './raw-image.js';
import { numberArrayJson, timeJson } from './schemas.js';

const MAX_TICK = 2 ** 31 - 1; // the reader hands ticks back as Int32Array
const MAX_STAMP = 2n ** 63n - 1n; // ... and stamps as BigInt64Array

export interface CameraChannel {
  info: { name: string; width: number; height: number };
  channelId: number;
}
export type TickMessages = { channelId: number; data: Uint8Array }[];

export class TickEncoder {
  ticks = 0;
  lastTick = -1;
  firstStamp: bigint | undefined;
  lastStamp = -1n;
  #encoder = new TextEncoder();
  #jointNamesJson: string;
  #actionNamesJson: string;

  constructor(
    private readonly path: string,
    private readonly meta: EpisodeMeta,
    private readonly jointChannel: number,
    private readonly actionChannel: number,
    private readonly cameras: Map<string, CameraChannel>,
  ) {
    this.#jointNamesJson = JSON.stringify(meta.joint_names);
    this.#actionNamesJson = JSON.stringify(meta.action_names);
  }

  /** Checks and serializes a tick (nothing is kept of the record's arrays); throws RangeError naming the field. */
  encode(rec: TickRecord): TickMessages {
    const fail = (what: string): never => {
      throw new RangeError(`${this.path}: tick ${rec?.tick}: ${what}`);
    };
    const { tick, stamp_ns } = rec;
    if (!Number.isInteger(tick) || tick < 0 || tick > MAX_TICK) fail(`tick must be an integer in [0, ${MAX_TICK}]`);
    if (tick <= this.lastTick) fail(`ticks must increase; the previous tick was ${this.lastTick}`);
    if (typeof stamp_ns !== 'bigint' || stamp_ns < 0n || stamp_ns > MAX_STAMP)
      fail('stamp_ns must be a non-negative bigint (ns since the Unix epoch)');
    // Equal or backward log times would let another tick's messages interleave on playback.
    if (stamp_ns <= this.lastStamp) {
      fail(
        `stamp_ns ${stamp_ns} is not after the previous tick's ${this.lastStamp}; use a monotonic clock or start + ` +
          `tick*dt`,
      );
    }
    const m = this.meta;
    checkLength(rec.position_rad, m.joint_names.length, 'position_rad', 'joint_names', fail);
    checkLength(rec.velocity_rad_s, m.joint_names.length, 'velocity_rad_s', 'joint_names', fail);
    checkLength(rec.gripper, m.gripper_names.length, 'gripper', 'gripper_names', fail);
    checkLength(rec.action, m.action_names.length, 'action', 'action_names', fail);
    const frames = rec.frames ?? [];
    this.#checkFrames(frames, fail);

    const t = timeJson(stamp_ns);
    const mono = Number.isFinite(rec.t_mono_ms) ? String(rec.t_mono_ms) : 'null';
    const out: TickMessages = [
      {
        channelId: this.jointChannel,
        data: this.#encoder.encode(
          `{"timestamp":${t},"tick":${tick},"t_mono_ms":${mono},"name":${this.#jointNamesJson},` +
            `"position":${numberArrayJson(rec.position_rad)},"velocity":${numberArrayJson(rec.velocity_rad_s)},` +
            `"gripper":${numberArrayJson(rec.gripper)}}`,
        ),
      },
      {
        channelId: this.actionChannel,
        data: this.#encoder.encode(
          `{"timestamp":${t},"tick":${tick},"name":${this.#actionNamesJson},"action":${numberArrayJson(rec.action)}}`,
        ),
      },
    ];
    for (const f of frames) {
      out.push({
        channelId: this.cameras.get(f.camera)!.channelId,
        data: encodeRawImage(stamp_ns, f.camera, f.width, f.height, f.rgb),
      });
    }
    this.lastTick = tick;
    this.lastStamp = stamp_ns;
    this.firstStamp ??= stamp_ns;
    this.ticks++;
    return out;
  }

  #checkFrames(frames: NonNullable<TickRecord['frames']>, fail: (what: string) => never): void {
    const seen = new Set<string>();
    for (const f of frames) {
      const cam = this.cameras.get(f?.camera as string);
      if (!cam)
        fail(
          `frame for unknown camera ${JSON.stringify(f?.camera)} (meta.cameras: ` +
            `${[...this.cameras.keys()].join(', ') || 'none'})`,
        );
      if (seen.has(f.camera)) fail(`two frames for camera "${f.camera}"`);
      seen.add(f.camera);
      const { width, height } = cam!.info;
      if (f.width !== width || f.height !== height)
        fail(`camera "${f.camera}" frame is ${f.width}x${f.height}, meta says ${width}x${height}`);
      if (!(f.rgb instanceof Uint8Array) || f.rgb.length !== width * height * 3) {
        fail(
          `camera "${f.camera}" rgb has ${f.rgb?.length} bytes, expected ${width}x${height}x3 = ${width * height * 3}`,
        );
      }
    }
  }
}
