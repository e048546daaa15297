// The fine-tuning actor protocol: rollout actors (`vla-finetune actor`, in sim or, later, on the robot) work for
// one learner. ZeroMQ: the learner binds ROUTER, every actor connects DEALER. A message is multipart: frame 0 is a
// UTF-8 JSON header {"v": 1, "type", ...}, the frames after it raw little-endian float32 arrays. No pickle; every
// header is checked against its schema and every frame's size against the header before use.
//
//   actor -> learner                                 learner -> actor
//   hello {actor, pid, host}                         setup {session, heartbeat_ms, setup: {description, task,
//                                                      base: {path, sha256}, manifest, latency_model, seed,
//                                                      physics_hz?, actor_sizes, operator?}}
//   ready {session} | refused {session, reason}      job {session, job, seed, explore_seed, hold?, version,
//                                                      weights_id, bound, weights: n} + [n float32 arrays]
//   result {session, job, seed, success, truncated,  bye {code: done | version | refused, reason,
//     ticks, fault?, steps, mean_abs_u, interventions?,    interrupted?}
//     labelled?, task_outcome?}
//     + [inputs: steps x obs_dim] + [u: steps x action_dim]
//   heartbeat {session, busy, done}
//
// An actor says hello on every new connection (so a restarted learner learns of it); the learner answers with the
// setup, which the actor refuses when it cannot satisfy it (another base model file: its SHA-256 differs; a robot or
// task its sim does not have). Transitions go up, weights come down: a job carries the actor weights (w0, b0, w1,
// ...) only when that actor was not sent `weights_id` (a hash of the values) with its previous job. The learner
// never waits on an actor: an actor queues the jobs it is given and runs them in order; results are matched by
// (session, job), so a result for a job already answered (it was re-run after its actor went quiet) is dropped.
import { z } from 'zod';
import { f32Frame, readF32 } from '../policy-server/protocol.js';

export { f32Frame, readF32 };

export const RL_ACTOR_PROTOCOL_VERSION = 1;
/** Largest message either side accepts (all frames): a result of 100k decisions x 64 inputs fits. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const MAX_HEADER_BYTES = 256 * 1024;

const v = z.literal(RL_ACTOR_PROTOCOL_VERSION);
const Id = z.number().int().nonnegative();
const Session = z.string().regex(/^[0-9a-f]{16}$/);
const Text = (max: number) => z.string().max(max);
const nums = (max: number) => z.array(z.number().finite()).max(max);

/** The robot description as plain JSON (src/robot's RobotDescription with action_source as an array). */
const DescriptionSchema = z
  .object({
    robot: z.string().min(1).max(100),
    source: Text(1000),
    control_hz: z.number().positive(),
    joint_names: z.array(Text(100)).max(64),
    gripper_names: z.array(Text(100)).max(16),
    action_names: z.array(Text(100)).min(1).max(80),
    position_limits_rad: z.array(z.tuple([z.number(), z.number()])).max(64),
    velocity_limits_rad_s: nums(64),
    max_step_rad: z.number().nonnegative().optional(),
    home_rad: nums(64),
    home_gripper: nums(16),
    cameras: z.array(z.object({ name: Text(100), width: Id, height: Id, source: Text(1000).optional() })).max(16),
    action_source: z.array(z.number().int()).max(80),
    ros: z.unknown().optional(),
    dh: z.object({ d_m: nums(64), a_m: nums(64), alpha_rad: nums(64) }).optional(),
  })
  .refine((d) => !d.dh || Object.values(d.dh).every((v) => v.length === d.joint_names.length), {
    message: 'dh needs one d_m, a_m and alpha_rad per joint',
  });
export type WireDescription = z.infer<typeof DescriptionSchema>;

const LatencyModel = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('measured') }),
  z.object({ kind: z.literal('fixed'), ms: z.number().nonnegative() }),
  z.object({ kind: z.literal('samples'), ms: nums(100_000) }),
]);

