// A policy behind an openpi policy server (pi0, pi0.5, ... served by openpi's serve_policy.py), as a Policy:
// `vla-run --policy ws://gpu-box:8000 --openpi-map <spec>`. Protocol (openpi's, from its public description):
// a WebSocket; right after the handshake the server sends one binary msgpack map unasked (its metadata, often
// `{}`); then each binary msgpack observation map gets one binary reply map with `actions` [H, D] (float32 or
// float64) and `server_timing`; a server-side exception comes as a **text** frame (the traceback) followed by
// close code 1011. Encoding: protocols/openpi/msgpack-numpy.ts; observation keys: protocols/openpi/mapping.ts.
//
// H and D: openpi has no standard metadata key for them; a client learns them from the first reply's `actions`
// shape. The runtime needs them before that (buffer, trigger, fit to the robot), so they come from the user's
// mapping (horizon=, dim=), as do the action offset, the rate and the camera sizes, and every reply is checked
// against them: a mismatch is a PolicyFailure, the run stops. A server that does state them in its metadata
// (ours: action_horizon, action_dim) is checked on connect.
//
// One request at a time (the protocol has no request ids): calls queue. A request with no reply in time drops
// the connection (a late reply could otherwise be read as the next call's) and rejects with PolicyUnavailable,
// as does a lost or refused connection; the next call reconnects (and reads the metadata again). A traceback
// from the server is a PolicyFailure (OpenpiServerError) naming it.
import WebSocket from 'ws';
import { checkMapping, formatKey, type OpenpiMapping } from '../../../protocols/openpi/mapping.js';
import {
  NdArray,
  type PackValue,
  packb,
  type UnpackedValue,
  unpackb,
} from '../../../protocols/openpi/msgpack-numpy.js';
import {
  type ActionChunk,
  type Observation,
  type Policy,
  type PolicyDescription,
  PolicyFailure,
  PolicyUnavailable,
} from '../policy.js';
import { hwcToChw, PadResizer } from './openpi-image.js';

export interface OpenpiPolicyOptions {
  /** ws://host:port (openpi's server listens on 8000 by default). */
  url: string;
  mapping: OpenpiMapping;
  /** A request without a reply after this long rejects (default 5000 ms; openpi models can take seconds). */
  timeout_ms?: number;
  /** How long a connect waits for the handshake and the metadata frame (default 3000 ms). */
  connect_timeout_ms?: number;
  /** Largest reply accepted (default 64 MiB). */
  max_message_bytes?: number;
  /**
   * Sent as `Authorization: Api-Key <key>` in the handshake, as openpi's client does when given one (for a proxy
   * or a server that checks it); from $OPENPI_API_KEY at the command line, never a flag (it would show in `ps`).
   */
  api_key?: string;
}

/** The openpi server raised while answering: its traceback, as it sent it. */
export class OpenpiServerError extends PolicyFailure {
  override name = 'OpenpiServerError';
  constructor(
    readonly url: string,
    readonly traceback: string,
  ) {
    super(`openpi server ${url} failed to answer (its traceback follows; it closed the connection):\n${traceback}`);
  }
}

interface Reply {
  data: Buffer;
  binary: boolean;
}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (err: Error) => void;
}

const newCounters = () => ({
  requests: 0,
  chunks: 0,
  connects: 0,
  timeouts: 0,
  connection_losses: 0,
  server_errors: 0,
  bytes_sent: 0,
  bytes_received: 0,
  last_request_bytes: 0,
  last_round_trip_ms: 0,
  /** The server's own time in policy.infer() for the last reply (its server_timing.infer_ms). */
  last_server_infer_ms: 0,
});

export class OpenpiPolicy implements Policy {
  private ws: WebSocket | undefined;
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly resizer = new PadResizer();
  private readonly stats = newCounters();
  private readonly timeout_ms: number;
  private readonly connect_timeout_ms: number;
  private readonly max_message_bytes: number;
  private readonly api_key: string | undefined;
  readonly url: string;
  readonly mapping: OpenpiMapping;
  /** The metadata frame of the last connect. */
  metadata: UnpackedValue = null;

