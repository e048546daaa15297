// The server's side of an infer request: its frames checked against the header and against the served policy
// (state size, cameras at the model's input size, committed rows), JPEG frames decoded, and the Observation the
// policy takes. Whatever does not fit is a problem named as expected vs found, answered as `bad_request`.
import {
  type InferHeader,
  inferFrameCount,
  type PolicyFacts,
  readF32,
} from '../../../protocols/policy-server/protocol.js';
import { decodeJpegRgb } from '../../codecs/jpeg.js';
import type { CameraImage, Observation, Policy } from '../policy.js';

export type BuiltObservation = { ok: true; obs: Observation } | { ok: false; problem: string };

export function observationFrom(h: InferHeader, frames: Buffer[], facts: PolicyFacts): BuiltObservation {
  const fail = (problem: string): BuiltObservation => ({ ok: false, problem });
  const want = inferFrameCount(h);
  if (frames.length !== want)
    return fail(
      `expected ${want} frames after the header (state, ${h.cameras.length} cameras` +
        `${h.committed ? ', committed' : ''}), found ${frames.length}`,
    );
  if (facts.state_dim !== undefined && h.state !== facts.state_dim)
    return fail(`state: expected ${facts.state_dim} values, found ${h.state}`);
  const now = performance.now();
  try {
    const state = readF32(frames[0], h.state, 'state').slice();
    // a NaN state gives a NaN chunk at best; refuse it here, naming where, rather than serve garbage
    const bad = firstNonFinite(state);
    if (bad >= 0) return fail(`state[${bad}] is not a finite number: ${state[bad]}`);
    const images: CameraImage[] = [];
    for (const cam of facts.cameras) {
      const i = h.cameras.findIndex((c) => c.name === cam.name);
      if (i < 0)
        return fail(`camera '${cam.name}': expected a frame, found none (sent: ${h.cameras.map((c) => c.name)})`);
      const f = h.cameras[i];
      if (f.width !== cam.width || f.height !== cam.height)
        return fail(
          `camera '${cam.name}': expected ${cam.width}x${cam.height} (the model's input size; the robot host ` +
            `resizes), found ${f.width}x${f.height}`,
        );
      const rgb = frameRgb(f, frames[1 + i]);
      if (typeof rgb === 'string') return fail(`camera '${cam.name}': ${rgb}`);
      images.push({ name: cam.name, width: f.width, height: f.height, rgb, t_mono_ms: now });
    }
    const extra = h.cameras.find((c) => !facts.cameras.some((cam) => cam.name === c.name));
    if (extra) return fail(`camera '${extra.name}': the policy takes no such camera`);
    let committed: Observation['committed'];
    if (h.committed) {
      if (h.committed > facts.max_committed)
        return fail(`committed: expected at most ${facts.max_committed} rows, found ${h.committed}`);
      const actions = readF32(frames[frames.length - 1], h.committed * facts.action_dim, 'committed').slice();
      const at = firstNonFinite(actions);
      if (at >= 0) return fail(`committed[${at}] is not a finite number: ${actions[at]}`);
      committed = { actions, count: h.committed };
    }
    const obs: Observation = { tick: h.tick, t_mono_ms: now, state, images };
    if (committed) obs.committed = committed;
    if (h.first_tick_hint !== undefined) obs.first_tick_hint = h.first_tick_hint;
    return { ok: true, obs };
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** One camera frame's packed RGB, or what is wrong with it. */
function frameRgb(f: InferHeader['cameras'][number], data: Buffer): Uint8Array | string {
  if (data.length !== f.bytes) return `the header says ${f.bytes} bytes, the frame has ${data.length}`;
  const n = f.width * f.height * 3;
  if (f.encoding === 'raw') return data.length === n ? data : `expected ${n} bytes of RGB, found ${data.length}`;
  let img: { width: number; height: number; rgb: Uint8Array };
  try {
    img = decodeJpegRgb(data, (f.width * f.height) / 1e6 + 0.01);
  } catch (err) {
    return `not a JPEG it can decode: ${(err as Error).message}`;
  }
  if (img.width !== f.width || img.height !== f.height)
    return `the JPEG is ${img.width}x${img.height}, the header says ${f.width}x${f.height}`;
  return img.rgb;
}

/** The facts a client checks a served policy by: its description, plus image layouts from an ONNX manifest. */
export function servedFacts(policy: Policy): PolicyFacts {
  const d = policy.describe() as ReturnType<Policy['describe']> & {
    state_dim?: number;
    robot?: string;
    action_names?: string[];
  };
  const manifest = (
    policy as { manifest?: { inputs: { images: { camera: string; layout: string; dtype: string }[] } } }
  ).manifest;
  return {
    name: d.name,
    kind: d.kind,
    ...(d.robot === undefined ? {} : { robot: d.robot }),
    horizon: d.horizon,
    action_dim: d.action_dim,
    action_offset: d.action_offset,
    ...(d.state_dim === undefined ? {} : { state_dim: d.state_dim }),
    ...(d.control_hz === undefined ? {} : { control_hz: d.control_hz }),
    max_committed: d.max_committed,
    ...(d.action_names === undefined ? {} : { action_names: d.action_names }),
    cameras: d.cameras.map((c) => {
      const img = manifest?.inputs.images.find((i) => i.camera === c.name);
      return {
        name: c.name,
        width: c.width,
        height: c.height,
        ...(img ? { layout: img.layout as 'NCHW' | 'NHWC', dtype: img.dtype as 'float32' | 'uint8' } : {}),
      };
    }),
  };
}

/** Bytes of a raw request for these facts (header allowance included): the base of the default size limit. */
export function rawRequestBytes(f: PolicyFacts): number {
  const images = f.cameras.reduce((n, c) => n + c.width * c.height * 3, 0);
  return 4096 + images + 4 * (f.state_dim ?? 0) + 4 * f.max_committed * f.action_dim;
}

function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}
