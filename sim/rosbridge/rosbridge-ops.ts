// What a rosbridge client may send, checked before anything acts on it. rosbridge_suite drops a request it
// cannot convert and logs it; so does this server, but it also counts each drop by reason, so a fuzzer (or a
// user with a misbehaving client) can see what was refused. The checks are explicit, not a schema library's:
// the hot path (a publish per tick per client) must not allocate more than the parse already did.

/** Why a client's message was dropped. */
export type DropReason =
  /** A binary frame (CBOR/BSON rosbridge modes are not supported). */
  | 'binary'
  /** Larger than the server's limit: the connection is closed (WebSocket close code 1009), as rosbridge does. */
  | 'oversized'
  | 'not_json'
  /** JSON, but not an object with a known op and well-formed fields. */
  | 'bad_request'
  /** Well-formed, but a handler of the topic refused it (NaN, wrong length, wrong joint names...). */
  | 'refused'
  /** Would create a topic beyond the server's limit on topics. */
  | 'too_many_topics';

export type DropCounts = Record<DropReason, number>;

export function noDrops(): DropCounts {
  return { binary: 0, oversized: 0, not_json: 0, bad_request: 0, refused: 0, too_many_topics: 0 };
}

export interface RosbridgeStats {
  clients: number;
  /** Messages received from clients, dropped ones included. */
  received: number;
  /** Client messages dropped, by reason (rosbridge-ops.ts). */
  dropped_in: DropCounts;
  /** Messages not sent to a client that was too slow to read them. */
  dropped_messages: number;
  lost_before_connect: number;
}

export type ClientOp =
  | { op: 'advertise'; topic: string; type: string; latch: boolean }
  | { op: 'unadvertise'; topic: string }
  | { op: 'publish'; topic: string; msg: Record<string, unknown> }
  | { op: 'subscribe'; topic: string; type?: string; id?: string; throttle_ms: number; queue_capacity: number }
  | { op: 'unsubscribe'; topic: string; id?: string }
  | { op: 'call_service'; service: string; id: unknown; args: Record<string, unknown> };

/** Longest topic, service or type name accepted (ROS names are short; this bounds the server's maps). */
export const MAX_NAME_CHARS = 256;
/** A throttle longer than this is clamped: a timer a day away keeps a subscription's queue alive for nothing. */
const MAX_THROTTLE_MS = 60_000;
/** Messages one throttled subscription keeps (rosbridge's queue_length), so a client cannot make it hoard. */
const MAX_QUEUE_LENGTH = 100;
// A ROS graph resource name: letters, digits, '_' and '/' separators, optionally '~'-relative.
const ROS_NAME = /^[~/]?[A-Za-z][\w/]*$/;

export class BadRequest extends Error {}

/** One parsed JSON value -> a checked op, or a BadRequest naming the first thing wrong. */
export function checkOp(m: unknown): ClientOp {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new BadRequest('not a JSON object');
  const o = m as Record<string, unknown>;
  switch (o.op) {
    case 'advertise':
      return { op: 'advertise', topic: name(o, 'topic'), type: typeName(o, 'type'), latch: o.latch === true };
    case 'unadvertise':
      return { op: 'unadvertise', topic: name(o, 'topic') };
    case 'publish': {
      const msg = o.msg ?? {};
      if (typeof msg !== 'object' || msg === null || Array.isArray(msg))
        throw new BadRequest(`publish to ${String(o.topic)}: msg is not an object`);
      return { op: 'publish', topic: name(o, 'topic'), msg: msg as Record<string, unknown> };
    }
    case 'subscribe':
      return {
        op: 'subscribe',
        topic: name(o, 'topic'),
        type: o.type === undefined ? undefined : typeName(o, 'type'),
        id: optId(o.id),
        throttle_ms: clamp(o.throttle_rate, 0, MAX_THROTTLE_MS),
        // as rosbridge_suite: with a throttle, queue_length 0 drops what comes within the period; N keeps the
        // newest N and sends one per period
        queue_capacity: Math.floor(clamp(o.queue_length, 0, MAX_QUEUE_LENGTH)),
      };
    case 'unsubscribe':
      return { op: 'unsubscribe', topic: name(o, 'topic'), id: optId(o.id) };
    case 'call_service': {
      const args = o.args ?? {};
      if (typeof args !== 'object' || args === null || Array.isArray(args))
        throw new BadRequest(`call_service ${String(o.service)}: args is not an object`);
      const id = typeof o.id === 'string' || typeof o.id === 'number' ? o.id : undefined;
      return { op: 'call_service', service: name(o, 'service'), id, args: args as Record<string, unknown> };
    }
    default:
      throw new BadRequest(
        `unsupported op '${String(o.op).slice(0, 40)}' (supported: advertise, unadvertise, publish, subscribe, ` +
          'unsubscribe, call_service)',
      );
  }
}

function name(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME_CHARS || !ROS_NAME.test(v))
    throw new BadRequest(`op '${String(o.op)}' needs a ROS name in '${field}' (at most ${MAX_NAME_CHARS} characters)`);
  return v;
}

function typeName(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  // 'pkg/Type' or 'pkg/msg/Type'
  if (typeof v !== 'string' || v.length > MAX_NAME_CHARS || !/^[A-Za-z]\w*\/(?:\w+\/)?[A-Za-z]\w*$/.test(v))
    throw new BadRequest(`op '${String(o.op)}' needs a message type 'pkg/Type' in '${field}'`);
  return v;
}

function optId(v: unknown): string | undefined {
  return typeof v === 'string' && v.length <= MAX_NAME_CHARS ? v : undefined;
}

function clamp(v: unknown, lo: number, hi: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : lo;
}
