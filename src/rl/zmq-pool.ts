// Rollout actors in other processes or on other machines (protocols/rl-actor/protocol.ts): the learner binds a
// ROUTER, actors connect, say hello, get the setup and answer ready; jobs go to ready actors (a round's worth each,
// run while the learner trains); results come back in job order, whichever actor ran them. An episode depends only
// on its job and weights, so data and weights are LocalPool's. While TensorFlow.js trains, ZeroMQ queues messages,
// and the liveness check forgives silence the learner caused (see tick). An actor silent for actor_timeout_ms is
// lost and its jobs run elsewhere; no ready actor for wait_ms fails the run, saying so, instead of waiting forever.
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Context, Router } from 'zeromq';
import { ZapHandler } from '../../protocols/policy-server/curve.js';
import { Outbox } from '../../protocols/rl-actor/outbox.js';
import {
  ActorMessageSchema,
  f32Frame,
  header,
  type LearnerMessage,
  MAX_MESSAGE_BYTES,
  type Malformed,
  parseMessage,
  type ResultHeader,
  readArrays,
  stepsIn,
  type WireSetup,
  WireSetupSchema,
} from '../../protocols/rl-actor/protocol.js';
import { isLoopback, reachableAs, toWireSetup } from '../../protocols/rl-actor/setup.js';
import { inputSize } from '../policy/residual/residual-manifest.js';
import type { ActorWeights, EpisodeJob, RolloutPool } from './rollout-pool.js';
import type { RolloutEpisode } from './sim-rollouts.js';
import {
  type Batch,
  MAX_BAD_RESULTS,
  NoActorError,
  type Peer,
  type Pending,
  type WireWeights,
  type ZmqPoolOptions,
} from './zmq-pool-parts.js';

export { MAX_BAD_RESULTS, NoActorError, type PoolEvent, type ZmqPoolOptions } from './zmq-pool-parts.js';

export class ZmqPool implements RolloutPool {
  /** The bound endpoint (a port 0 resolved to the real one). */
  readonly endpoint: string;
  readonly session = randomBytes(8).toString('hex');
  readonly counters = {
    malformed: {} as Partial<Record<Malformed['kind'] | 'result', number>>,
    stale_results: 0,
    duplicate_results: 0,
    unknown_peer: 0,
    actors_lost: 0,
    jobs_requeued: 0,
    episodes: 0,
    refusals: [] as string[],
  };
  private readonly peers = new Map<string, Peer>();
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  private readonly weightCache = new WeakMap<Float32Array[], WireWeights>();
  private readonly obs_dim: number;
  private readonly action_dim: number;
  private readonly heartbeat_ms: number;
  private readonly timer: NodeJS.Timeout;
  private readonly outbox: Outbox;
  private nextJob = 1;
  private lastTick = performance.now();
  private noActorSince: number | undefined;
  private closed = false;

  private constructor(
    private readonly router: Router,
    private readonly zap: ZapHandler | undefined,
    private readonly opts: ZmqPoolOptions,
    private readonly wire: WireSetup,
  ) {
    this.endpoint = router.lastEndpoint ?? opts.bind;
    this.outbox = new Outbox(router);
    this.obs_dim = inputSize(opts.setup.manifest);
    this.action_dim = opts.setup.manifest.action_names.length;
    this.heartbeat_ms = opts.heartbeat_ms ?? 1000;
    this.timer = setInterval(() => this.tick(), Math.max(10, this.heartbeat_ms / 2));
    void this.receiveLoop();
  }