  constructor(opts: OpenpiPolicyOptions) {
    checkMapping(opts.mapping);
    this.url = opts.url;
    this.mapping = opts.mapping;
    this.timeout_ms = opts.timeout_ms ?? 5000;
    this.connect_timeout_ms = opts.connect_timeout_ms ?? 3000;
    this.max_message_bytes = opts.max_message_bytes ?? 64 << 20;
    this.api_key = opts.api_key;
  }

  /** Connects and reads the metadata frame; PolicyUnavailable when the server cannot be reached. */
  static async connect(opts: OpenpiPolicyOptions): Promise<OpenpiPolicy> {
    const p = new OpenpiPolicy(opts);
    await p.open();
    return p;
  }

  describe(): PolicyDescription {
    const m = this.mapping;
    const cameras: PolicyDescription['cameras'] = [];
    for (const i of m.images)
      if (!cameras.some((c) => c.name === i.camera)) cameras.push({ name: i.camera, width: i.width, height: i.height });
    return {
      name: `openpi ${this.url}`,
      kind: 'remote',
      horizon: m.horizon,
      action_dim: m.action_dim,
      action_offset: m.action_offset,
      cameras,
      control_hz: m.control_hz,
      max_committed: 0,
    };
  }

  counters(): Record<string, unknown> {
    return { protocol: 'openpi', url: this.url, ...this.stats };
  }

  infer(obs: Observation): Promise<ActionChunk> {
    const call = this.queue.then(() => this.inferNow(obs));
    this.queue = call.catch(() => undefined);
    return call;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.drop(new PolicyFailure(`openpi server ${this.url}: the policy was closed while a request was in flight`));
  }

  private async inferNow(obs: Observation): Promise<ActionChunk> {
    if (this.closed) throw new PolicyFailure(`openpi server ${this.url}: the policy is closed`);
    this.stats.requests++;
    const bytes = packb(this.observationMap(obs));
    if (!this.ws) await this.open();
    const t0 = performance.now();
    const reply = await this.exchange(bytes);
    const chunk = this.chunkFrom(reply, obs.tick);
    this.stats.last_round_trip_ms = chunk.infer_ms = performance.now() - t0;
    return chunk;
  }

  /** The observation as openpi's policy takes it (see mapping.ts): nested maps, numpy arrays, the prompt. */
  observationMap(obs: Observation): Map<string, PackValue> {
    const root = new Map<string, PackValue>();
    const m = this.mapping;
    for (const slot of m.images) {
      const frame = obs.images.find((i) => i.name === slot.camera);
      if (!frame)
        throw new PolicyFailure(
          `openpi: observation at tick ${obs.tick}: camera '${slot.camera}' (key ${formatKey(slot.key)}): ` +
            `expected a frame, found none (frames: ${obs.images.map((i) => i.name).join(', ') || 'none'})`,
        );
      const hwc = this.resizer.resize(frame.rgb, frame.width, frame.height, slot.width, slot.height);
      const value =
        slot.layout === 'chw'
          ? new NdArray(hwcToChw(hwc, slot.width, slot.height), [3, slot.height, slot.width])
          : new NdArray(hwc, [slot.height, slot.width, 3]);
      put(root, slot.key, value);
    }
    for (const s of m.state) {
      const to = s.to ?? obs.state.length;
      if (to > obs.state.length || s.from >= to)
        throw new PolicyFailure(
          `openpi: observation at tick ${obs.tick}: state key ${formatKey(s.key)} takes values ${s.from}..${to - 1}, ` +
            `the state has ${obs.state.length}`,
        );
      const part = obs.state.subarray(s.from, to);
      put(root, s.key, m.state_dtype === 'f8' ? Float64Array.from(part) : part.slice());
    }
    const text = obs.instruction ?? m.prompt_text;
    if (m.prompt_key && text !== undefined) put(root, m.prompt_key, text);
    return root;
  }

