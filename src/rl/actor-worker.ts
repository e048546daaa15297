// One rollout actor (protocols/rl-actor/protocol.ts): connects a DEALER to the learner, says hello on every new
// connection (ZeroMQ reconnects on its own, backing off to 5 s, so a restarted learner finds its actors again),
// checks the setup it is given (the base model file here must be the learner's, byte for byte: same SHA-256),
// builds its EpisodeRunner once per setup (the embedded sim, or a robot: robot/robot-runner.ts) and then runs the
// jobs it is sent, in order, sending each episode back with its transitions. It ends on the learner's bye (0), on a
// setup it cannot satisfy (2), or when told to stop.
import { hostname } from 'node:os';
import { Dealer } from 'zeromq';
import { Outbox } from '../../protocols/rl-actor/outbox.js';
import {
  f32Frame,
  header,
  type JobHeader,
  type LearnerMessage,
  LearnerMessageSchema,
  MAX_MESSAGE_BYTES,
  parseMessage,
  readArrays,
  type SetupMessage,
  type WireSetup,
  weightLengths,
} from '../../protocols/rl-actor/protocol.js';
import { descriptionFromWire } from '../../protocols/rl-actor/setup.js';
import { TASKS_BY_ROBOT } from '../../sim/tasks/index.js';
import { locateModel } from '../policy/default-policy.js';
import type { DenseLayer } from '../policy/residual/dense-stack.js';
import { inputSize, parseResidualManifest } from '../policy/residual/residual-manifest.js';
import { fileSha256 } from '../policy/residual/residual-onnx.js';
import type { RobotDescription } from '../robot/index.js';
import { actorLayers } from './actor-net.js';
import { OPERATOR_STOP } from './robot/keyboard-operator.js';
import { episodeLine, RobotEpisodeEnd } from './robot/robot-episode-end.js';
import { type EpisodeRunner, SimRunner } from './rollout-pool.js';
import type { RolloutSetup } from './sim-rollouts.js';

export interface ActorWorkerOptions {
  /** The learner's endpoint, tcp://HOST:PORT. */
  learner: string;
  /** What this actor calls itself in the learner's log (default actor-PID). */
  name?: string;
  /** The base model file here, when it is not at the learner's path (its SHA-256 must still match). */
  base_path?: string;
  /** CurveZMQ: the learner's public key and this actor's key pair (Z85). */
  curve?: { server_key: string; public_key: string; secret_key: string };
  /** Where episodes run (default: the embedded sim); a robot actor gives its own (robot/robot-runner.ts). */
  runner?: RunnerFactory;
  /**
   * A robot's actor: no setup from a learner within this long ends it with code 2 (nothing has moved: the robot
   * is set up only on a setup), and a lost learner drops the episodes queued, so the robot holds after the
   * current one until the learner is back. Default: wait for ever, keep the queue (the sim's actors).
   * `robot_wait_ms`: after an episode that lost the robot's link, how long it is waited for (robot-episode-end.ts).
   */
  robot?: { learner_wait_ms: number; robot_wait_ms: number };
  log: (line: string) => void;
}

/** How an actor ended: 0 the learner said bye, 1 a fault, 2 a setup it cannot satisfy, 130/143 a signal. */
export interface ActorEnd {
  code: 0 | 1 | 2 | 130 | 143;
  message: string;
  /** The learner's bye came from its Ctrl-C: the episode in progress ends as interrupted, like this actor's own. */
  interrupted?: boolean;
}

interface Ready {
  key: string;
  session: string;
  runner: EpisodeRunner;
  sizes: number[];
}

/** A learner's setup as this actor checked it: what a runner is built from. */
export interface CheckedSetup extends Omit<RolloutSetup, 'actor'> {
  actor_sizes: number[];
}

/** Builds the runner of a checked setup; a string: why this actor cannot run it (a sentence for the user). */
export type RunnerFactory = (setup: CheckedSetup) => Promise<EpisodeRunner | string>;

interface QueuedJob {
  job: JobHeader;
  layers: DenseLayer[];
}

