// A rosbridge v2 protocol server (JSON over WebSocket): enough of rosbridge_suite for a UR stack to talk
// to the simulated cell exactly as it talks to a real one. Topics are a hub: whatever the server or a
// client publishes reaches every subscriber. Supported ops: advertise, unadvertise, publish, subscribe
// (throttle_rate, queue_length), unsubscribe, call_service -> service_response. Like rosbridge_suite,
// a bad op or message gets no reply, only a log line: clients cannot rely on error replies. Beyond
// rosbridge_suite, every dropped message is counted by reason (`stats`), a message over `max_message_bytes`
// closes its connection before it is parsed, and a message a topic's handler refuses (a NaN, a wrong length)
// is not passed on to the topic's other subscribers either: a malformed command reaches nobody.
// Two things a real ROS graph does are reproduced because clients must cope with them:
//  - a client's publisher is a ROS publisher whose subscribers take a while to connect
//    (publisher_connect_ms): rosbridge creates it on `advertise`, or on the first `publish` of a topic
//    never advertised, and what it publishes before they are connected is lost;
//  - rosapi's /rosapi/subscribers says which nodes subscribe to a topic (rosbridge is usually launched
//    with rosapi).

import type { AddressInfo } from 'node:net';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../../src/telemetry/log.js';
import { BadRequest, type ClientOp, checkOp, type DropReason, noDrops, type RosbridgeStats } from './rosbridge-ops.js';

export type { RosbridgeStats } from './rosbridge-ops.js';

export interface RosbridgeServerOptions {
  /** 0 picks a free port (read it back from .port). */
  port: number;
  host?: string;
  log?: Logger;
  /** A client with more than this many bytes unsent is slow: its messages are dropped, not queued. */
  max_buffered_bytes?: number;
  /** How long a new publisher's subscribers take to connect; its messages before then are lost (default 0). */
  publisher_connect_ms?: number;
  /** Answer /rosapi/subscribers (default true). */
  rosapi?: boolean;
  /** Largest message a client may send (default 1 MiB); a larger one closes its connection unread. */
  max_message_bytes?: number;
}

export const DEFAULT_MAX_CLIENT_MESSAGE_BYTES = 1 << 20;
/** Topics the server keeps state for; a client cannot make it grow without bound by inventing names. */
const MAX_TOPICS = 1024;

export const ROSAPI_SUBSCRIBERS = '/rosapi/subscribers';

/** A service handler returns the response's values, or throws: result false with the error's message. */
export type ServiceHandler = (args: Record<string, unknown>) => unknown | Promise<unknown>;
export type TopicHandler = (msg: unknown) => void;

export interface TopicPublisher {
  publish(msg: unknown): void;
  /** Number of client subscriptions, so a publisher can skip work nobody reads. */
  readonly subscribers: number;
}

interface Subscription {
  client: WebSocket;
  id: string | undefined;
  throttle_ms: number;
  /** Messages waiting for the throttle (the newest `queue_capacity`; none: dropped within the period). */
  queue: string[];
  queue_capacity: number;
  last_sent_ms: number;
  timer: NodeJS.Timeout | undefined;
}

interface TopicState {
  type: string | undefined;
  latch: boolean;
  /** The last message of a latched topic, serialised, for late subscribers. */
  latched: string | undefined;
  subs: Set<Subscription>;
  /** Server-side subscribers and the node each stands for (for rosapi). */
  handlers: Map<TopicHandler, string>;
}

const DEFAULT_MAX_BUFFERED_BYTES = 4 << 20;

