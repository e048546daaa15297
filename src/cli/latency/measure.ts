// Timing a policy the way the runtime calls it: the robot's home state and one deterministic synthetic frame
// per camera at the policy's input size, one warm-up call reported apart, then `calls` timed calls. Per call the
// end-to-end time (performance.now() around infer()) and, where the policy tells, where it went: a vla-serve
// policy (zmq://) splits into encode, transport (round trip less encode and server time), server queue,
// pre-processing and inference; any other policy gives the time it spent inside (the chunk's infer_ms).
import type { ActionChunk, CameraImage, Observation, Policy } from '../../policy/policy.js';
import { ZmqPolicy } from '../../policy/remote/zmq-policy.js';
import { homeAction, type RobotDescription } from '../../robot/index.js';
import { Rng } from '../../util/rng.js';

export interface Measurement {
  /** The first call, apart: model load, JIT, allocations. */
  warmup_ms: number;
  /** End-to-end latency of each timed call (ms). */
  total_ms: number[];
  /** Per stage (besides total), each call's share (ms), in the order they happen. */
  stages: Record<string, number[]>;
  /** zmq: mean request size (bytes). */
  request_bytes?: number;
}

/** A frame that looks like a picture to a CNN (gradients, blobs, noise), the same on every machine. */
export function syntheticImage(name: string, width: number, height: number, seed = 1): CameraImage {
  const rng = new Rng(seed);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      const blob = (x - width / 2) ** 2 + (y - height / 3) ** 2 < (width * height) / 40 ? 90 : 0;
      rgb[i] = (110 + (80 * x) / width + blob + 20 * rng.next()) & 255;
      rgb[i + 1] = (90 + (60 * y) / height + 20 * rng.next()) & 255;
      rgb[i + 2] = (70 + blob / 2 + 20 * rng.next()) & 255;
    }
  return { name, width, height, rgb, t_mono_ms: 0 };
}

export function homeObservation(robot: RobotDescription, policy: Policy): (tick: number) => Observation {
  const state = Float32Array.from(homeAction(robot));
  const images = policy.describe().cameras.map((c, i) => syntheticImage(c.name, c.width, c.height, i + 1));
  return (tick) => {
    const now = performance.now();
    return { tick, t_mono_ms: now, state, images: images.map((img) => ({ ...img, t_mono_ms: now })) };
  };
}

type Split = (chunk: ActionChunk, total_ms: number) => Record<string, number>;

function splitter(policy: Policy): { split: Split; bytes: () => number | undefined } {
  if (policy instanceof ZmqPolicy) {
    let sent = 0,
      n = 0;
    const split: Split = () => {
      const c = policy.last_call!;
      const server = c.queue_ms + c.preprocess_ms + c.inference_ms;
      sent += c.bytes_sent;
      n++;
      return {
        encode: c.encode_ms,
        transport: Math.max(0, c.round_trip_ms - c.encode_ms - server),
        queue: c.queue_ms,
        preprocess: c.preprocess_ms,
        inference: c.inference_ms,
      };
    };
    return { split, bytes: () => (n ? Math.round(sent / n) : undefined) };
  }
  return { split: (chunk) => ({ 'policy (infer_ms)': chunk.infer_ms }), bytes: () => undefined };
}

export async function measure(
  policy: Policy,
  robot: RobotDescription,
  calls: number,
  onCall: (done: number) => void = () => undefined,
): Promise<Measurement> {
  const obs = homeObservation(robot, policy);
  const { split, bytes } = splitter(policy);
  policy.reset?.(0);
  let t0 = performance.now();
  await policy.infer(obs(0));
  const warmup_ms = performance.now() - t0;
  const total_ms: number[] = [];
  const stages: Record<string, number[]> = {};
  for (let i = 1; i <= calls; i++) {
    t0 = performance.now();
    const chunk = await policy.infer(obs(i));
    const ms = performance.now() - t0;
    total_ms.push(ms);
    for (const [k, v] of Object.entries(split(chunk, ms))) {
      stages[k] ??= [];
      stages[k].push(v);
    }
    onCall(i);
  }
  return { warmup_ms, total_ms, stages, request_bytes: bytes() };
}