export class ActorWorker {
  readonly counters = { malformed: 0, stale_jobs: 0, episodes: 0, connections: 0 };
  readonly done: Promise<ActorEnd>;
  private readonly sock: Dealer;
  private finish: (end: ActorEnd) => void = () => {};
  private ended = false;
  private connected = false;
  private ready: Ready | undefined;
  /** Setups are handled one after another (a learner restarting mid-build sends a second). */
  private setups: Promise<unknown> = Promise.resolve();
  private weights: { id: string; layers: DenseLayer[] } | undefined;
  private readonly jobs: QueuedJob[] = [];
  private running = false;
  /** A robot's: whether the session goes on after an episode (a lost link is waited for). */
  private readonly robotEnd: RobotEpisodeEnd | undefined;
  /** A learner has sent a setup (the robot actor's wait for one is over). */
  private setupSeen = false;
  /** The job loop now (a new setup waits for the episode in progress before it closes the rollouts). */
  private loop: Promise<void> = Promise.resolve();
  private readonly outbox: Outbox;
  private heartbeat: NodeJS.Timeout;
  private readonly waiting: NodeJS.Timeout;
  private readonly t0 = performance.now();

  constructor(private readonly opts: ActorWorkerOptions) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
    this.robotEnd = opts.robot ? new RobotEpisodeEnd(opts.robot.robot_wait_ms, opts.log) : undefined;
    const c = opts.curve;
    this.sock = new Dealer({
      linger: 0,
      maxMessageSize: MAX_MESSAGE_BYTES,
      reconnectInterval: 100,
      reconnectMaxInterval: 5000,
      // ZMTP heartbeats, answered by libzmq's I/O threads even while the learner's JavaScript is busy training:
      // a learner host that vanishes without closing the connection is noticed, and reconnected to
      heartbeatInterval: 2000,
      heartbeatTimeout: 20_000,
      ...(c ? { curveServerKey: c.server_key, curvePublicKey: c.public_key, curveSecretKey: c.secret_key } : {}),
    });
    this.outbox = new Outbox(this.sock);
    this.heartbeat = setInterval(() => this.beat(), 1000);
    // never silent: while there is no learner, say so now and then
    this.waiting = setInterval(() => {
      if (this.connected && this.ready) return;
      const s = Math.round((performance.now() - this.t0) / 1000);
      opts.log(
        `${this.connected ? 'connected, no setup yet from' : 'waiting for'} the learner at ${opts.learner} (${s} s)`,
      );
    }, 10_000);
    void this.watch();
    void this.receiveLoop();
    if (opts.robot) this.refuseWithoutLearner(opts.robot.learner_wait_ms);
    this.sock.connect(opts.learner);
  }

  /** Ends the actor (a signal: 130 or 143); resolves `done`. A robot holds at once, mid-episode or not. */
  stop(end: ActorEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.ready?.runner.interrupt?.(
      end.code === 130 || end.code === 143 || end.interrupted ? 'interrupted' : end.message,
    );
    clearInterval(this.heartbeat);
    clearInterval(this.waiting);
    this.jobs.length = 0;
    const ready = this.ready;
    this.ready = undefined;
    // the episode in progress ends first (its result is not sent): the rollouts are not closed under it
    void this.outbox
      .idle()
      .then(() => {
        this.sock.linger = 1000; // what was sent last (refused, a result) still goes out
        this.sock.close();
      })
      .then(() => this.loop)
      .then(() => ready?.runner.close())
      .catch(() => undefined)
      .then(() => this.finish(end));
  }

  private readonly setupFailed = (err: unknown): void =>
    this.stop({ code: 1, message: `setting up failed: ${err instanceof Error ? err.message : String(err)}` });

  private refuseWithoutLearner(ms: number): void {
    const timer = setTimeout(() => {
      if (this.setupSeen || this.ended) return;
      this.stop({
        code: 2,
        message:
          `no learner set this actor up within ${ms / 1000} s at ${this.opts.learner} ` +
          `(${this.connected ? 'connected, but no setup came' : 'nothing answered there'}); nothing moved`,
      });
    }, ms);
    timer.unref();
  }

  private get name(): string {
    return this.opts.name ?? `actor-${process.pid}`;
  }

  private send(frames: Buffer[]): void {
    if (this.ended) return;
    this.outbox.send(frames);
  }

  private beat(): void {
    if (!this.connected) return;
    const session = this.ready?.session ?? null;
    const busy = this.jobs.length + (this.running ? 1 : 0);
    this.send([header({ v: 1, type: 'heartbeat', session, busy, done: this.counters.episodes })]);
  }

  private async watch(): Promise<void> {
    try {
      for await (const e of this.sock.events) {
        if (e.type === 'handshake') {
          this.connected = true;
          this.counters.connections++;
          this.send([header({ v: 1, type: 'hello', actor: this.name, pid: process.pid, host: hostname() })]);
        } else if (e.type === 'disconnect') {
          if (this.connected) this.opts.log(`lost the learner at ${this.opts.learner}; reconnecting`);
          if (this.connected && this.opts.robot && (this.running || this.jobs.length > 0)) {
            // the learner asks for them again when it is back (or a restarted one asks for its own)
            this.jobs.length = 0;
            this.opts.log('the robot holds after the episode in progress until the learner is back');
          }
          this.connected = false;
        } else if (e.type.startsWith('handshake:error')) {
          const why = (e as { error?: Error }).error?.message ?? e.type;
          this.stop({
            code: 2,
            message:
              `the security handshake with ${this.opts.learner} failed (${why}): the learner's public key and this ` +
              "actor's key pair must be the ones it was given (--curve-server-key, --curve-client-key, and the " +
              "learner's --allow-client-key)",
          });
        }
      }
    } catch {
      // the socket was closed
    }
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const frames of this.sock) this.onMessage(frames);
    } catch {
      // the socket was closed
    }
  }

  private onMessage(frames: Buffer[]): void {
    const parsed = parseMessage(frames, LearnerMessageSchema);
    if (!parsed.ok) {
      if (this.counters.malformed++ < 5) this.opts.log(`dropped a malformed message: ${parsed.why.message}`);
      return;
    }
    const msg: LearnerMessage = parsed.msg;
    if (msg.type === 'bye') {
      const code = msg.code === 'done' ? 0 : 2;
      this.stop({ code, message: `the learner: ${msg.reason}`, interrupted: msg.interrupted === true });
    } else if (msg.type === 'setup') this.setups = this.setups.then(() => this.onSetup(msg)).catch(this.setupFailed);
    else this.setups = this.setups.then(() => this.onJob(msg, parsed.rest)).catch(this.setupFailed);
  }

  private async onSetup(msg: SetupMessage): Promise<void> {
    if (this.ended) return;
    this.setupSeen = true;
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.beat(), msg.heartbeat_ms);
    this.jobs.length = 0; // a new session: jobs of the one before are moot
    this.weights = undefined;
    await this.loop;
    const key = JSON.stringify(msg.setup);
    if (this.ready?.key !== key) {
      const old = this.ready;
      this.ready = undefined;
      await old?.runner.close();
      const built = await prepare(msg.setup, this.opts.base_path, this.opts.runner ?? simRunner);
      if (this.ended) return void (typeof built === 'string' ? undefined : await built.runner.close());
      if (typeof built === 'string') {
        this.send([header({ v: 1, type: 'refused', session: msg.session, reason: built })]);
        return this.stop({ code: 2, message: built });
      }
      this.ready = { key, session: msg.session, ...built };
      const s = msg.setup;
      this.opts.log(
        `ready: ${s.description.robot} ${s.task}, base ${this.opts.base_path ?? s.base.path} ` +
          `(SHA-256 ${s.base.sha256.slice(0, 12)}...)${s.privileged_head ? ', true head features' : ''}, ` +
          `learner ${this.opts.learner}`,
      );
    }
    this.ready.session = msg.session;
    this.send([header({ v: 1, type: 'ready', session: msg.session })]);
  }

  private async onJob(msg: Exclude<LearnerMessage, SetupMessage | { type: 'bye' }>, rest: Buffer[]): Promise<void> {
    const ready = this.ready;
    if (this.ended) return;
    if (!ready || msg.session !== ready.session) return void this.counters.stale_jobs++;
    if (msg.weights > 0) {
      const arrays = readArrays(rest, weightLengths(ready.sizes), 'weight array');
      if (typeof arrays === 'string') {
        if (this.counters.malformed++ < 5) this.opts.log(`dropped job ${msg.job}: ${arrays}`);
        return this.resync();
      }
      this.weights = { id: msg.weights_id, layers: actorLayers(arrays, ready.sizes) };
    }
    if (this.weights?.id !== msg.weights_id) return this.resync();
    this.jobs.push({ job: msg, layers: this.weights.layers });
    if (!this.running) this.loop = this.runJobs(ready);
  }

  /** Lost track of the learner's weights (should not happen): hello again, and the learner starts us afresh. */
  private resync(): void {
    this.opts.log('out of step with the learner (weights of a job missing): saying hello again');
    this.jobs.length = 0;
    this.send([header({ v: 1, type: 'hello', actor: this.name, pid: process.pid, host: hostname() })]);
  }

  private async runJobs(ready: Ready): Promise<void> {
    this.running = true;
    try {
      for (let next = this.jobs.shift(); next && !this.ended; next = this.jobs.shift()) {
        const { job, layers } = next;
        const ep = await ready.runner.episode(job, layers, job.bound);
        if (this.opts.robot) this.opts.log(episodeLine(ep, job.explore_seed === null));
        if (this.ended) break; // stopped during the episode: its result is not sent
        if (this.opts.robot && ep.fault === OPERATOR_STOP) return this.stop({ code: 130, message: OPERATOR_STOP });
        const { inputs, u, labels, link_lost: _, ...fields } = ep;
        this.counters.episodes++;
        this.send([
          header({ v: 1, type: 'result', session: job.session, job: job.job, ...fields, labelled: !!labels }),
          f32Frame(inputs),
          f32Frame(u),
          ...(labels ? [f32Frame(labels)] : []),
        ]);
        // a robot that faulted does not start the next episode by itself, unless its link came back
        const why = await this.robotEnd?.after(ep, ready.runner);
        if (this.ended) break;
        if (why) return this.stop({ code: 1, message: `a fault stopped the robot: ${why}; --resume continues it` });
      }
    } catch (err) {
      this.stop({ code: 1, message: `an episode failed: ${(err as Error).message}` });
    } finally {
      this.running = false;
    }
  }
}