  private chunkFrom(reply: UnpackedValue, tick: number): ActionChunk {
    const { horizon, action_dim, action_offset } = this.mapping;
    const bad = (what: string) => new PolicyFailure(`openpi server ${this.url}: reply for tick ${tick}: ${what}`);
    if (reply === null || typeof reply !== 'object' || Array.isArray(reply) || reply instanceof Uint8Array)
      throw bad('expected a map');
    const a = (reply as Record<string, UnpackedValue>).actions;
    if (!(a instanceof NdArray)) throw bad(`expected 'actions' as a numpy array, found ${describeValue(a)}`);
    if (a.dtype !== '<f4' && a.dtype !== '<f8') throw bad(`expected float32 or float64 actions, found ${a.dtype}`);
    if (a.shape.length !== 2 || a.shape[0] !== horizon || a.shape[1] !== action_dim)
      throw bad(
        `actions have shape [${a.shape.join(', ')}], the mapping says [${horizon}, ${action_dim}] ` +
          `(--openpi-map horizon=${horizon},dim=${action_dim}): refused, the chunk would be misread`,
      );
    const timing = (reply as Record<string, UnpackedValue>).server_timing as Record<string, UnpackedValue> | null;
    if (timing && typeof timing === 'object' && typeof timing.infer_ms === 'number')
      this.stats.last_server_infer_ms = timing.infer_ms;
    this.stats.chunks++;
    const actions = new Float32Array(a.data as ArrayLike<number>);
    return { obs_tick: tick, first_tick: tick + action_offset, horizon, dim: action_dim, actions, infer_ms: 0 };
  }

