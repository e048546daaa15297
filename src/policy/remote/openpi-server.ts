// Any runtime Policy behind openpi's policy-server protocol, so openpi clients (openpi_client's
// WebsocketClientPolicy, this runtime's OpenpiPolicy) can use it: `vla-serve --protocol openpi`.
// Protocol (openpi's, from its public description): a WebSocket on any path; on connect the server sends one binary
// msgpack map, its metadata (here: what the policy is, H, D, offset, rate, cameras and the observation keys it
// reads, plus the `--openpi-map` spec a vla-run client can use as is); each binary msgpack observation map is
// answered with `{actions: float32 [H, D], server_timing: {infer_ms, prev_total_ms}}`; an exception (a bad
// observation, a failing policy) is sent as a text frame (the error and its stack) followed by close code 1011,
// and the server goes on serving other connections. `GET /healthz` over plain HTTP on the same port answers 200.
// Beyond openpi: binds loopback unless told otherwise, refuses messages over a size limit (close code 1009),
// runs one inference at a time across all connections (a runtime Policy takes one call at a time), and with an
// API key answers a handshake without `Authorization: Api-Key <key>` (the header openpi's client sends) with 401.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  checkMapping,
  formatKey,
  formatOpenpiMapping,
  type OpenpiMapping,
  parseOpenpiMapping,
} from '../../../protocols/openpi/mapping.js';
import {
  NdArray,
  type PackValue,
  packb,
  type UnpackedValue,
  unpackb,
} from '../../../protocols/openpi/msgpack-numpy.js';
import type { ActionChunk, CameraImage, Observation, Policy, PolicyDescription } from '../policy.js';
import { chwToHwc } from './openpi-image.js';