  /** Bind and wait for actors. Rejects naming the endpoint when it cannot bind. */
  static async start(opts: ZmqPoolOptions): Promise<ZmqPool> {
    const wire = WireSetupSchema.parse(toWireSetup(opts.setup));
    const context = new Context();
    const c = opts.curve;
    const zap = c ? await ZapHandler.start(context, c.allowed_client_keys) : undefined;
    const router = new Router({
      context,
      linger: 0,
      maxMessageSize: MAX_MESSAGE_BYTES,
      ...(c ? { curveServer: true, curveSecretKey: c.secret_key } : {}),
    });
    try {
      await router.bind(opts.bind);
    } catch (err) {
      router.close();
      zap?.close();
      throw new Error(`cannot bind ${opts.bind}: ${(err as Error).message}`);
    }
    const pool = new ZmqPool(router, zap, opts, wire);
    if (!c && !isLoopback(pool.endpoint))
      opts.on_event?.({
        type: 'warning',
        message:
          `${pool.endpoint} is reachable from other machines and CURVE is off: anyone who reaches it can take jobs ` +
          'and send transitions into the replay buffer; add --curve-secret-key and --allow-client-key',
      });
    return pool;
  }

  /** Actors ready for jobs now. */
  get actors(): number {
    return [...this.peers.values()].filter((p) => p.state === 'ready').length;
  }

  run(jobs: EpisodeJob[], weights: ActorWeights): Promise<RolloutEpisode[]> {
    if (this.closed) return Promise.reject(new Error('the actor pool is closed'));
    if (jobs.length === 0) return Promise.resolve([]);
    const w = this.wireWeights(weights);
    return new Promise((resolve, reject) => {
      const batch: Batch = { results: new Array(jobs.length), left: jobs.length, resolve, reject };
      jobs.forEach((job, index) => {
        const bound = weights.bound ?? 1;
        const p: Pending = { id: this.nextJob++, batch, index, job, weights: w, bound, bad_results: 0 };
        this.pending.set(p.id, p);
        this.queue.push(p);
      });
      this.pump();
    });
  }

  /** Fails every waiting run with `err` (a local actor process died, say); the pool stays open. */
  fail(err: Error): void {
    const batches = new Set([...this.pending.values()].map((p) => p.batch));
    this.pending.clear();
    this.queue.length = 0;
    for (const peer of this.peers.values()) peer.outstanding.clear();
    for (const b of batches) b.reject(err);
  }

  /** Says bye to every actor (they exit 0) and closes the socket; waiting runs fail. */
  async close(why: 'done' | 'interrupted' = 'done'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.fail(new Error('the actor pool is closed'));
    const bye = why === 'done' ? { reason: 'the learner is done' } : { reason: 'interrupted', interrupted: true };
    for (const peer of this.peers.values()) this.send(peer, [header({ v: 1, type: 'bye', code: 'done', ...bye })]);
    await this.outbox.idle();
    this.router.linger = 1000; // the byes still go out after close
    await new Promise((r) => setTimeout(r, 50));
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
    const key = rid.toString('hex');
    const parsed = parseMessage(frames, ActorMessageSchema);
    if (!parsed.ok) {
      this.malformed(parsed.why.kind, parsed.why.message);
      return;
    }
    const msg = parsed.msg;
    let peer = this.peers.get(key);
    if (msg.type === 'hello') {
      if (peer) this.requeue(peer);
      const name = `${msg.actor} (${msg.host} pid ${msg.pid})`;
      peer = { rid, name, state: 'setup', was_ready: false, outstanding: new Map(), weights_id: null, last_seen: 0 };
      this.peers.set(key, peer);
      this.send(peer, [
        header({ v: 1, type: 'setup', session: this.session, heartbeat_ms: this.heartbeat_ms, setup: this.wire }),
      ]);
    }
    if (peer) {
      peer.last_seen = performance.now();
      if (peer.state === 'lost') this.revive(peer);
    }
    if (msg.type === 'result') {
      this.onResult(msg, parsed.rest);
      return;
    }
    if (msg.type === 'hello' || msg.type === 'heartbeat') return;
    if (!peer || msg.session !== this.session) {
      this.counters.unknown_peer++;
      return;
    }
    if (msg.type === 'ready' && peer.state === 'setup') {
      peer.state = 'ready';
      peer.was_ready = true;
      this.opts.on_event?.({ type: 'actor_ready', actor: peer.name });
      this.pump();
    } else if (msg.type === 'refused') {
      this.peers.delete(key);
      this.counters.refusals.push(`${peer.name}: ${msg.reason}`);
      this.opts.on_event?.({ type: 'actor_refused', actor: peer.name, reason: msg.reason });
    }
  }

