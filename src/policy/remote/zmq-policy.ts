// A policy served by `vla-serve` on another machine, as a Policy (protocol: protocols/policy-server/protocol.ts;
// the socket, ids, timeouts and reconnects: server-link.ts). While the server is unreachable, busy, or does not
// answer in time, infer() rejects with PolicyUnavailable (the runtime holds and asks again with a fresh
// observation); a reply that comes late is discarded and counted. After every reconnect the server's manifest is
// asked for again: a server that came back with another policy is a PolicyFailure.
import {
  type ChunkReply,
  type ClientMessage,
  f32Frame,
  header,
  type ManifestReply,
  type PolicyFacts,
  readF32,
  type ServerMessage,
  type ServerTiming,
} from '../../../protocols/policy-server/protocol.js';
import {
  type ActionChunk,
  type Observation,
  type Policy,
  type PolicyDescription,
  PolicyFailure,
  PolicyUnavailable,
} from '../policy.js';
import { FramePreparer } from './frames.js';
import { ServerLink } from './server-link.js';

export interface ZmqPolicyOptions {
  /** tcp://host:port */
  endpoint: string;
  /** A request without a reply after this long rejects (default 2000 ms). */
  timeout_ms?: number;
  /** How long connect() waits for the server's manifest (default 3000 ms). */
  connect_timeout_ms?: number;
  /** Send camera frames as JPEG of this quality (1..100); default raw RGB. */
  jpeg_quality?: number;
  /** CurveZMQ: the server's public key, and this client's key pair (Z85). */
  curve?: { server_key: string; public_key: string; secret_key: string };
  /** Largest reply frame accepted (default 16 MiB). */
  max_reply_bytes?: number;
  /** Who is asking, for the server's log. */
  client?: string;
}

export interface RemotePolicyDescription extends PolicyDescription {
  kind: 'remote';
  endpoint: string;
  state_dim: number | undefined;
  robot: string | undefined;
  action_names: string[] | undefined;
  /** What the server runs (onnx, ...). */
  served_kind: string;
}

/** The last answered call, split by where its time went (the server's part on its own clock). */
export interface RemoteCallTiming extends ServerTiming {
  round_trip_ms: number;
  encode_ms: number;
  bytes_sent: number;
  bytes_received: number;
}

