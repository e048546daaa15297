// The main thread's handle on the real-time control loop in its own worker thread: starts it with its
// driver, starts and ends episodes, asks for observations, and reads every tick from the shared tick
// board. Every wait is bounded by the worker: if it fails or exits, whoever waits is told why.

import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { DriverSetupError } from '../../../drivers/driver.js';
import type { ResidualFile } from '../../policy/residual/frozen-residual.js';
import type { RobotDescription } from '../../robot/index.js';
import { reportThreadHeap } from '../../telemetry/thread-heaps.js';
import { ActionRing, DEFAULT_RING_TICKS } from '../action-ring.js';
import type { ResidualPlugin } from '../runtime-types.js';
import type { WorkspaceBox } from '../safety.js';
import type { EpisodeEnd } from './control-loop.js';
import type { ControlPort } from './port.js';
import type {
  ControlWorkerData,
  DriverConfig,
  FromWorker,
  LoopStats,
  ObservationMessage,
  ToWorker,
} from './protocol.js';
import { TickBoard, type TickRecord } from './tick-board.js';

/**
 * The control thread's young generation, at most (MB). Its full collections after each episode count as
 * "survived" bytes to V8, which then grows the young generation to its default maximum (48 MB resident
 * seen on the UR path); small, scavenges stay short and the thread's memory stays where it settles.
 */
const CONTROL_YOUNG_GENERATION_MB = 8;

export interface ThreadedControlOptions {
  stale_state_ms: number;
  fault_timeout_ms: number;
  max_step_rad?: number;
  workspace_box?: WorkspaceBox;
  /** Spin (rather than sleep) for the last part of each period (ms). Default 1.5. */
  spin_ms?: number;
  /** A trained residual for the control thread to apply (frozen-residual.ts). */
  residual?: ResidualFile;
  /** A residual the control thread builds with a module of its own (its port is transferred to the thread). */
  residual_plugin?: ResidualPlugin;
  /** Features each chunk carries (the policy's features_dim), kept for the residual. */
  features?: number;
}

type Waiter = { type: FromWorker['type']; resolve: (m: FromWorker) => void; reject: (e: Error) => void };

const STOP_TIMEOUT_MS = 5000;
const BOARD_POLL_MS = 1000;

export class ThreadedControl implements ControlPort {
  private readonly waiters: Waiter[] = [];
  private readonly listeners = new Set<(r: TickRecord) => void>();
  private failure: Error | undefined;
  /** An episode's end that came before anyone asked for it. */
  private unclaimedEnd: FromWorker | undefined;
  private seen = 0;
  private stopped = false;
  /** The episode tick of the last record read from the board. */
  private lastTick = 0;