/** The runner a setup asks for, or why this actor cannot run it (a sentence for the user). */
async function prepare(
  w: WireSetup,
  base_override: string | undefined,
  build: RunnerFactory,
): Promise<{ runner: EpisodeRunner; sizes: number[] } | string> {
  const d = w.description;
  const tasks = (TASKS_BY_ROBOT as Record<string, readonly string[] | undefined>)[d.robot];
  if (!tasks) return `unknown robot '${d.robot}': this actor's sim has ${Object.keys(TASKS_BY_ROBOT).join(', ')}`;
  if (!tasks.includes(w.task)) return `unknown task '${w.task}' for ${d.robot} (this actor has ${tasks.join(', ')})`;
  let manifest: ReturnType<typeof parseResidualManifest>;
  try {
    manifest = parseResidualManifest(w.manifest, "the learner's setup");
  } catch (err) {
    return (err as Error).message;
  }
  const path = base_override ?? locateModel(w.base.path) ?? w.base.path;
  const sha = await fileSha256(path).catch((err: NodeJS.ErrnoException) => err);
  if (sha instanceof Error)
    return (
      `the base model ${path} cannot be read here (${sha.code ?? sha.message}): copy the learner's file ` +
      `(SHA-256 ${w.base.sha256}) to this machine and give its path with --base`
    );
  if (sha !== w.base.sha256 || manifest.base.sha256 !== w.base.sha256)
    return (
      `the base model ${path} here is not the learner's: its SHA-256 is ${sha}, the learner's ${w.base.sha256}; ` +
      "an actor must run the very file the residual corrects: copy the learner's file here or point --base at it"
    );
  const A = manifest.action_names.length;
  const sizes = w.actor_sizes;
  if (sizes[0] !== inputSize(manifest) || sizes[sizes.length - 1] !== 2 * A || d.action_source.length !== A)
    return `the setup does not add up: actor sizes ${sizes.join('x')} for ${inputSize(manifest)} inputs, ${A} actions`;
  const runner = await build({
    description: descriptionFromWire(d) as RobotDescription,
    task: w.task as CheckedSetup['task'],
    base_path: path,
    manifest,
    latency_model: w.latency_model,
    seed: w.seed,
    actor_sizes: sizes,
    ...(w.physics_hz === undefined ? {} : { physics_hz: w.physics_hz }),
    ...(w.operator === undefined ? {} : { operator: w.operator }),
    ...(w.privileged_head ? { privileged_head: true } : {}),
  });
  return typeof runner === 'string' ? runner : { runner, sizes };
}

/** The default runner: the embedded sim on the virtual clock. */
async function simRunner(c: CheckedSetup): Promise<EpisodeRunner | string> {
  const { actor_sizes: sizes, ...setup } = c;
  const zero = weightLengths(sizes).map((n) => new Float32Array(n));
  try {
    return await SimRunner.create(setup, actorLayers(zero, sizes));
  } catch (err) {
    return `cannot start the sim rollouts for ${c.description.robot} ${c.task}: ${(err as Error).message}`;
  }
}