  /** A result is taken from whoever sends it, when its session and job match a job still waiting. */
  private onResult(msg: ResultHeader, rest: Buffer[]): void {
    if (msg.session !== this.session) {
      this.counters.stale_results++;
      return;
    }
    const p = this.pending.get(msg.job);
    if (!p) {
      this.counters.duplicate_results++;
      return;
    }
    const A = this.action_dim;
    const lengths = [msg.steps * this.obs_dim, msg.steps * A, ...(msg.labelled ? [msg.steps * A] : [])];
    const arrays = readArrays(rest, lengths, 'result frame');
    const held = msg.interventions ?? [];
    if (typeof arrays === 'string' || msg.seed !== p.job.seed || msg.mean_abs_u.length !== A || !stepsIn(held, msg)) {
      const why = typeof arrays === 'string' ? arrays : `seed ${msg.seed} / ${msg.mean_abs_u.length} mean |u| / steps`;
      this.badResult(p, `job ${msg.job}: ${why} (expected seed ${p.job.seed}, ${A} actions)`);
      return;
    }
    const [inputs, u, labels] = arrays;
    const { session: _s, job: _j, v: _v, type: _t, labelled: _l, ...fields } = msg;
    const ep: RolloutEpisode = { ...fields, interventions: held, inputs, u, ...(labels ? { labels } : {}) };
    this.forget(p);
    this.counters.episodes++;
    p.batch.results[p.index] = ep;
    if (--p.batch.left === 0) p.batch.resolve(p.batch.results);
    this.pump();
  }

  /** Hands waiting jobs to ready actors, the least busy first, up to jobs_per_actor each. */
  private pump(): void {
    const cap = this.opts.jobs_per_actor ?? 4;
    while (this.queue.length > 0) {
      let best: Peer | undefined;
      for (const peer of this.peers.values())
        if (
          peer.state === 'ready' &&
          peer.outstanding.size < cap &&
          (!best || peer.outstanding.size < best.outstanding.size)
        )
          best = peer;
      if (!best) return;
      this.dispatch(this.queue.shift()!, best);
    }
  }

  private dispatch(p: Pending, peer: Peer): void {
    const withWeights = peer.weights_id !== p.weights.id;
    const msg: LearnerMessage = {
      v: 1,
      type: 'job',
      session: this.session,
      job: p.id,
      seed: p.job.seed,
      explore_seed: p.job.explore_seed,
      ...(p.job.hold ? { hold: true } : {}),
      version: p.weights.version,
      weights_id: p.weights.id,
      bound: p.bound,
      weights: withWeights ? p.weights.frames.length : 0,
    };
    peer.weights_id = p.weights.id;
    peer.outstanding.set(p.id, p);
    this.send(peer, [header(msg), ...(withWeights ? p.weights.frames : [])]);
  }

  /**
   * Liveness, every heartbeat_ms / 2. A tick that comes late means this thread was blocked (training): messages
   * that arrived meanwhile are still unread, so that silence is forgiven, for actors and for the deadline alike.
   */
  private tick(): void {
    const now = performance.now();
    const gap = now - this.lastTick;
    this.lastTick = now;
    const stall = gap > Math.max(3 * this.heartbeat_ms, 1000) ? gap : 0;
    const timeout = this.opts.actor_timeout_ms ?? 15_000;
    for (const peer of this.peers.values()) {
      if (stall) peer.last_seen = Math.max(peer.last_seen, now);
      const silent = now - peer.last_seen;
      if (peer.state === 'lost' || silent <= timeout) continue;
      peer.state = 'lost';
      const requeued = this.requeue(peer);
      this.counters.actors_lost++;
      this.opts.on_event?.({ type: 'actor_lost', actor: peer.name, silent_ms: Math.round(silent), requeued });
    }
    // a lost actor that stays silent is forgotten after a while (it would say hello again)
    for (const [key, peer] of this.peers)
      if (peer.state === 'lost' && now - peer.last_seen > 10 * timeout) this.peers.delete(key);
    this.pump();
    if (this.pending.size === 0 || this.actors > 0) {
      this.noActorSince = undefined;
      return;
    }
    if (this.noActorSince === undefined || stall) this.noActorSince = now;
    const wait = this.opts.wait_ms ?? 120_000;
    if (now - this.noActorSince > wait) {
      this.noActorSince = undefined;
      this.fail(new NoActorError(this.noActorMessage(wait)));
    }
  }

