// The policy server protocol: a robot host asks a policy on another machine (`vla-serve`) for action chunks.
// ZeroMQ: the server binds ROUTER, every client connects DEALER; several clients share one server and each
// gets its own replies. A message is multipart: frame 0 is a small UTF-8 JSON header {"v": 1, "type", ...},
// the frames after it are raw little-endian float32 tensors or images (packed RGB bytes, row-major, top row
// first, or a JPEG). No pickle, no msgpack: every frame's size is checked against its header before use.
//
//   client -> server                                 server -> client
//   hello  {id, client}                              manifest {id, policy: {name, kind, robot, horizon,
//                                                      action_dim, action_offset, state_dim, control_hz,
//                                                      max_committed, cameras: [{name, width, height, layout,
//                                                      dtype}]}, images: [raw, jpeg], max_message_bytes, max_queue}
//   infer  {id, tick, state: n, cameras: [{name,     chunk {id, tick, first_tick, offset, horizon, dim,
//           width, height, encoding: raw|jpeg,          timing: {queue_ms, preprocess_ms, inference_ms}}
//           bytes}], committed?: rows,                 + [horizon x dim float32]
//           first_tick_hint?}
//           + [state: n float32] + [one frame per camera, in the header's order] + [committed: rows x dim f32]?
//   health {id}                                      health {id, ok, policy, queued, in_flight, served, uptime_s}
//   (anything the server cannot serve)               error {id?, code, message, fatal?}
//
// Images travel at the model's input size: the robot host resizes them with the manifest's rule (bilinear,
// half-pixel centres, aspect ratio as trained), so the server never changes what the model sees. `tick` is the
// robot's control tick of the observation and comes back unchanged; `timing` is measured on the server's own
// clock, so no two hosts' clocks are ever compared. Error codes: malformed (not this protocol), version,
// too_large (over max_message_bytes), bad_request (does not fit the policy), busy (queue full: retry later),
// inference_failed (with fatal: true when the model cannot serve any more), shutting_down.
import { z } from 'zod';

export const POLICY_PROTOCOL_VERSION = 1;
export const DEFAULT_POLICY_PORT = 5555;

const Id = z.number().int().nonnegative();
const Dim = z.number().int().positive();

const CameraFacts = z.object({
  name: z.string().min(1),
  width: Dim,
  height: Dim,
  layout: z.enum(['NCHW', 'NHWC']).optional(),
  dtype: z.enum(['float32', 'uint8']).optional(),
});

/** What the served policy is: its describe() plus what a manifest knows beyond it. */
export const PolicyFactsSchema = z.object({
  name: z.string(),
  kind: z.string(),
  robot: z.string().optional(),
  horizon: Dim,
  action_dim: Dim,
  action_offset: z.number().int().nonnegative(),
  state_dim: Dim.optional(),
  control_hz: z.number().positive().optional(),
  max_committed: z.number().int().nonnegative(),
  action_names: z.array(z.string()).optional(),
  cameras: z.array(CameraFacts),
});
export type PolicyFacts = z.infer<typeof PolicyFactsSchema>;

const ImageEncoding = z.enum(['raw', 'jpeg']);
export type ImageEncoding = z.infer<typeof ImageEncoding>;

const FrameFacts = z.object({ name: z.string().min(1), width: Dim, height: Dim, encoding: ImageEncoding, bytes: Dim });
export type FrameFacts = z.infer<typeof FrameFacts>;

export const ERROR_CODES = [
  'malformed',
  'version',
  'too_large',
  'bad_request',
  'busy',
  'inference_failed',
  'shutting_down',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

const Timing = z.object({ queue_ms: z.number(), preprocess_ms: z.number(), inference_ms: z.number() });
export type ServerTiming = z.infer<typeof Timing>;

const v = z.literal(POLICY_PROTOCOL_VERSION);

/** What a client sends. */
export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ v, type: z.literal('hello'), id: Id, client: z.string().max(200).optional() }),
  z.object({
    v,
    type: z.literal('infer'),
    id: Id,
    tick: z.number().int(),
    state: z.number().int().nonnegative(),
    cameras: z.array(FrameFacts).max(32),
    committed: z.number().int().nonnegative().optional(),
    first_tick_hint: z.number().int().optional(),
  }),
  z.object({ v, type: z.literal('health'), id: Id }),
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;
export type InferHeader = Extract<ClientMessage, { type: 'infer' }>;