/** 'sensor_msgs/msg/JointState' (ROS 2) and 'sensor_msgs/JointState' name the same type. */
export function normaliseType(type: string): string {
  return type.replace(/\/(msg|srv|action)\//, '/');
}

export class RosbridgeServer {
  /** Messages not sent to a client that was too slow to read them. */
  dropped_messages = 0;
  /** Messages a client published before its publisher's subscribers were connected (lost, as in ROS). */
  lost_before_connect = 0;
  private readonly topics = new Map<string, TopicState>();
  /** Per client: when each of its publishers' subscribers are connected (performance.now() ms). */
  private readonly publishers = new Map<WebSocket, Map<string, number>>();
  private readonly connect_ms: number;
  private readonly services = new Map<string, { type: string; handler: ServiceHandler }>();
  private readonly maxBuffered: number;
  private received = 0;
  private readonly dropped_in = noDrops();

  private constructor(
    private readonly wss: WebSocketServer,
    private readonly log: Logger | undefined,
    opts: RosbridgeServerOptions,
  ) {
    this.maxBuffered = opts.max_buffered_bytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.connect_ms = opts.publisher_connect_ms ?? 0;
    if (opts.rosapi !== false)
      this.advertiseService(ROSAPI_SUBSCRIBERS, 'rosapi/Subscribers', (args) => ({
        subscribers: this.subscribersOf(String(args.topic)),
      }));
    const { address, family, port } = wss.address() as AddressInfo;
    this.port = port;
    this.url = `ws://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
    wss.on('connection', (ws, req) => {
      log?.debug({ client: req.socket.remoteAddress }, 'rosbridge client connected');
      ws.on('message', (data, isBinary) => this.onRaw(ws, data, isBinary));
      ws.on('close', () => this.dropClient(ws));
      ws.on('error', (err) => {
        // ws has already closed the connection with 1009 (message too big); anything else is a socket error
        const code = (err as { code?: string }).code;
        if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.drop('oversized', err.message);
        else log?.warn({ err: err.message }, 'rosbridge client socket error');
      });
    });
  }

  static listen(opts: RosbridgeServerOptions): Promise<RosbridgeServer> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({
        port: opts.port,
        host: opts.host ?? '127.0.0.1',
        maxPayload: opts.max_message_bytes ?? DEFAULT_MAX_CLIENT_MESSAGE_BYTES,
      });
      wss.once('error', (err) =>
        reject(new Error(`rosbridge server cannot listen on ${opts.host ?? '127.0.0.1'}:${opts.port}: ${err.message}`)),
      );
      wss.once('listening', () => resolve(new RosbridgeServer(wss, opts.log, opts)));
    });
  }

  /** The bound port and URL (kept after close(), so a test can restart a server on the same port). */
  readonly port: number;
  readonly url: string;
  get clients(): number {
    return this.wss.clients.size;
  }

  get stats(): RosbridgeStats {
    return {
      clients: this.clients,
      received: this.received,
      dropped_in: { ...this.dropped_in },
      dropped_messages: this.dropped_messages,
      lost_before_connect: this.lost_before_connect,
    };
  }

  /** Publish from the server side. A latched topic also hands its last message to every new subscriber. */
  advertise(topic: string, type: string, opts: { latch?: boolean } = {}): TopicPublisher {
    const t = this.topic(topic);
    t.type = type;
    t.latch = opts.latch ?? false;
    return {
      publish: (msg) => this.route(topic, msg, undefined),
      get subscribers() {
        return t.subs.size;
      },
    };
  }

  /** Receive what clients publish on `topic`, as ROS node `node`. Returns the function that stops receiving. */
  onMessage(topic: string, type: string, handler: TopicHandler, node = '/vla_sim'): () => void {
    const t = this.topic(topic);
    t.type ??= type;
    t.handlers.set(handler, node);
    return () => {
      t.handlers.delete(handler);
    };
  }

  /** The nodes subscribed to `topic`, as rosapi lists them. */
  subscribersOf(topic: string): string[] {
    const t = this.topics.get(topic);
    if (!t) return [];
    return [...new Set([...t.handlers.values(), ...(t.subs.size ? ['/rosbridge_websocket'] : [])])];
  }

  advertiseService(service: string, type: string, handler: ServiceHandler): void {
    this.services.set(service, { type, handler });
  }

  /** Stop listening and drop every client (they see the connection close, as when rosbridge dies). */
  close(): Promise<void> {
    for (const t of this.topics.values()) for (const s of t.subs) clearTimeout(s.timer);
    for (const ws of this.wss.clients) ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }

  private topic(name: string): TopicState {
    let t = this.topics.get(name);
    if (!t) {
      if (this.topics.size >= MAX_TOPICS) throw new TooManyTopics(`over ${MAX_TOPICS} topics; ${name} refused`);
      t = { type: undefined, latch: false, latched: undefined, subs: new Set(), handlers: new Map() };
      this.topics.set(name, t);
    }
    return t;
  }

  private onRaw(ws: WebSocket, data: RawData, isBinary: boolean): void {
    this.received++;
    if (isBinary) {
      this.drop('binary', 'binary (CBOR/BSON) requests are not supported');
      return;
    }
    let m: unknown;
    try {
      m = JSON.parse(data.toString());
    } catch {
      this.drop('not_json', `not JSON: ${data.toString().slice(0, 80)}`);
      return;
    }
    try {
      this.dispatch(ws, checkOp(m));
    } catch (err) {
      this.drop(err instanceof TooManyTopics ? 'too_many_topics' : 'bad_request', (err as Error).message);
    }
  }

  /** Count a dropped client message; log the first of each reason and then every 1000th (a flood stays quiet). */
  private drop(reason: DropReason, why: string): void {
    const n = ++this.dropped_in[reason];
    if (n === 1 || n % 1000 === 0) this.log?.warn({ reason, count: n, why }, 'rosbridge: a message was dropped');
  }

  private dispatch(ws: WebSocket, m: ClientOp): void {
    switch (m.op) {
      case 'advertise': {
        const t = this.topic(m.topic);
        if (t.type && normaliseType(t.type) !== normaliseType(m.type))
          throw new BadRequest(`topic ${m.topic} has type ${t.type}, not ${m.type}`);
        t.type = m.type;
        if (m.latch) t.latch = true;
        this.publisherOf(ws, m.topic);
        return;
      }
      case 'unadvertise':
        this.publishers.get(ws)?.delete(m.topic);
        return;
      case 'publish':
        this.route(m.topic, m.msg, ws);
        return;
      case 'subscribe':
        this.subscribe(ws, m);
        return;
      case 'unsubscribe': {
        const t = this.topics.get(m.topic);
        if (!t) return;
        for (const s of t.subs) {
          if (s.client === ws && (m.id === undefined || s.id === m.id)) {
            clearTimeout(s.timer);
            t.subs.delete(s);
          }
        }
        return;
      }
      case 'call_service':
        void this.callService(ws, m);
        return;
    }
  }

  private subscribe(ws: WebSocket, m: Extract<ClientOp, { op: 'subscribe' }>): void {
    const { topic: name, id } = m;
    const t = this.topic(name);
    if (m.type !== undefined && t.type && normaliseType(t.type) !== normaliseType(m.type)) {
      throw new BadRequest(`subscribe to ${name} as ${m.type}, but it has type ${t.type}`);
    }
    // a repeated subscribe with the same id replaces the old one (roslib re-sends after a reconnect)
    for (const s of t.subs)
      if (s.client === ws && s.id === id) {
        clearTimeout(s.timer);
        t.subs.delete(s);
      }
    const sub: Subscription = {
      client: ws,
      id,
      throttle_ms: m.throttle_ms,
      queue: [],
      queue_capacity: m.queue_capacity,
      last_sent_ms: -Infinity,
      timer: undefined,
    };
    t.subs.add(sub);
    if (t.latched !== undefined) this.deliver(sub, t.latched);
  }

  /** When the subscribers of `ws`'s publisher of `topic` are connected; a first use creates the publisher. */
  private publisherOf(ws: WebSocket, topic: string): number {
    let mine = this.publishers.get(ws);
    if (!mine) {
      mine = new Map();
      this.publishers.set(ws, mine);
    }
    let at = mine.get(topic);
    if (at === undefined) {
      at = performance.now() + this.connect_ms;
      mine.set(topic, at);
    }
    return at;
  }

  private route(topic: string, msg: unknown, from: WebSocket | undefined): void {
    const t = this.topic(topic);
    if (from) {
      // `connected_at` first: with a connect delay of 0 a first publish must not count as early
      const connected_at = this.publisherOf(from, topic);
      if (performance.now() < connected_at) {
        this.lost_before_connect++;
        return;
      }
      for (const h of t.handlers.keys()) {
        try {
          h(msg);
        } catch (err) {
          // a message one handler cannot use is malformed for all: pass it on to nobody
          this.drop('refused', `${topic}: ${(err as Error).message}`);
          return;
        }
      }
    }
    if (t.subs.size === 0 && !t.latch) return;
    const text = JSON.stringify({ op: 'publish', topic, msg });
    if (t.latch) t.latched = text;
    for (const s of t.subs) this.deliver(s, text);
  }

  /**
   * Send now, or (throttled) keep the newest `queue_capacity` messages and send one per throttle period; with no
   * queue, a message within the period is dropped (rosbridge_suite's throttle and queue handlers).
   */
  private deliver(s: Subscription, text: string): void {
    const now = performance.now();
    if (s.throttle_ms === 0 || (now - s.last_sent_ms >= s.throttle_ms && s.queue.length === 0)) {
      s.last_sent_ms = now;
      this.send(s.client, text);
      return;
    }
    if (s.queue_capacity === 0) return;
    s.queue.push(text);
    if (s.queue.length > s.queue_capacity) s.queue.shift();
    if (!s.timer) this.scheduleFlush(s);
  }

  private scheduleFlush(s: Subscription): void {
    const wait = Math.max(0, s.last_sent_ms + s.throttle_ms - performance.now());
    s.timer = setTimeout(() => {
      s.timer = undefined;
      const next = s.queue.shift();
      if (next === undefined || s.client.readyState !== WebSocket.OPEN) return;
      s.last_sent_ms = performance.now();
      this.send(s.client, next);
      if (s.queue.length > 0) this.scheduleFlush(s);
    }, wait);
  }

  private send(ws: WebSocket, text: string): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.maxBuffered) {
      this.dropped_messages++;
      return;
    }
    ws.send(text);
  }

  private async callService(ws: WebSocket, m: Extract<ClientOp, { op: 'call_service' }>): Promise<void> {
    const { service, args } = m;
    const reply = (result: boolean, values: unknown) =>
      this.send(ws, JSON.stringify({ op: 'service_response', service, id: m.id, values, result }));
    const s = this.services.get(service);
    if (!s) {
      reply(false, `Service ${service} does not exist`);
      return;
    }
    try {
      reply(true, await s.handler(args));
    } catch (err) {
      reply(false, err instanceof Error ? err.message : String(err));
    }
  }

  private dropClient(ws: WebSocket): void {
    this.publishers.delete(ws);
    for (const t of this.topics.values()) {
      for (const s of t.subs)
        if (s.client === ws) {
          clearTimeout(s.timer);
          t.subs.delete(s);
        }
    }
  }
}

class TooManyTopics extends Error {}