  private noActorMessage(wait_ms: number): string {
    const refused = this.counters.refusals.length
      ? `; refused: ${this.counters.refusals.slice(-3).join('; ')}`
      : this.counters.actors_lost
        ? `; ${this.counters.actors_lost} actor(s) went silent`
        : '';
    return (
      `no actor ready at ${this.endpoint} for ${Math.round(wait_ms / 1000)} s with ${this.pending.size} episode(s) ` +
      `waiting${refused}; start one with: vla-finetune actor --learner ${reachableAs(this.endpoint, hostname())}` +
      // a port the system picked is another one next time: a fixed one lets actors be started before the learner
      (/:0$/.test(this.opts.bind) ? ' while the learner runs (--learner-bind tcp://HOST:PORT fixes the port)' : '')
    );
  }

  /** The actor's jobs go back to the front of the queue, in the order they were asked for. */
  private requeue(peer: Peer): number {
    const jobs = [...peer.outstanding.values()].filter((p) => this.pending.has(p.id)).sort((a, b) => a.id - b.id);
    peer.outstanding.clear();
    this.queue.unshift(...jobs);
    this.counters.jobs_requeued += jobs.length;
    return jobs.length;
  }

  /** The job goes out again, to the front of the queue; after max_bad_results its run fails naming the last. */
  private badResult(p: Pending, why: string): void {
    this.malformed('result', why);
    for (const peer of this.peers.values()) peer.outstanding.delete(p.id);
    if (++p.bad_results >= (this.opts.max_bad_results ?? MAX_BAD_RESULTS)) {
      const err = new Error(
        `${p.bad_results} malformed results for one episode (seed ${p.job.seed}); the last: ${why}`,
      );
      for (const q of [...this.pending.values()]) if (q.batch === p.batch) this.forget(q);
      p.batch.reject(err);
      return;
    }
    if (!this.queue.includes(p)) this.queue.unshift(p);
    this.counters.jobs_requeued++;
    this.pump();
  }

  /** The job is no longer waited for: out of the pending set, the queue and every actor's list. */
  private forget(p: Pending): void {
    this.pending.delete(p.id);
    for (const peer of this.peers.values()) peer.outstanding.delete(p.id);
    const at = this.queue.indexOf(p);
    if (at >= 0) this.queue.splice(at, 1);
  }

  /** A lost actor spoke again (it was slow, not dead): it gets jobs again, and weights with the next. */
  private revive(peer: Peer): void {
    peer.state = peer.was_ready ? 'ready' : 'setup';
    peer.weights_id = null;
    this.opts.on_event?.({ type: 'actor_back', actor: peer.name });
  }

  private malformed(kind: Malformed['kind'] | 'result', message: string): void {
    this.counters.malformed[kind] = (this.counters.malformed[kind] ?? 0) + 1;
    this.opts.on_event?.({ type: 'malformed', kind, message });
  }

  /** At once: the learner may train for seconds right after run(), and the jobs must be out by then. */
  private send(peer: Peer, frames: Buffer[]): void {
    this.outbox.send([peer.rid, ...frames]);
  }

  private wireWeights(w: ActorWeights): WireWeights {
    const cached = this.weightCache.get(w.values);
    if (cached?.version === w.version) return cached;
    const frames = w.values.map((a) => Buffer.from(f32Frame(a))); // a copy: the caller may reuse its arrays
    const hash = frames.reduce((h, f) => h.update(f), createHash('sha256'));
    const out = { id: hash.digest('hex').slice(0, 16), version: w.version, frames };
    this.weightCache.set(w.values, out);
    return out;
  }
}
