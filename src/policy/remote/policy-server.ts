// The policy server behind `vla-serve`: one ZeroMQ ROUTER socket, any number of clients (each reply is routed to
// the client that asked). The event loop only reads, checks and routes messages; inference runs in the policies'
// own threads (OnnxPolicy's worker), one request per policy of the pool at a time, the rest waiting in a bounded
// queue (a full queue answers `busy`). Whatever is malformed, too large or does not fit the policy is answered
// with a typed error and counted, and the server goes on serving everyone else. Optional CurveZMQ: encryption,
// and only clients whose public key was given get in (ZAP handler in a context of the server's own).
import { Context, Router } from 'zeromq';
import { ZapHandler } from '../../../protocols/policy-server/curve.js';
import {
  ClientMessageSchema,
  type ErrorCode,
  f32Frame,
  header,
  type InferHeader,
  type PolicyFacts,
  parseHeader,
  type ServerMessage,
} from '../../../protocols/policy-server/protocol.js';
import { type Policy, PolicyFailure } from '../policy.js';
import { observationFrom, rawRequestBytes, servedFacts } from './server-request.js';

export interface PolicyServerOptions {
  /** ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:5555 (port 0: any free port; see `endpoint`). */
  bind: string;
  /** Largest request accepted, all frames together (default: 2x a raw request of this policy, at least 1 MiB). */
  max_message_bytes?: number;
  /** Requests waiting for a free policy, all clients together (default 16). */
  max_queue?: number;
  /** Requests one client may have waiting or running (default 4). */
  max_per_client?: number;
  /** CurveZMQ: the server's secret key and the public keys of the clients let in (Z85). */
  curve?: { secret_key: string; allowed_client_keys: readonly string[] };
  /** What happened, for the log: clients let in or refused, fatal policy errors. */
  on_event?: (e: ServerEvent) => void;
  /** Rehearsal: every answer waits this much longer (ms), reported as inference time, as a slower model's would. */
  inject_latency_ms?: number;
}

export type ServerEvent =
  | { type: 'client_key'; allowed: boolean; client_key: string; address: string }
  | { type: 'hello'; client: string; peer: string }
  | { type: 'fatal'; message: string };

export interface ClientStats {
  /** The ZeroMQ routing id of the connection (hex); a client that reconnects is a new one. */
  peer: string;
  /** What the client called itself in its hello. */
  client: string;
  requests: number;
  chunks: number;
  errors: Partial<Record<ErrorCode, number>>;
  bytes_in: number;
  bytes_out: number;
}

export interface ServerStats {
  endpoint: string;
  uptime_s: number;
  clients: ClientStats[];
  /** Rejected messages by error code, all clients together. */
  rejected: Partial<Record<ErrorCode, number>>;
  connections: number;
  disconnects: number;
  refused_client_keys: number;
}

interface Client extends ClientStats {
  rid: Buffer;
  active: number;
}

interface Job {
  client: Client;
  head: InferHeader;
  frames: Buffer[];
  t_recv: number;
}

const MAX_CLIENT_RECORDS = 1000;

/** How long after its last reply a closing server waits for the replies to leave (ms). */
const CLOSE_FLUSH_MS = 200;

export class PolicyServer {
  /** The bound endpoint (a port 0 resolved to the real one). */
  readonly endpoint: string;
  readonly facts: PolicyFacts;
  readonly max_message_bytes: number;
  private readonly max_queue: number;
  private readonly max_per_client: number;
  private readonly clients = new Map<string, Client>();
  private readonly queue: Job[] = [];
  private readonly idle: Policy[];
  private readonly rejected: Partial<Record<ErrorCode, number>> = {};
  private readonly t0 = performance.now();
  private sending: Promise<unknown> = Promise.resolve();
  private running = 0;
  private served = 0;
  private live: number;
  /** When the last reply was queued (performance.now() ms). */
  private last_reply_ms = -Infinity;
  private connections = 0;
  private disconnects = 0;
  private refused_keys = 0;
  private closing = false;

  private constructor(
    private readonly router: Router,
    private readonly zap: ZapHandler | undefined,
    pool: Policy[],
    private readonly opts: PolicyServerOptions,
    facts: PolicyFacts,
    max_bytes: number,
  ) {
    this.endpoint = router.lastEndpoint ?? opts.bind;
    this.facts = facts;
    this.max_message_bytes = max_bytes;
    this.max_queue = opts.max_queue ?? 16;
    this.max_per_client = opts.max_per_client ?? 4;
    this.idle = [...pool];
    this.live = pool.length;
    void this.receiveLoop();
    void this.watch();
  }