  private constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    readonly ring: ActionRing,
    private readonly board: TickBoard,
    readonly description: RobotDescription,
  ) {
    port.on('message', (m: FromWorker) => this.dispatch(m));
    worker.on('error', (err) => this.fail(new Error(`control thread failed: ${err.message}`)));
    worker.on('exit', (code) =>
      this.fail(new Error(`the control thread exited (code ${code}); the driver was left with its last command`)),
    );
    void this.pumpTicks();
  }

  /** Start the control thread and its driver; a robot that cannot be set up throws DriverSetupError (nothing moved). */
  static async start(
    driver: DriverConfig,
    description: RobotDescription,
    opts: ThreadedControlOptions,
  ): Promise<ThreadedControl> {
    const dim = description.action_names.length;
    const ring = ActionRing.create({ capacity: DEFAULT_RING_TICKS, dim, features: opts.features }, true);
    const board = new TickBoard({
      joints: description.joint_names.length,
      grippers: description.gripper_names.length,
      dim,
    });
    const { port1, port2 } = new MessageChannel();
    const data: ControlWorkerData = {
      driver,
      description,
      ring: ring.buffer as SharedArrayBuffer,
      ring_capacity: DEFAULT_RING_TICKS,
      ring_features: opts.features ?? 0,
      board: board.buffer,
      port: port2,
      max_step_rad: opts.max_step_rad,
      workspace_box: opts.workspace_box,
      stale_state_ms: opts.stale_state_ms,
      fault_timeout_ms: opts.fault_timeout_ms,
      spin_ms: opts.spin_ms ?? 1.5,
      residual: opts.residual,
      residual_plugin: opts.residual_plugin,
    };
    const worker = new Worker(new URL('./control-worker.js', import.meta.url), {
      workerData: data,
      resourceLimits: { maxYoungGenerationSizeMb: CONTROL_YOUNG_GENERATION_MB },
      transferList: opts.residual_plugin ? [port2, opts.residual_plugin.port] : [port2],
    });
    const reply = await new Promise<FromWorker>((resolve, reject) => {
      port1.on('message', (m: FromWorker) => {
        if (m.type === 'ready' || m.type === 'setup_failed' || m.type === 'error') resolve(m);
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`control thread exited (code ${code}) before it was ready`)));
    }).catch(async (err: Error) => {
      await worker.terminate();
      throw err;
    });
    port1.removeAllListeners('message');
    worker.removeAllListeners();
    if (reply.type === 'setup_failed') {
      await worker.terminate();
      throw new DriverSetupError(reply.message);
    }
    if (reply.type !== 'ready') {
      await worker.terminate();
      throw new Error(`control loop failed to start: ${reply.type === 'error' ? reply.message : reply.type}`);
    }
    return new ThreadedControl(worker, port1, ring, board, reply.description);
  }

  async start(seed: number, max_ticks?: number): Promise<string | undefined> {
    this.unclaimedEnd = undefined;
    const started = this.next('started', 'start_failed');
    this.post({ type: 'start', seed, max_ticks });
    const m = await started;
    return m.type === 'start_failed' ? m.reason : undefined;
  }

  async probe(): Promise<string | undefined> {
    const probed = this.next('probed');
    this.post({ type: 'probe' });
    const m = (await probed) as Extract<FromWorker, { type: 'probed' }>;
    return m.reason;
  }

  onTick(listener: (r: TickRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async observe(): Promise<ObservationMessage> {
    const m = this.next('observation');
    this.post({ type: 'observe' });
    return (await m) as ObservationMessage;
  }

  lastFaultStart_ms(): number {
    return this.board.lastFaultStart_ms;
  }

  requestEnd(fault?: string): void {
    this.post({ type: 'end', fault });
  }

  async ended(): Promise<EpisodeEnd> {
    // a thread that died ends the episode with its cause (the engine reports it; nothing else can be asked)
    const m = this.unclaimedEnd ?? (await this.next('episode_end').catch((err: Error) => this.diedEnd(err)));
    this.unclaimedEnd = undefined;
    const { type: _, ...end } = m as Extract<FromWorker, { type: 'episode_end' }>;
    // ticks published before the end reach their listeners before the episode is over
    this.seen = this.board.drain(this.seen, (r) => this.emit(r));
    return end;
  }

  async stop(): Promise<LoopStats | undefined> {
    if (this.stopped) return undefined;
    const stats = this.next('stats').catch(() => undefined);
    this.post({ type: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    // a control thread that does not answer in time is terminated without its statistics
    const m = await Promise.race([
      stats,
      new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    this.stopped = true;
    await this.worker.terminate();
    return m && m.type === 'stats' ? m.stats : undefined;
  }

  private async pumpTicks(): Promise<void> {
    while (!this.stopped && !this.failure) {
      await this.board.waitPast(this.seen, BOARD_POLL_MS);
      this.seen = this.board.drain(this.seen, (r) => this.emit(r));
    }
  }

  private emit(r: TickRecord): void {
    this.lastTick = r.tick;
    for (const l of this.listeners) l(r);
  }

  /** The next message of one of these types (a failure of the thread rejects it). */
  private next(...types: FromWorker['type'][]): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      for (const type of types) this.waiters.push({ type, resolve, reject });
    });
  }

  private dispatch(m: FromWorker): void {
    if (m.type === 'error') {
      this.fail(new Error(`control loop failed: ${m.message}`));
      return;
    }
    if (m.type === 'heap') {
      reportThreadHeap('control', m.heap);
      if (m.watchdog) reportThreadHeap('stall-watchdog', m.watchdog);
      return;
    }
    const answered = new Set(this.waiters.filter((w) => w.type === m.type).map((w) => w.resolve));
    if (answered.size === 0) {
      if (m.type === 'episode_end') this.unclaimedEnd = m;
      return;
    }
    // one message answers every request waiting for it (two observations asked for between two ticks get
    // the same one), and their other awaited types with it
    for (let j = this.waiters.length - 1; j >= 0; j--)
      if (answered.has(this.waiters[j].resolve)) this.waiters.splice(j, 1);
    for (const resolve of answered) resolve(m);
  }

  private fail(err: Error): void {
    if (this.stopped) return;
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  /** The end of an episode whose control thread failed: the ticks it published, and the failure as its fault. */
  private diedEnd(err: Error): FromWorker {
    this.seen = this.board.drain(this.seen, (r) => this.emit(r));
    return { type: 'episode_end', ticks: this.lastTick, success: false, fault: err.message };
  }

  private post(m: ToWorker): void {
    if (!this.stopped) this.port.postMessage(m);
  }
}