export interface OpenpiServerOptions {
  policy: Policy;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Default 8000 (openpi's); 0 picks a free port. */
  port?: number;
  /**
   * Which observation key feeds which camera: a mapping, or a `--openpi-map` spec (horizon, dim, offset and rate
   * default to the policy's); default defaultServerMapping(policy.describe()). Throws OpenpiMappingError.
   */
  mapping?: OpenpiMapping | string;
  /** Largest observation message accepted (default 16 MiB); a larger one closes the connection (1009). */
  max_message_bytes?: number;
  /** One line per connection event and per failed request. */
  log?: (line: string) => void;
  /** Handshakes must carry `Authorization: Api-Key <api_key>`; others get HTTP 401 (counted as `refused`). */
  api_key?: string;
}

export interface OpenpiServer {
  /** ws://host:port */
  url: string;
  port: number;
  metadata: Record<string, PackValue>;
  counters(): Record<string, number>;
  /** Stops listening and closes every connection (the policy is the caller's to close). */
  close(): Promise<void>;
}

/** Requests one connection may have waiting (openpi's client sends one and waits); past it, an error. */
const MAX_QUEUED = 8;
/** Largest image side accepted (pixels): far above any policy's input, far below what would exhaust memory. */
const MAX_IMAGE_SIDE = 4096;

export const OPENPI_CLOSE_REASON = 'Internal server error. Traceback included in previous frame.';

/**
 * The keys a server reads when the user gives no mapping: each camera under `observation/<camera>` at the size the
 * policy takes it (HxWx3 uint8), the state under `observation/state`, the instruction under `prompt`.
 */
export function defaultServerMapping(desc: PolicyDescription): OpenpiMapping {
  return {
    images: desc.cameras.map((c) => ({
      key: [`observation/${c.name}`],
      camera: c.name,
      width: c.width,
      height: c.height,
      layout: 'hwc',
    })),
    state: [{ key: ['observation/state'], from: 0, to: undefined }],
    state_dtype: 'f4',
    prompt_key: ['prompt'],
    prompt_text: undefined,
    horizon: desc.horizon,
    action_dim: desc.action_dim,
    action_offset: desc.action_offset,
    control_hz: desc.control_hz,
  };
}

/** The metadata frame: free-form in openpi; ours says what a client needs to build observations and read chunks. */
export function serverMetadata(desc: PolicyDescription, m: OpenpiMapping): Record<string, PackValue> {
  return {
    server: 'vla-runtime',
    policy: desc.name,
    kind: desc.kind,
    action_horizon: desc.horizon,
    action_dim: desc.action_dim,
    action_offset: desc.action_offset,
    control_hz: desc.control_hz,
    cameras: m.images.map((i) => ({
      key: formatKey(i.key),
      camera: i.camera,
      width: i.width,
      height: i.height,
      layout: i.layout,
    })),
    state_keys: m.state.map((s) => formatKey(s.key)),
    prompt_key: m.prompt_key ? formatKey(m.prompt_key) : null,
    openpi_map: formatOpenpiMapping(m),
  };
}

export async function startOpenpiServer(opts: OpenpiServerOptions): Promise<OpenpiServer> {
  const { policy } = opts;
  const desc = policy.describe();
  const given = opts.mapping;
  const mapping =
    typeof given === 'string'
      ? parseOpenpiMapping(given, {
          horizon: desc.horizon,
          action_dim: desc.action_dim,
          action_offset: desc.action_offset,
          control_hz: desc.control_hz,
        })
      : (given ?? defaultServerMapping(desc));
  checkMapping(mapping);
  if (mapping.horizon !== desc.horizon || mapping.action_dim !== desc.action_dim)
    throw new Error(
      `openpi mapping: horizon ${mapping.horizon}, dim ${mapping.action_dim} do not match the policy's ` +
        `${desc.horizon}, ${desc.action_dim}`,
    );
  const stats = { connections: 0, requests: 0, replies: 0, errors: 0, refused: 0 };
  let inference: Promise<unknown> = Promise.resolve(); // one policy call at a time, across connections
  let tick = 0;
  const ctx: Context = {
    mapping,
    stats,
    log: opts.log ?? (() => undefined),
    metadata: packb(serverMetadata(desc, mapping)),
    nextTick: () => tick++,
    infer: (obs) => {
      const call = inference.then(async () => {
        const t = performance.now();
        const chunk = await policy.infer(obs);
        return { chunk, infer_ms: performance.now() - t };
      });
      inference = call.catch(() => undefined);
      return call;
    },
  };
  const http = createServer(healthz);
  const wss = new WebSocketServer({
    server: http,
    maxPayload: opts.max_message_bytes ?? 16 << 20,
    perMessageDeflate: false,
    verifyClient: opts.api_key === undefined ? undefined : keyCheck(opts.api_key, stats, opts.log),
  });
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => serveConnection(ws, req, ctx));
  wss.on('error', () => undefined); // the HTTP server's errors, re-emitted: listen() below reports them

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => {
      wss.close();
      reject(new Error(`openpi server: cannot listen on ${host}:${opts.port ?? 8000}: ${err.message}`));
    };
    http.once('error', fail);
    http.listen(opts.port ?? 8000, host, () => {
      http.off('error', fail);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `ws://${urlHost}:${port}`,
    port,
    metadata: serverMetadata(desc, mapping),
    counters: () => ({ ...stats }),
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

interface Context {
  mapping: OpenpiMapping;
  stats: { connections: number; requests: number; replies: number; errors: number };
  log: (line: string) => void;
  metadata: Uint8Array;
  nextTick: () => number;
  infer: (obs: Observation) => Promise<{ chunk: ActionChunk; infer_ms: number }>;
}

/** One client: the metadata frame, then its requests answered in order, one at a time. */
function serveConnection(ws: WebSocket, req: IncomingMessage, ctx: Context): void {
  const who = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  ctx.stats.connections++;
  ctx.log(`openpi: connection from ${who}`);
  ws.on('error', (err) => ctx.log(`openpi: ${who}: ${err.message}`));
  ws.on('close', (code) => ctx.log(`openpi: ${who} closed (${code})`));
  ws.send(ctx.metadata);
  let mine: Promise<void> = Promise.resolve();
  const state = { prev_total_ms: undefined as number | undefined, queued: 0 };
  ws.on('message', (data, binary) => {
    const overflow = ++state.queued > MAX_QUEUED;
    mine = mine.then(async () => {
      try {
        if (ws.readyState !== ws.OPEN) return;
        ctx.stats.requests++;
        if (overflow) throw new Error(`over ${MAX_QUEUED} requests queued on one connection (openpi: one at a time)`);
        if (!binary) throw new Error('expected a binary msgpack observation, got a text frame');
        await answer(ws, data as Buffer, ctx, state);
      } catch (err) {
        ctx.stats.errors++;
        const e = err as Error;
        ctx.log(`openpi: ${who}: request failed: ${e.message}`);
        if (ws.readyState !== ws.OPEN) return;
        ws.send(e.stack ?? String(e)); // a text frame: openpi's client raises on it
        ws.close(1011, OPENPI_CLOSE_REASON);
      } finally {
        state.queued--;
      }
    });
  });
}

async function answer(ws: WebSocket, data: Buffer, ctx: Context, state: { prev_total_ms?: number }): Promise<void> {
  const t0 = performance.now();
  const obs = toObservation(unpackb(data), ctx.mapping, ctx.nextTick());
  const { chunk, infer_ms } = await ctx.infer(obs);
  const server_timing: Record<string, PackValue> = { infer_ms };
  if (state.prev_total_ms !== undefined) server_timing.prev_total_ms = state.prev_total_ms;
  const actions = new NdArray(chunk.actions.slice(0, chunk.horizon * chunk.dim), [chunk.horizon, chunk.dim]);
  if (ws.readyState !== ws.OPEN) return;
  ws.send(packb({ actions, server_timing }));
  ctx.stats.replies++;
  state.prev_total_ms = performance.now() - t0;
}

/** `host:port`, `ws://host:port`, `:port` or `port` -> where to listen (default 127.0.0.1:8000). */
export function parseOpenpiBind(spec: string | undefined): { host: string; port: number } {
  const s = (spec ?? '')
    .trim()
    .replace(/^wss?:\/\//i, '')
    .replace(/\/$/, '');
  if (/^\d+$/.test(s)) return { host: '127.0.0.1', port: checkPort(Number(s), spec) };
  const m = /^(?:\[([^\]]+)\]|([^:[\]/]*))(?::(\d+))?$/.exec(s);
  if (!m) throw new Error(`--bind ${spec}: expected host:port or ws://host:port (e.g. 127.0.0.1:8000, 0.0.0.0:8000)`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: checkPort(m[3] === undefined ? 8000 : Number(m[3]), spec) };
}

function checkPort(port: number, spec: string | undefined): number {
  if (!(port >= 0 && port <= 65535)) throw new Error(`--bind ${spec}: port ${port} is not in 0..65535`);
  return port;
}

type VerifyClient = (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number, why?: string) => void) => void;

/** Accepts a handshake only with the right `Authorization: Api-Key <key>`, compared in constant time. */
function keyCheck(key: string, stats: { refused: number }, log?: (line: string) => void): VerifyClient {
  const want = Buffer.from(`Api-Key ${key}`);
  return ({ req }, cb) => {
    const got = Buffer.from(req.headers.authorization ?? '');
    if (got.length === want.length && timingSafeEqual(got, want)) return cb(true);
    stats.refused++;
    log?.(`openpi: ${req.socket.remoteAddress}: refused (${got.length ? 'wrong' : 'no'} API key)`);
    cb(false, 401, 'Unauthorized');
  };
}

/** `GET /healthz` -> 200; any other plain HTTP request -> 426 (this port speaks WebSocket). */
function healthz(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/healthz' || req.url?.startsWith('/healthz?')) {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('OK\n');
    return;
  }
  res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('Upgrade Required: WebSocket\n');
}

function get(root: UnpackedValue, path: string[]): UnpackedValue | undefined {
  let v: UnpackedValue | undefined = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof NdArray)
      return undefined;
    v = Object.hasOwn(v, p) ? (v as Record<string, UnpackedValue>)[p] : undefined;
  }
  return v;
}