  /**
   * Bind and serve `pool` (one or more instances of the same policy; each serves one request at a time).
   * Rejects naming the endpoint when it cannot bind (address in use, bad address).
   */
  static async start(pool: Policy[], opts: PolicyServerOptions): Promise<PolicyServer> {
    if (pool.length === 0) throw new Error('a policy server needs at least one policy');
    const facts = servedFacts(pool[0]);
    const max_bytes = opts.max_message_bytes ?? Math.max(1 << 20, 2 * rawRequestBytes(facts));
    const context = new Context();
    let server: PolicyServer | undefined;
    const onKey = (d: { allowed: boolean; client_key: string; address: string }) => {
      if (!d.allowed && server) server.refused_keys++;
      opts.on_event?.({ type: 'client_key', allowed: d.allowed, client_key: d.client_key, address: d.address });
    };
    const c = opts.curve;
    const zap = c ? await ZapHandler.start(context, c.allowed_client_keys, onKey) : undefined;
    const router = new Router({
      context,
      linger: 0,
      maxMessageSize: max_bytes,
      ...(c ? { curveServer: true, curveSecretKey: c.secret_key } : {}),
    });
    try {
      await router.bind(opts.bind);
    } catch (err) {
      router.close();
      zap?.close();
      throw new Error(`cannot bind ${opts.bind}: ${(err as Error).message}`);
    }
    server = new PolicyServer(router, zap, pool, opts, facts, max_bytes);
    return server;
  }

  stats(): ServerStats {
    return {
      endpoint: this.endpoint,
      uptime_s: Math.round((performance.now() - this.t0) / 100) / 10,
      clients: [...this.clients.values()].map(({ rid: _r, active: _a, ...s }) => ({ ...s, errors: { ...s.errors } })),
      rejected: { ...this.rejected },
      connections: this.connections,
      disconnects: this.disconnects,
      refused_client_keys: this.refused_keys,
    };
  }

  /** Stop listening: queued requests are answered `shutting_down`; the policies are the caller's to close. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const job of this.queue.splice(0)) this.reject(job.client, job.head.id, 'shutting_down', 'the server stops');
    await this.sending;
    // a sent reply is only queued: the last ones (a fatal error, shutting_down) must leave before the socket
    // closes, and a process that exits right after does not wait for ZeroMQ's linger
    const flushed_at_ms = this.last_reply_ms + CLOSE_FLUSH_MS;
    if (performance.now() < flushed_at_ms) await new Promise((r) => setTimeout(r, flushed_at_ms - performance.now()));
    this.router.linger = CLOSE_FLUSH_MS;
    this.router.close();
    this.zap?.close();
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [rid, ...frames] of this.router) this.onMessage(rid, frames);
    } catch {
      // the socket was closed
    }
  }

  private onMessage(rid: Buffer, frames: Buffer[]): void {
    const t_recv = performance.now();
    const client = this.client(rid);
    const size = frames.reduce((n, f) => n + f.length, 0);
    client.bytes_in += size;
    const parsed = parseHeader(frames[0], ClientMessageSchema);
    if (size > this.max_message_bytes) {
      const id = parsed.ok ? parsed.msg.id : parsed.problem.id;
      this.reject(client, id, 'too_large', `${size} bytes, over this server's limit of ${this.max_message_bytes}`);
      return;
    }
    if (!parsed.ok) {
      this.reject(client, parsed.problem.id, parsed.problem.code, parsed.problem.message);
      return;
    }
    const msg = parsed.msg;
    if (msg.type === 'hello') {
      client.client = msg.client ?? client.client;
      this.opts.on_event?.({ type: 'hello', client: client.client, peer: client.peer });
      this.reply(client, [
        header({
          v: 1,
          type: 'manifest',
          id: msg.id,
          policy: this.facts,
          images: ['raw', 'jpeg'],
          max_message_bytes: this.max_message_bytes,
          max_queue: this.max_queue,
        }),
      ]);
    } else if (msg.type === 'health') {
      const h: ServerMessage = {
        v: 1,
        type: 'health',
        id: msg.id,
        ok: this.live > 0 && !this.closing,
        policy: this.facts.name,
        queued: this.queue.length,
        in_flight: this.running,
        served: this.served,
        uptime_s: Math.round(performance.now() - this.t0) / 1000,
      };
      this.reply(client, [header(h)]);
    } else {
      this.enqueue({ client, head: msg, frames: frames.slice(1), t_recv });
    }
  }

  private enqueue(job: Job): void {
    const { client, head } = job;
    client.requests++;
    const refusal = this.refusal(client);
    if (refusal) {
      this.reject(client, head.id, refusal.code, refusal.message, refusal.code === 'inference_failed');
      return;
    }
    client.active++;
    this.queue.push(job);
    this.pump();
  }

  /** Why a request cannot be queued now, if it cannot. */
  private refusal(client: Client): { code: ErrorCode; message: string } | undefined {
    if (this.closing) return { code: 'shutting_down', message: 'the server stops' };
    if (this.live === 0) return { code: 'inference_failed', message: 'the policy has failed; restart vla-serve' };
    if (client.active >= this.max_per_client)
      return { code: 'busy', message: `${client.active} requests of this client are already queued` };
    if (this.queue.length >= this.max_queue)
      return { code: 'busy', message: `the queue is full (${this.max_queue} requests)` };
    return undefined;
  }

