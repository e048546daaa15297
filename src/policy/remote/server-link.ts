// The client's ZeroMQ link to a policy server: one DEALER socket, requests matched to replies by id, timeouts,
// the connection's state from the socket's events, and error replies mapped to the policy contract's errors.
// A reply that comes after its request timed out is discarded and counted, never taken for a newer request.
// ZeroMQ reconnects on its own, with back-off (100 ms doubling to 2 s); `immediate` keeps requests from queueing
// for a server that is not there, so while it is down a request fails at once.
import { Dealer, type EventOfType } from 'zeromq';
import { parseHeader, type ServerMessage, ServerMessageSchema } from '../../../protocols/policy-server/protocol.js';
import { PolicyFailure, PolicyUnavailable } from '../policy.js';

export interface LinkOptions {
  endpoint: string;
  /** CurveZMQ: the server's public key, and this client's key pair (Z85). */
  curve?: { server_key: string; public_key: string; secret_key: string };
  /** Largest reply frame accepted (default 16 MiB). */
  max_reply_bytes?: number;
}

interface Pending {
  tick: number | undefined;
  /** The frame buffers the request was sent from: reusable once it is answered. */
  stage?: Buffer[];
  resolve: (r: { msg: ServerMessage; frames: Buffer[] }) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export const newLinkCounters = () => ({
  bytes_sent: 0,
  bytes_received: 0,
  timeouts: 0,
  late_replies_discarded: 0,
  malformed_replies: 0,
  disconnects: 0,
  reconnects: 0,
  server_errors: {} as Record<string, number>,
});

export class ServerLink {
  readonly endpoint: string;
  readonly counters = newLinkCounters();
  /** A new connection after the first: the owner checks the server again before its next request. */
  onReconnect: () => void = () => {};
  /** The server said its policy cannot serve any more. */
  onFatal: (err: PolicyFailure) => void = () => {};
  private readonly sock: Dealer;
  private readonly pending = new Map<number, Pending>();
  /** Frame buffers (one per camera) of answered requests, ready for the next ones. */
  private readonly stages: Buffer[][] = [];
  private nextId = 1;
  private isConnected = false;
  private handshakes = 0;
  private lost_at = 0;
  /** Why the last security handshake failed, until one succeeds. */
  private why_refused: string | undefined;
  private auth_refused = false;

  constructor(private readonly opts: LinkOptions) {
    this.endpoint = opts.endpoint;
    const c = opts.curve;
    this.sock = new Dealer({
      linger: 0,
      immediate: true, // nothing queues for a server that is not there: send fails at once
      sendTimeout: 0,
      reconnectInterval: 100,
      reconnectMaxInterval: 2000,
      maxMessageSize: opts.max_reply_bytes ?? 16 * 1024 * 1024,
      ...(c ? { curveServerKey: c.server_key, curvePublicKey: c.public_key, curveSecretKey: c.secret_key } : {}),
    });
    void this.receiveLoop();
    void this.watch();
    this.sock.connect(opts.endpoint);
  }

  newId(): number {
    return this.nextId++;
  }

  /** A staging set of an answered request, if one is free. */
  takeStage(): Buffer[] | undefined {
    return this.stages.pop();
  }

  /** The connection works (a reply came back): until the socket says otherwise. */
  markConnected(): void {
    this.isConnected = true;
  }

  /** Why the security handshake failed, and whether the server refused the client key itself. */
  get refusal(): { message: string; auth: boolean } | undefined {
    return this.why_refused === undefined ? undefined : { message: this.why_refused, auth: this.auth_refused };
  }

  /** Throws PolicyUnavailable while there is no connection (lost, or refused by the handshake). */
  checkReachable(): void {
    if (this.isConnected) return;
    if (this.why_refused) throw new PolicyUnavailable(this.why_refused);
    const s = ((performance.now() - this.lost_at) / 1000).toFixed(1);
    throw new PolicyUnavailable(`policy server ${this.endpoint} unreachable: connection lost ${s} s ago, reconnecting`);
  }

  close(err: Error): void {
    this.rejectAll(err);
    this.sock.close();
  }