const newCounters = () => ({
  /** infer() calls, requests that went out, chunks that came back. */
  requests: 0,
  sent: 0,
  chunks: 0,
  last_request_bytes: 0,
  unavailable: 0,
  malformed_chunks: 0,
  server_ms: { queue: 0, preprocess: 0, inference: 0 },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ZmqPolicy implements Policy {
  readonly endpoint: string;
  /** The last answered infer() call, for latency tools. */
  last_call: RemoteCallTiming | undefined;
  private readonly link: ServerLink;
  private readonly prep: FramePreparer;
  private readonly stats = newCounters();
  private readonly timeout_ms: number;
  private infer_bytes = 0;
  private manifest!: ManifestReply;
  private description!: RemotePolicyDescription;
  private verified = false;
  private verifying: Promise<void> | undefined;
  private failure: PolicyFailure | undefined;
  private closed = false;

  private constructor(private readonly opts: ZmqPolicyOptions) {
    this.endpoint = opts.endpoint;
    this.timeout_ms = opts.timeout_ms ?? 2000;
    this.prep = new FramePreparer(opts.jpeg_quality);
    this.link = new ServerLink(opts);
    this.link.onReconnect = () => {
      this.verified = false;
    };
    this.link.onFatal = (err) => {
      this.failure ??= err;
    };
  }

  /**
   * Connect, say hello and read the server's manifest. Rejects with PolicyUnavailable when no server answers in
   * time, and with PolicyFailure when the server refuses this client (CURVE key) or speaks another protocol.
   */
  static async connect(opts: ZmqPolicyOptions): Promise<ZmqPolicy> {
    const p = new ZmqPolicy(opts);
    try {
      p.adopt(await p.firstHello(opts.connect_timeout_ms ?? 3000));
    } catch (err) {
      await p.close();
      throw err;
    }
    return p;
  }

  describe(): RemotePolicyDescription {
    return this.description;
  }

  /** The server's answer to hello: the policy, image encodings, limits. */
  get server(): ManifestReply {
    return this.manifest;
  }

  infer(obs: Observation): Promise<ActionChunk> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new PolicyFailure(`${this.endpoint}: the remote policy is closed`));
    this.stats.requests++;
    return this.inferRemote(obs).catch((err: Error) => {
      if (err instanceof PolicyUnavailable) this.stats.unavailable++;
      throw err;
    });
  }

  /** Ask the server how it is (queue, uptime). */
  async health(): Promise<Extract<ServerMessage, { type: 'health' }>> {
    const id = this.link.newId();
    const { msg } = await this.link.request(id, [header({ v: 1, type: 'health', id })], this.timeout_ms, undefined);
    if (msg.type !== 'health') throw new PolicyFailure(`${this.endpoint}: expected a health reply, found ${msg.type}`);
    return msg;
  }

  counters(): Record<string, unknown> {
    const s = this.stats;
    const mean_request_bytes = s.sent ? Math.round(this.infer_bytes / s.sent) : 0;
    return { endpoint: this.endpoint, ...s, ...this.link.counters, mean_request_bytes };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.link.close(new PolicyFailure(`${this.endpoint}: the remote policy was closed while a request was in flight`));
  }

  private async inferRemote(obs: Observation): Promise<ActionChunk> {
    this.link.checkReachable();
    await this.verify();
    const t0 = performance.now();
    const { id, frames, stage } = this.encode(obs);
    const encode_ms = performance.now() - t0;
    const bytes = frames.reduce((n, f) => n + f.length, 0);
    if (bytes > this.manifest.max_message_bytes)
      throw new PolicyFailure(
        `${this.endpoint}: a request is ${bytes} bytes, over the server's limit of ` +
          `${this.manifest.max_message_bytes} ` +
          '(vla-serve --max-message-mb), or send JPEG (jpeg_quality)',
      );
    this.stats.sent++;
    this.infer_bytes += bytes;
    this.stats.last_request_bytes = bytes;
    const { msg, frames: rest } = await this.link.request(id, frames, this.timeout_ms, obs.tick, stage);
    if (msg.type !== 'chunk') throw new PolicyFailure(`${this.endpoint}: expected a chunk, found ${msg.type}`);
    const chunk = this.chunkFrom(msg, rest, obs.tick);
    const received = rest.reduce((n, f) => n + f.length, 0);
    this.last_call = {
      ...msg.timing,
      round_trip_ms: performance.now() - t0,
      encode_ms,
      bytes_sent: bytes,
      bytes_received: received,
    };
    chunk.infer_ms = this.last_call.round_trip_ms;
    return chunk;
  }

  /** The request's frames: header, state, one frame per camera at the model's size, the committed prefix. */
  private encode(obs: Observation): { id: number; frames: Buffer[]; stage: Buffer[] } {
    const f = this.manifest.policy;
    if (f.state_dim !== undefined && obs.state.length !== f.state_dim)
      throw new Error(
        `${this.endpoint}: observation at tick ${obs.tick}: state: expected ${f.state_dim} values, found ` +
          `${obs.state.length}`,
      );
    const stage = this.link.takeStage() ?? f.cameras.map((c) => Buffer.allocUnsafe(c.width * c.height * 3));
    const images = f.cameras.map((cam, i) => {
      const img = obs.images.find((i) => i.name === cam.name);
      if (!img)
        throw new Error(
          `${this.endpoint}: observation at tick ${obs.tick}: camera '${cam.name}': expected a frame, found none ` +
            `(frames: ${obs.images.map((i) => i.name).join(', ') || 'none'})`,
        );
      return this.prep.prepare(img, cam, stage[i]);
    });
    const rows = obs.committed && f.max_committed > 0 ? Math.min(obs.committed.count, f.max_committed) : 0;
    const committed = rows > 0 ? obs.committed!.actions.slice(0, rows * f.action_dim) : undefined;
    const id = this.link.newId();
    const head: ClientMessage = {
      v: 1,
      type: 'infer',
      id,
      tick: obs.tick,
      state: obs.state.length,
      cameras: images.map(({ name, width, height, encoding, data }) => ({
        name,
        width,
        height,
        encoding,
        bytes: data.length,
      })),
      ...(committed ? { committed: committed.length / f.action_dim } : {}),
      ...(obs.first_tick_hint === undefined ? {} : { first_tick_hint: obs.first_tick_hint }),
    };
    const out = [header(head), Buffer.from(obs.state.slice().buffer), ...images.map((i) => i.data)];
    if (committed) out.push(f32Frame(committed));
    return { id, frames: out, stage };
  }

  private chunkFrom(msg: ChunkReply, frames: Buffer[], tick: number): ActionChunk {
    const { horizon, action_dim } = this.manifest.policy;
    const bad = (what: string) => {
      this.stats.malformed_chunks++;
      return new PolicyFailure(`${this.endpoint}: malformed chunk for tick ${tick}: ${what}`);
    };
    if (msg.tick !== tick) throw bad(`it answers tick ${msg.tick}`);
    if (msg.horizon !== horizon || msg.dim !== action_dim)
      throw bad(`expected [${horizon}, ${action_dim}], found [${msg.horizon}, ${msg.dim}]`);
    if (frames.length !== 1) throw bad(`expected 1 frame after the header, found ${frames.length}`);
    let actions: Float32Array;
    try {
      actions = readF32(frames[0], horizon * action_dim, 'actions').slice();
    } catch (err) {
      throw bad((err as Error).message);
    }
    this.stats.chunks++;
    const s = this.stats.server_ms;
    s.queue += msg.timing.queue_ms;
    s.preprocess += msg.timing.preprocess_ms;
    s.inference += msg.timing.inference_ms;
    return { obs_tick: tick, first_tick: msg.first_tick, horizon, dim: action_dim, actions, infer_ms: 0 };
  }

  /** After a reconnect: the server must still serve the policy this run was checked against. */
  private verify(): Promise<void> {
    if (this.verified) return Promise.resolve();
    this.verifying ??= this.hello(this.timeout_ms)
      .then((m) => {
        const was = JSON.stringify(this.manifest.policy);
        if (JSON.stringify(m.policy) !== was) {
          this.failure ??= new PolicyFailure(
            `policy server ${this.endpoint} came back serving another policy: expected ${was}, found ` +
              `${JSON.stringify(m.policy)}`,
          );
          throw this.failure;
        }
        this.manifest = m;
        this.verified = true;
      })
      .finally(() => {
        this.verifying = undefined;
      });
    return this.verifying;
  }

  private async hello(timeout_ms: number): Promise<ManifestReply> {
    const id = this.link.newId();
    const client = this.opts.client ?? `pid ${process.pid}`;
    const { msg } = await this.link.request(id, [header({ v: 1, type: 'hello', id, client })], timeout_ms, undefined);
    if (msg.type !== 'manifest') throw new PolicyFailure(`${this.endpoint}: expected a manifest, found ${msg.type}`);
    return msg;
  }

  /** The first hello: retried while the connection comes up, until the deadline. */
  private async firstHello(timeout_ms: number): Promise<ManifestReply> {
    const deadline = performance.now() + timeout_ms;
    for (;;) {
      const refused = this.link.refusal;
      if (refused?.auth) throw new PolicyFailure(refused.message);
      const left = deadline - performance.now();
      if (left <= 0) break;
      try {
        return await this.hello(Math.max(1, left));
      } catch (err) {
        if (!(err instanceof PolicyUnavailable)) throw err;
        await sleep(Math.min(25, Math.max(0, deadline - performance.now())));
      }
    }
    const refused = this.link.refusal;
    if (refused) throw new PolicyFailure(refused.message);
    throw new PolicyUnavailable(
      `no policy server answers at ${this.endpoint} (waited ${(timeout_ms / 1000).toFixed(1)} s): is vla-serve ` +
        'running there, and is the address right?',
    );
  }

  private adopt(m: ManifestReply): void {
    this.manifest = m;
    this.link.markConnected();
    this.verified = true;
    const f: PolicyFacts = m.policy;
    this.description = {
      name: f.name,
      kind: 'remote',
      endpoint: this.endpoint,
      served_kind: f.kind,
      horizon: f.horizon,
      action_dim: f.action_dim,
      action_offset: f.action_offset,
      cameras: f.cameras.map(({ name, width, height }) => ({ name, width, height })),
      control_hz: f.control_hz,
      max_committed: f.max_committed,
      state_dim: f.state_dim,
      robot: f.robot,
      action_names: f.action_names,
    };
  }
}