  private pump(): void {
    while (this.queue.length > 0 && this.idle.length > 0) {
      const job = this.queue.shift()!;
      void this.run(job, this.idle.pop()!);
    }
  }

  private async run(job: Job, policy: Policy): Promise<void> {
    const { client, head } = job;
    this.running++;
    const t_start = performance.now();
    let dead = false;
    try {
      const built = observationFrom(head, job.frames, this.facts);
      if (!built.ok) {
        this.reject(client, head.id, 'bad_request', built.problem);
        return;
      }
      const t_infer = performance.now();
      const chunk = await policy.infer(built.obs);
      const extra_ms = this.opts.inject_latency_ms ?? 0;
      if (extra_ms > 0) await new Promise((r) => setTimeout(r, extra_ms));
      const done = performance.now();
      const timing = { queue_ms: t_start - job.t_recv, preprocess_ms: t_infer - t_start, inference_ms: done - t_infer };
      const { horizon, dim, first_tick } = chunk;
      const reply: ServerMessage = {
        v: 1,
        type: 'chunk',
        id: head.id,
        tick: head.tick,
        first_tick,
        offset: first_tick - head.tick,
        horizon,
        dim,
        timing,
      };
      client.chunks++;
      this.served++;
      this.reply(client, [header(reply), f32Frame(chunk.actions)]);
    } catch (err) {
      dead = err instanceof PolicyFailure;
      const message = err instanceof Error ? err.message : String(err);
      this.reject(client, head.id, 'inference_failed', message, dead);
      if (dead) {
        this.live--;
        this.opts.on_event?.({ type: 'fatal', message });
      }
    } finally {
      this.running--;
      client.active--;
      if (!dead) this.idle.push(policy);
      this.pump();
    }
  }

  private reject(client: Client, id: number | undefined, code: ErrorCode, message: string, fatal = false): void {
    client.errors[code] = (client.errors[code] ?? 0) + 1;
    this.rejected[code] = (this.rejected[code] ?? 0) + 1;
    const msg: ServerMessage = { v: 1, type: 'error', code, message, ...(id === undefined ? {} : { id }) };
    if (fatal) msg.fatal = true;
    this.reply(client, [header(msg)]);
  }

  /** Replies go out in order; a ROUTER never blocks on send (a peer that has gone just loses its reply). */
  private reply(client: Client, frames: Buffer[]): void {
    client.bytes_out += frames.reduce((n, f) => n + f.length, 0);
    this.last_reply_ms = performance.now();
    this.sending = this.sending.then(() => this.router.send([client.rid, ...frames])).catch(() => {});
  }

  private client(rid: Buffer): Client {
    const peer = rid.toString('hex');
    let c = this.clients.get(peer);
    if (!c) {
      if (this.clients.size >= MAX_CLIENT_RECORDS) {
        const oldest = [...this.clients.values()].find((x) => x.active === 0);
        if (oldest) this.clients.delete(oldest.peer);
      }
      c = { rid, peer, client: '', requests: 0, chunks: 0, errors: {}, bytes_in: 0, bytes_out: 0, active: 0 };
      this.clients.set(peer, c);
    }
    return c;
  }

  private async watch(): Promise<void> {
    try {
      for await (const e of this.router.events) {
        if (e.type === 'accept') this.connections++;
        else if (e.type === 'disconnect') this.disconnects++;
      }
    } catch {
      // the socket was closed
    }
  }
}