/** What a server sends. */
export const ServerMessageSchema = z.discriminatedUnion('type', [
  z.object({
    v,
    type: z.literal('manifest'),
    id: Id,
    policy: PolicyFactsSchema,
    images: z.array(ImageEncoding),
    max_message_bytes: Dim,
    max_queue: Dim,
  }),
  z.object({
    v,
    type: z.literal('chunk'),
    id: Id,
    tick: z.number().int(),
    first_tick: z.number().int(),
    offset: z.number().int(),
    horizon: Dim,
    dim: Dim,
    timing: Timing,
  }),
  z.object({
    v,
    type: z.literal('health'),
    id: Id,
    ok: z.boolean(),
    policy: z.string(),
    queued: z.number().int(),
    in_flight: z.number().int(),
    /** Chunks served since the server started, all clients together. */
    served: z.number().int(),
    uptime_s: z.number(),
  }),
  z.object({
    v,
    type: z.literal('error'),
    id: Id.optional(),
    code: z.enum(ERROR_CODES),
    message: z.string(),
    fatal: z.boolean().optional(),
  }),
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
export type ManifestReply = Extract<ServerMessage, { type: 'manifest' }>;
export type ChunkReply = Extract<ServerMessage, { type: 'chunk' }>;
export type HealthReply = Extract<ServerMessage, { type: 'health' }>;
export type ErrorReply = Extract<ServerMessage, { type: 'error' }>;

/** Frame 0 of a message. */
export function header(msg: ClientMessage | ServerMessage): Buffer {
  return Buffer.from(JSON.stringify(msg), 'utf8');
}

/** A header that could not be read: why, with the protocol's error code. */
export interface HeaderProblem {
  code: 'malformed' | 'version';
  message: string;
  /** The request id, when the header got that far. */
  id?: number;
}

const MAX_HEADER_BYTES = 64 * 1024;

/** Frame 0 -> a typed message, or what is wrong with it. */
export function parseHeader<T>(
  frame: Buffer | undefined,
  schema: z.ZodType<T>,
): { ok: true; msg: T } | { ok: false; problem: HeaderProblem } {
  const fail = (code: HeaderProblem['code'], message: string, id?: number) => ({
    ok: false as const,
    problem: { code, message, ...(id === undefined ? {} : { id }) },
  });
  if (!frame || frame.length === 0) return fail('malformed', 'frame 0 (the JSON header) is missing or empty');
  if (frame.length > MAX_HEADER_BYTES)
    return fail('malformed', `the header is ${frame.length} bytes, at most ${MAX_HEADER_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(frame.toString('utf8'));
  } catch {
    return fail('malformed', 'frame 0 is not a JSON header');
  }
  const raw = json as { v?: unknown; id?: unknown } | null;
  const id = typeof raw?.id === 'number' && Number.isInteger(raw.id) && raw.id >= 0 ? raw.id : undefined;
  if (typeof raw !== 'object' || raw === null) return fail('malformed', 'the header is not a JSON object');
  if (raw.v !== POLICY_PROTOCOL_VERSION)
    return fail('version', `protocol version: expected ${POLICY_PROTOCOL_VERSION}, found ${String(raw.v)}`, id);
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(header)'}: ${i.message}`).join('; ');
    return fail('malformed', issues, id);
  }
  return { ok: true, msg: parsed.data };
}

/** A float32 array as a frame, without copying (the platforms served are little-endian, as the wire is). */
export function f32Frame(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A frame as float32 values: a view when it is aligned, else a copy. Throws when the size is not n values. */
export function readF32(frame: Uint8Array, n: number, what: string): Float32Array {
  if (frame.byteLength !== n * 4)
    throw new Error(`${what}: expected ${n} float32 (${n * 4} bytes), found ${frame.byteLength}`);
  if (frame.byteOffset % 4 === 0) return new Float32Array(frame.buffer, frame.byteOffset, n);
  return new Float32Array(frame.slice().buffer, 0, n);
}

/** The frames an infer request must carry after its header, in order: state, cameras, committed prefix. */
export function inferFrameCount(h: InferHeader): number {
  return 1 + h.cameras.length + (h.committed ? 1 : 0);
}