/** An openpi image (uint8 HxWx3 or 3xHxW; float in [0, 1] is scaled, as openpi's policies do) -> packed RGB. */
function toCamera(v: UnpackedValue | undefined, key: string, camera: string): CameraImage {
  if (!(v instanceof NdArray)) throw new Error(`observation key '${key}' (camera ${camera}): expected an image array`);
  const s = v.shape;
  const chw = s.length === 3 && s[0] === 3 && s[2] !== 3;
  if (s.length !== 3 || (s[2] !== 3 && !chw))
    throw new Error(`observation key '${key}': expected an image [H, W, 3] or [3, H, W], found [${s.join(', ')}]`);
  let bytes: Uint8Array;
  if (v.dtype === '|u1') bytes = v.data as Uint8Array;
  else if (v.dtype === '<f4' || v.dtype === '<f8')
    bytes = Uint8Array.from(v.data as Float32Array, (x) => Math.min(255, Math.max(0, Math.trunc(255 * x))));
  else throw new Error(`observation key '${key}': expected a uint8 image, found dtype ${v.dtype}`);
  const [height, width] = chw ? [s[1], s[2]] : [s[0], s[1]];
  // an empty or absurd image would reach the policy's resize: refuse it here, naming the key
  if (!(width >= 1 && height >= 1 && width <= MAX_IMAGE_SIDE && height <= MAX_IMAGE_SIDE))
    throw new Error(`observation key '${key}': an image of ${width}x${height}, expected 1..${MAX_IMAGE_SIDE} a side`);
  const rgb = chw ? chwToHwc(bytes, width, height) : bytes.slice();
  return { name: camera, width, height, rgb, t_mono_ms: performance.now() };
}

