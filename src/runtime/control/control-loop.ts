// One control tick, the same on every clock and for every driver (the threaded real-time loop and the
// virtual clock both call step()): read the state, judge its health and freshness, take this tick's action
// from the buffer through safety (or hold), write it, and publish what happened on the tick board.
//  - A tick whose health is not ok holds: from the measured pose (grippers keep their command) when that
//    measurement is fresh and the driver is in a state to take it, else nothing is written (the actuators
//    keep their last goal, or the robot's own receive timeout stops it).
//  - When the health clears, commands restart from the measured pose and from a chunk planned after the
//    fault, unless the stretch was a few missed reads (fault-stretch.ts).
//  - A stretch longer than the fault timeout, or a latched fault, ends the episode with the cause.
// Nothing here allocates per tick.

import { type Driver, type Health, isLatched, type JointState, newJointState } from '../../../drivers/driver.js';
import type { TaskOutcome } from '../../../sim/sim-driver.js';
import type { ResidualCorrection } from '../../policy/residual/residual-corrector.js';
import { actionLayout, type RobotDescription } from '../../robot/index.js';
import type { ActionRing } from '../action-ring.js';
import type { WorkspaceBox } from '../safety.js';
import { SafetyFilter, safetyLimits } from '../safety.js';
import { FaultStretches } from './fault-stretch.js';
import { FreshnessWatch } from './freshness.js';
import type { TickBoard } from './tick-board.js';
import { ControlTicker } from './ticker.js';

/** What the control thread knows of a simulated world (the embedded sim); absent for a robot. */
export interface SimWorldSide {
  reset(seed: number): void;
  readonly done: boolean;
  success(): boolean;
  /** The task's final figures in the scene (why an episode failed), read when the episode ends. */
  outcome?(): TaskOutcome;
}

export interface ControlLoopOptions {
  fault_timeout_ms: number;
  stale_state_ms: number;
  max_step_rad?: number;
  workspace_box?: WorkspaceBox;
  /** Corrects each buffered action before safety (a residual policy); evaluated in this loop's thread. */
  residual?: ResidualCorrection;
}

export interface EpisodeEnd {
  ticks: number;
  success: boolean;
  fault?: string;
  /** The fault was the robot's link, which may come back (any driver fault but a latched one). */
  link_lost?: boolean;
  /** In a simulated world: the task's figures at the end (e.g. cube_to_target_m). */
  task_outcome?: TaskOutcome;
}

/** Healths during which the measured pose may be commanded as a hold (the driver has a live, current reading). */
const HOLD_FROM_MEASURED: ReadonlySet<Health> = new Set(['ok', 'stale', 'program_stopped', 'hardware_alert']);

export class ControlLoop {
  readonly description: RobotDescription;
  readonly safety: SafetyFilter;
  readonly ticker: ControlTicker;
  readonly faults: FaultStretches;
  readonly freshness: FreshnessWatch;
  /** The state read at the start of the last tick. */
  readonly state: JointState;
  /** The last executed tick of the episode. */
  tick = 0;
  /** Set when the episode must end (by the loop itself, or asked for); cleared by begin(). */
  ending: EpisodeEnd | undefined;
  private readonly layout: Float64Array;
  private readonly hold: Float64Array;
  private max_ticks = Infinity;
  private health: Health = 'ok';
  /** Called after a tick is published and before its command is written (the virtual clock's listeners run here). */
  beforeWrite: (() => void) | undefined;

  constructor(
    readonly driver: Driver,
    readonly ring: ActionRing,
    readonly board: TickBoard,
    private readonly sim: SimWorldSide | undefined,
    opts: ControlLoopOptions,
  ) {
    this.description = driver.description;
    this.safety = new SafetyFilter(
      safetyLimits(this.description, { max_step_rad: opts.max_step_rad, workspace_box: opts.workspace_box }),
    );
    this.ticker = new ControlTicker(ring, this.safety);
    this.freshness = new FreshnessWatch(opts.stale_state_ms);
    // a stretch of missed reads no longer than the stale limit left the actuators on their last goal
    this.faults = new FaultStretches(opts.fault_timeout_ms, opts.stale_state_ms);
    this.state = newJointState(this.description);
    if (opts.residual) this.ticker.attachResidual(opts.residual, this.state);
    this.layout = new Float64Array(this.description.action_names.length);
    this.hold = new Float64Array(this.description.action_names.length);
  }

  /** Start an episode from the state just read (the driver is active); ticks count from 1. */
  begin(max_ticks = Infinity): void {
    this.driver.read(this.state);
    this.ticker.reset(actionLayout(this.description, this.state, this.layout));
    this.faults.reset();
    this.board.reset();
    this.tick = 0;
    this.max_ticks = max_ticks;
    this.ending = undefined;
  }

  /** End the episode after the current tick (a hold asked for elsewhere, or the world's success). */
  requestEnd(fault?: string): void {
    this.ending ??= { ticks: this.tick, success: this.sim?.success() ?? false, ...(fault ? { fault } : {}) };
    this.addOutcome();
  }

  /** Execute the next tick at `now_ms` (the clock's monotonic time). */
  step(now_ms: number): void {
    const k = this.tick + 1;
    this.health = this.freshness.judge(this.driver.read(this.state), this.state.t_mono_ms, now_ms);
    let command: Float64Array | null;
    if (this.health !== 'ok') command = this.faultTick(k, now_ms);
    else {
      if (this.faults.holding && this.faults.leave(now_ms) === 'resume') {
        // commands restart from where the robot is now and from a new chunk, never from the old plan
        this.ticker.resumeAfterFault(actionLayout(this.description, this.state, this.layout));
      }
      command = this.ticker.next(k) ?? this.holdCommand();
    }
    this.board.publish(k, this.state, this.health, this.ticker.source, command, now_ms);
    this.beforeWrite?.();
    this.driver.write(command);
    this.tick = k;
    const done = this.sim?.done ?? false;
    if (done || k >= this.max_ticks) this.ending ??= { ticks: k, success: this.sim?.success() ?? false };
    if (this.ending) this.addOutcome();
  }

  /** The ending gets the sim task's figures once (a robot has none). */
  private addOutcome(): void {
    if (this.ending && !this.ending.task_outcome && this.sim?.outcome) this.ending.task_outcome = this.sim.outcome();
  }

  private faultTick(k: number, now_ms: number): Float64Array | null {
    if (!this.faults.holding) this.board.faultStarted(now_ms);
    const fatal = this.faults.enter(this.health, now_ms, () =>
      this.health === 'stale'
        ? `no fresh state for ${Math.round(now_ms - this.state.t_mono_ms)} ms ` +
          `(${this.driver.problem() || 'the driver reports nothing newer'})`
        : this.driver.problem(),
    );
    if (fatal) this.ending ??= { ticks: k, success: false, fault: fatal, link_lost: !isLatched(this.health) };
    this.ticker.holdForFault(k);
    return HOLD_FROM_MEASURED.has(this.health) && this.freshness.stateIsFresh(this.state.t_mono_ms, now_ms)
      ? this.holdCommand()
      : null;
  }

  /** The measured joints, each gripper on its last command (one squeezing an object measures part-open). */
  private holdCommand(): Float64Array {
    actionLayout(this.description, this.state, this.hold);
    const g = this.safety.limits.is_gripper;
    for (let i = 0; i < this.hold.length; i++) if (g[i]) this.hold[i] = this.ticker.last[i];
    return this.hold;
  }
}
