// The control loop on the virtual clock, in this thread (`--clock fast`, replay, RL): the embedded sim is
// stepped one tick at a time by the same ControlLoop as in real time, and time moves only when it is. Before
// every tick the loop lets the engine finish its real work (the clock settles), then delivers the chunks
// whose charged latency has passed, then executes the tick; so where a chunk lands depends only on the
// latency model, never on how long the machine took.

import { newJointState } from '../../../drivers/driver.js';
import type { SimDriver } from '../../../sim/sim-driver.js';
import type { ResidualCorrection } from '../../policy/residual/residual-corrector.js';
import { ActionRing, DEFAULT_RING_TICKS } from '../action-ring.js';
import type { VirtualClock } from '../episode/clocks.js';
import type { WorkspaceBox } from '../safety.js';
import { ControlLoop, type EpisodeEnd } from './control-loop.js';
import type { ControlPort } from './port.js';
import type { LoopStats, ObservationMessage } from './protocol.js';
import { TickBoard, type TickRecord } from './tick-board.js';

export interface InlineControlOptions {
  stale_state_ms: number;
  fault_timeout_ms: number;
  max_step_rad?: number;
  workspace_box?: WorkspaceBox;
  /** Corrects each buffered action before safety (a trained residual, or the fine-tuner's exploring actor). */
  residual?: ResidualCorrection;
  /** Features each chunk carries (the policy's features_dim), kept for the residual. */
  features?: number;
}

/** Ticks run between two looks at the event loop when nothing else asks for one (Ctrl-C must get through). */
const YIELD_EVERY_TICKS = 200;

export class InlineControl implements ControlPort {
  readonly ring: ActionRing;
  private readonly board: TickBoard;
  private readonly loop: ControlLoop;
  private readonly listeners = new Set<(r: TickRecord) => void>();
  private readonly obsState;
  private seen = 0;
  private episode: Promise<EpisodeEnd> | undefined;
  /** Observations asked for during a tick are taken after its command, as the real-time loop does. */
  private stepping = false;
  private readonly observers: ((m: ObservationMessage) => void)[] = [];

  constructor(
    readonly driver: SimDriver,
    private readonly clock: VirtualClock,
    opts: InlineControlOptions,
  ) {
    const desc = driver.description;
    this.ring = ActionRing.create(
      { capacity: DEFAULT_RING_TICKS, dim: desc.action_names.length, features: opts.features },
      false,
    );
    this.board = new TickBoard({
      joints: desc.joint_names.length,
      grippers: desc.gripper_names.length,
      dim: desc.action_names.length,
    });
    const sim = {
      reset: (seed: number) => driver.reset(seed),
      get done() {
        return driver.done;
      },
      success: () => driver.success(),
      outcome: () => driver.taskOutcome(),
    };
    this.loop = new ControlLoop(driver, this.ring, this.board, sim, opts);
    // listeners see a tick before its command moves the sim: a recorder renders the scene of that state
    this.loop.beforeWrite = () => {
      this.seen = this.board.drain(this.seen, (r) => {
        for (const l of this.listeners) l(r);
      });
    };
    this.obsState = newJointState(desc);
  }

  get description() {
    return this.driver.description;
  }

  async start(seed: number, max_ticks?: number): Promise<string | undefined> {
    this.driver.reset(seed);
    this.clock.reset();
    const why = await this.driver.activate();
    if (why) return why;
    this.loop.begin(max_ticks);
    this.seen = this.board.written;
    this.episode = this.run();
    return undefined;
  }

  probe(): Promise<string | undefined> {
    return this.driver.activate();
  }

  onTick(listener: (r: TickRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  observe(): Promise<ObservationMessage> {
    if (this.stepping) return new Promise((resolve) => this.observers.push(resolve));
    return Promise.resolve(this.observation());
  }

  private observation(): ObservationMessage {
    const s = this.obsState;
    this.driver.read(s);
    return {
      type: 'observation',
      tick: this.loop.tick,
      t_mono_ms: s.t_mono_ms,
      position_rad: Float64Array.from(s.position_rad),
      gripper: Float64Array.from(s.gripper),
      privileged: { task: this.driver.taskState() },
    };
  }

  lastFaultStart_ms(): number {
    return this.board.lastFaultStart_ms;
  }

  requestEnd(fault?: string): void {
    this.loop.requestEnd(fault);
  }

  ended(): Promise<EpisodeEnd> {
    if (!this.episode) return Promise.reject(new Error('no episode was started'));
    return this.episode;
  }

  /** What the loop measured; the sim is closed. */
  async stop(): Promise<LoopStats> {
    await this.driver.close();
    return {
      counters: this.loop.ticker.counters,
      clamped_actions: this.loop.safety.clamped_actions,
      box_holds: this.loop.safety.box_holds,
      overruns: 0,
      jitter_ms: new Float64Array(0),
      faults: this.loop.faults.report,
      driver: this.driver.counters(),
      residual: this.loop.ticker.residualFigures(),
    };
  }

  private async run(): Promise<EpisodeEnd> {
    const dt_ms = 1000 / this.description.control_hz;
    // first let the engine subscribe and warm up: nothing moves while it works
    await this.clock.settle();
    let sinceYield = 0;
    for (;;) {
      if (this.clock.unsettled || ++sinceYield >= YIELD_EVERY_TICKS) {
        await this.clock.settle();
        sinceYield = 0;
      }
      this.clock.fireDue(this.loop.tick * dt_ms);
      if (this.loop.ending) break;
      // tick k runs at k periods; what it reads was measured at the end of tick k - 1
      this.clock.advanceTo((this.loop.tick + 1) * dt_ms);
      this.stepping = true;
      this.loop.step(this.clock.now());
      this.stepping = false;
      if (this.observers.length) {
        const m = this.observation();
        for (const resolve of this.observers.splice(0)) resolve(m);
      }
    }
    return this.loop.ending;
  }
}