  /** One request: resolves with its reply, rejects on an error reply, a timeout, or a lost connection. */
  request(
    id: number,
    frames: Buffer[],
    timeout_ms: number,
    tick: number | undefined,
    stage?: Buffer[],
  ): Promise<{ msg: ServerMessage; frames: Buffer[] }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        this.counters.timeouts++;
        reject(
          new PolicyUnavailable(
            `policy server ${this.endpoint}: no reply within ${timeout_ms} ms` +
              `${tick === undefined ? '' : ` (request ${id}, observation tick ${tick})`}`,
          ),
        );
      }, timeout_ms);
      this.pending.set(id, { tick, resolve, reject, timer, stage });
      this.counters.bytes_sent += frames.reduce((n, f) => n + f.length, 0);
      this.sock.send(frames).catch((err: NodeJS.ErrnoException) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(timer);
        reject(this.unreachable(err.code === 'EAGAIN' ? 'not connected' : (err.code ?? err.message)));
      });
    });
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [head, ...rest] of this.sock) this.onReply(head, rest);
    } catch {
      // the socket was closed
    }
  }

  private onReply(head: Buffer, rest: Buffer[]): void {
    this.counters.bytes_received += head.length + rest.reduce((n, f) => n + f.length, 0);
    const parsed = parseHeader(head, ServerMessageSchema);
    if (!parsed.ok) {
      this.counters.malformed_replies++;
      return;
    }
    const msg = parsed.msg;
    const id = msg.id;
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p || id === undefined) {
      if (id !== undefined && id < this.nextId) this.counters.late_replies_discarded++;
      else if (msg.type === 'error') this.count(msg.code);
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    // answered: the server has every byte, so ZeroMQ is done with the frames (a timed-out request's may still
    // sit in a queue: those buffers are never reused)
    if (p.stage) this.stages.push(p.stage);
    if (msg.type !== 'error') {
      p.resolve({ msg, frames: rest });
      return;
    }
    this.count(msg.code);
    const text = `policy server ${this.endpoint}: ${msg.code}: ${msg.message}`;
    if (msg.code === 'busy' || msg.code === 'shutting_down') p.reject(new PolicyUnavailable(text));
    else if (msg.fatal) {
      const failure = new PolicyFailure(text);
      this.onFatal(failure);
      p.reject(failure);
    } else p.reject(msg.code === 'inference_failed' ? new Error(text) : new PolicyFailure(text));
  }

  private count(code: string): void {
    this.counters.server_errors[code] = (this.counters.server_errors[code] ?? 0) + 1;
  }

  private async watch(): Promise<void> {
    try {
      for await (const e of this.sock.events) this.onEvent(e);
    } catch {
      // the socket was closed
    }
  }

  private onEvent(e: { type: string }): void {
    if (e.type === 'handshake') {
      this.isConnected = true;
      this.why_refused = undefined;
      this.auth_refused = false;
      // a new connection may lead to a new server: its owner checks it before the next request
      if (this.handshakes++ > 0) {
        this.counters.reconnects++;
        this.onReconnect();
      }
    } else if (e.type === 'disconnect') {
      if (this.isConnected) this.counters.disconnects++;
      this.isConnected = false;
      this.onReconnect();
      this.lost_at = performance.now();
      this.rejectAll(this.unreachable('the connection was lost'));
    } else if (e.type.startsWith('handshake:error')) {
      const err = (e as EventOfType<'handshake:error:auth'>).error;
      this.auth_refused = e.type === 'handshake:error:auth';
      this.why_refused = this.auth_refused
        ? `the policy server at ${this.endpoint} refused this client's CURVE key (${err.message}): give its ` +
          'public key (NAME.key) to vla-serve --allow-client-key'
        : `the security handshake with ${this.endpoint} failed (${err?.message ?? e.type}): ` +
          (this.opts.curve
            ? "the server key must be the server's public key (its NAME.key) and the server must run with " +
              '--curve-secret-key'
            : "the server may require CURVE: give its public key (server_key) and this client's key pair (client_key)");
      // transient for a running robot (it holds, and the run ends after the fault timeout): a server restarted
      // with other keys may be fixed while it waits
      this.rejectAll(new PolicyUnavailable(this.why_refused));
    }
  }

  private unreachable(why: string): PolicyUnavailable {
    return new PolicyUnavailable(`policy server ${this.endpoint} unreachable: ${why}`);
  }

  private rejectAll(err: Error): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}