function numbers(v: UnpackedValue | undefined, key: string): ArrayLike<number> {
  if (v instanceof NdArray && !(v.data instanceof BigInt64Array || v.data instanceof BigUint64Array))
    return v.data as ArrayLike<number>;
  if (v instanceof NdArray) return Array.from(v.data as BigInt64Array, Number);
  if (typeof v === 'number') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v as number[];
  throw new Error(
    `observation key '${key}': expected numbers (the state), found ${v === undefined ? 'nothing' : typeof v}`,
  );
}

/** An openpi observation map -> the runtime's Observation, as the mapping says; throws naming the key at fault. */
export function toObservation(msg: UnpackedValue, m: OpenpiMapping, tick: number): Observation {
  if (
    msg === null ||
    typeof msg !== 'object' ||
    Array.isArray(msg) ||
    msg instanceof Uint8Array ||
    msg instanceof NdArray
  )
    throw new Error('expected the observation as a msgpack map');
  const images = m.images.map((i) => toCamera(get(msg, i.key), formatKey(i.key), i.camera));
  const parts = m.state.map((s) => numbers(get(msg, s.key), formatKey(s.key)));
  const state = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    state.set(p, at);
    at += p.length;
  }
  // a NaN state gives a NaN chunk at best: refuse it, naming where
  const bad = state.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new Error(`state[${bad}] is not a finite number: ${state[bad]}`);
  const prompt = m.prompt_key ? get(msg, m.prompt_key) : undefined;
  const obs: Observation = { tick, t_mono_ms: performance.now(), state, images };
  if (typeof prompt === 'string') obs.instruction = prompt;
  else if (prompt instanceof Uint8Array) obs.instruction = Buffer.from(prompt).toString('utf8');
  return obs;
}