  /** Sends one request and waits for its reply (decoded); see the file header for the failures. */
  private async exchange(bytes: Uint8Array): Promise<UnpackedValue> {
    const ws = this.ws!;
    const reply = await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stats.timeouts++;
        this.drop(new PolicyUnavailable(`openpi server ${this.url}: no reply within ${this.timeout_ms} ms`));
      }, this.timeout_ms);
      this.pending = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      ws.send(bytes, { binary: true }, (err) => {
        if (err) this.drop(new PolicyUnavailable(`openpi server ${this.url}: send failed: ${err.message}`));
      });
      this.stats.bytes_sent += bytes.length;
      this.stats.last_request_bytes = bytes.length;
    });
    this.stats.bytes_received += reply.data.length;
    if (!reply.binary) {
      this.stats.server_errors++;
      this.drop(undefined);
      throw new OpenpiServerError(this.url, reply.data.toString('utf8'));
    }
    try {
      return unpackb(reply.data);
    } catch (err) {
      throw new PolicyFailure(`openpi server ${this.url}: unreadable reply: ${(err as Error).message}`);
    }
  }

  /** Forgets the connection; the pending request, if any, rejects with `err`. */
  private drop(err: Error | undefined): void {
    const ws = this.ws;
    this.ws = undefined;
    const p = this.pending;
    this.pending = undefined;
    if (p && err) p.reject(err);
    ws?.removeAllListeners('message');
    ws?.terminate();
  }

  /** Opens a connection and reads the metadata frame; PolicyUnavailable when unreachable or too slow. */
  private async open(): Promise<void> {
    const ws = new WebSocket(this.url, {
      headers: this.api_key ? { Authorization: `Api-Key ${this.api_key}` } : undefined,
      perMessageDeflate: false,
      maxPayload: this.max_message_bytes,
      handshakeTimeout: this.connect_timeout_ms,
    });
    const first = await new Promise<Reply>((resolve, reject) => {
      const fail = (why: string, Kind: typeof PolicyFailure = PolicyUnavailable) => {
        clearTimeout(timer);
        ws.removeAllListeners();
        ws.on('error', () => undefined);
        ws.terminate();
        reject(new Kind(`openpi server ${this.url}: cannot connect: ${why}`));
      };
      const timer = setTimeout(
        () => fail(`no metadata frame within ${this.connect_timeout_ms} ms`),
        this.connect_timeout_ms,
      );
      ws.once('error', (err) => fail(err.message));
      // Refused credentials will not get better by retrying: say so, and which key was (not) sent.
      ws.once('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        if (status !== 401 && status !== 403) return fail(`HTTP ${status} instead of a WebSocket handshake`);
        const sent = this.api_key ? 'the key in $OPENPI_API_KEY was refused' : 'no key was sent (set $OPENPI_API_KEY)';
        fail(`HTTP ${status}: the server wants an API key and ${sent}`, PolicyFailure);
      });
      ws.once('close', (code) => fail(`the server closed the connection (code ${code})`));
      ws.once('message', (data, binary) => {
        clearTimeout(timer);
        ws.removeAllListeners();
        ws.on('error', () => undefined);
        resolve({ data: data as Buffer, binary });
      });
    });
    if (!first.binary) {
      ws.terminate();
      throw new OpenpiServerError(this.url, first.data.toString('utf8'));
    }
    try {
      this.metadata = unpackb(first.data);
    } catch (err) {
      ws.terminate();
      throw new PolicyFailure(`${this.url}: not an openpi server: its first frame is not msgpack (${err})`);
    }
    this.checkMetadata(ws);
    this.attach(ws);
  }

  /** A server that states H and D in its metadata (vla-serve does) must agree with the mapping. */
  private checkMetadata(ws: WebSocket): void {
    const md = this.metadata as Record<string, unknown> | null;
    if (md === null || typeof md !== 'object' || Array.isArray(md) || md instanceof Uint8Array) {
      ws.terminate();
      throw new PolicyFailure(`${this.url}: not an openpi server: its metadata frame is not a map`);
    }
    const m = this.mapping;
    const problems: string[] = [];
    if (typeof md.action_horizon === 'number' && md.action_horizon !== m.horizon)
      problems.push(`horizon: expected ${m.horizon} (--openpi-map), found ${md.action_horizon} (server metadata)`);
    if (typeof md.action_dim === 'number' && md.action_dim !== m.action_dim)
      problems.push(`dim: expected ${m.action_dim} (--openpi-map), found ${md.action_dim} (server metadata)`);
    if (problems.length) {
      ws.terminate();
      throw new PolicyFailure(`openpi server ${this.url} does not serve what the mapping says: ${problems.join('; ')}`);
    }
  }

  private attach(ws: WebSocket): void {
    this.ws = ws;
    this.stats.connects++;
    ws.on('message', (data, binary) => {
      const p = this.pending;
      this.pending = undefined;
      p?.resolve({ data: data as Buffer, binary });
    });
    ws.on('error', () => undefined); // 'close' follows and says what matters
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.stats.connection_losses++;
      const why = `${code}${reason.length ? ` ${reason.toString()}` : ''}`;
      this.drop(new PolicyUnavailable(`openpi server ${this.url}: connection lost (close code ${why})`));
    });
  }
}

/** Sets root[path[0]][path[1]]... = value, making the maps on the way. */
function put(root: Map<string, PackValue>, path: string[], value: PackValue): void {
  let m = root;
  for (const p of path.slice(0, -1)) {
    let next = m.get(p);
    if (!(next instanceof Map)) {
      next = new Map<string, PackValue>();
      m.set(p, next);
    }
    m = next as Map<string, PackValue>;
  }
  m.set(path[path.length - 1], value);
}

function describeValue(v: UnpackedValue | undefined): string {
  if (v === undefined) return 'no such key';
  if (v === null) return 'nil';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  return typeof v;
}