export const WireSetupSchema = z.object({
  description: DescriptionSchema,
  task: z.string().min(1).max(100),
  base: z.object({ path: Text(4096), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  /** The residual manifest (checked in full by the actor with the residual format's own schema). */
  manifest: z.record(z.string(), z.unknown()),
  latency_model: LatencyModel,
  seed: Id,
  physics_hz: z.number().positive().optional(),
  actor_sizes: z.array(z.number().int().positive().max(100_000)).min(2).max(16),
  /** A scripted operator for the exploring episodes (sim sessions with --operator scripted). */
  operator: z
    .object({
      takeover_rad: z.number().positive().max(10),
      takeover_decisions: z.number().int().min(1).max(100_000),
      label_all: z.boolean().optional(),
    })
    .optional(),
  /** The base model's feature-head outputs are replaced by the sim's true values (vla-finetune --privileged-head). */
  privileged_head: z.boolean().optional(),
});
export type WireSetup = z.infer<typeof WireSetupSchema>;

export const ActorMessageSchema = z.discriminatedUnion('type', [
  z.object({ v, type: z.literal('hello'), actor: z.string().min(1).max(200), pid: Id, host: Text(255) }),
  z.object({ v, type: z.literal('ready'), session: Session }),
  z.object({ v, type: z.literal('refused'), session: Session, reason: Text(4000) }),
  z.object({
    v,
    type: z.literal('result'),
    session: Session,
    job: Id,
    seed: Id,
    success: z.boolean(),
    truncated: z.boolean(),
    ticks: Id,
    fault: Text(4000).optional(),
    steps: Id,
    mean_abs_u: nums(80),
    /** Decisions (step indices, ascending) in which the operator held the arm; absent: none. */
    interventions: z.array(Id).max(1_000_000).optional(),
    /** true: a third array follows, the operator's label of every decision [steps x actions]. */
    labelled: z.boolean().optional(),
    /** In the sim: the task's figures where the episode ended (cube_to_target_m, ...); a robot has none. */
    task_outcome: z
      .record(z.string().max(100), z.union([z.number().finite(), z.boolean()]))
      .refine((r) => Object.keys(r).length <= 32, 'at most 32 task figures')
      .optional(),
  }),
  z.object({ v, type: z.literal('heartbeat'), session: Session.nullable(), busy: Id, done: Id }),
]);
export type ActorMessage = z.infer<typeof ActorMessageSchema>;
export type ResultHeader = Extract<ActorMessage, { type: 'result' }>;

export const LearnerMessageSchema = z.discriminatedUnion('type', [
  z.object({
    v,
    type: z.literal('setup'),
    session: Session,
    heartbeat_ms: z.number().int().min(10),
    setup: WireSetupSchema,
  }),
  z.object({
    v,
    type: z.literal('job'),
    session: Session,
    job: Id,
    seed: Id,
    explore_seed: Id.nullable(),
    /** The scripted operator holds the arm throughout (the imitation warm start's episodes; the sim only). */
    hold: z.boolean().optional(),
    version: z.number().int(),
    weights_id: z.string().regex(/^[0-9a-f]{16}$/),
    bound: z.number().positive().max(1),
    /** Weight arrays after the header: 0 (the actor has weights_id) or all of them. */
    weights: z.number().int().nonnegative().max(32),
  }),
  z.object({
    v,
    type: z.literal('bye'),
    code: z.enum(['done', 'version', 'refused']),
    reason: Text(4000),
    /** The learner was interrupted (Ctrl-C): a robot's episode in progress ends as interrupted (an older actor
     * ignores the field and ends it as done). */
    interrupted: z.boolean().optional(),
  }),
]);
export type LearnerMessage = z.infer<typeof LearnerMessageSchema>;
export type JobHeader = Extract<LearnerMessage, { type: 'job' }>;
export type SetupMessage = Extract<LearnerMessage, { type: 'setup' }>;

type AnyMessage = ActorMessage | LearnerMessage;

/** Frame 0 of a message. */
export function header(msg: AnyMessage): Buffer {
  return Buffer.from(JSON.stringify(msg), 'utf8');
}

/** Why a message was dropped: the key it is counted under, and the details. */
export interface Malformed {
  kind: 'too_large' | 'not_json' | 'version' | 'schema' | 'frames';
  message: string;
}

/** A whole message (header + frames) -> the typed header and the frames after it, or why it is malformed. */
export function parseMessage<T>(
  frames: Buffer[],
  schema: z.ZodType<T>,
): { ok: true; msg: T; rest: Buffer[] } | { ok: false; why: Malformed } {
  const fail = (kind: Malformed['kind'], message: string) => ({ ok: false as const, why: { kind, message } });
  const size = frames.reduce((n, f) => n + f.length, 0);
  if (size > MAX_MESSAGE_BYTES) return fail('too_large', `${size} bytes, at most ${MAX_MESSAGE_BYTES}`);
  const head = frames[0];
  if (!head || head.length === 0 || head.length > MAX_HEADER_BYTES)
    return fail('not_json', `frame 0 is ${head?.length ?? 0} bytes (a JSON header of 1-${MAX_HEADER_BYTES})`);
  let json: unknown;
  try {
    json = JSON.parse(head.toString('utf8'));
  } catch {
    return fail('not_json', 'frame 0 is not a JSON header');
  }
  const ver = (json as { v?: unknown } | null)?.v;
  if (ver !== RL_ACTOR_PROTOCOL_VERSION)
    return fail('version', `protocol version ${String(ver)}, this side speaks ${RL_ACTOR_PROTOCOL_VERSION}`);
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail('schema', `${issue.path.join('.') || '(header)'}: ${issue.message}`);
  }
  return { ok: true, msg: parsed.data, rest: frames.slice(1) };
}

/** Frames as float32 arrays of the given lengths (copies, finite values only); a string says what is wrong. */
export function readArrays(frames: Buffer[], lengths: number[], what: string): Float32Array[] | string {
  if (frames.length !== lengths.length) return `${what}: ${frames.length} frames, expected ${lengths.length}`;
  const out: Float32Array[] = [];
  for (let i = 0; i < lengths.length; i++) {
    if (frames[i].byteLength !== lengths[i] * 4)
      return `${what} ${i}: ${frames[i].byteLength} bytes, expected ${lengths[i]} float32`;
    const a = readF32(frames[i], lengths[i], what).slice();
    for (let k = 0; k < a.length; k++) if (!Number.isFinite(a[k])) return `${what} ${i}: value ${k} is ${a[k]}`;
    out.push(a);
  }
  return out;
}

/** Step indices (a result's interventions) in ascending order, each one of the result's steps. */
export function stepsIn(list: readonly number[], result: { steps: number }): boolean {
  return list.every((i, j) => i < result.steps && (j === 0 || i > list[j - 1]));
}

/** Lengths of the actor's parameter arrays (w0, b0, w1, b1, ...) for layer sizes [in, hidden..., out]. */
export function weightLengths(sizes: readonly number[]): number[] {
  return sizes.slice(1).flatMap((n, i) => [sizes[i] * n, n]);
}
