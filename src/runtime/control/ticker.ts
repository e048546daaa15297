// What the control loop does each tick with the buffer, whichever thread and clock it runs on: take the
// action for exactly this tick from the ring (or keep the last command if there is none: an underrun),
// pass it through safety, and count what happened. No allocation per tick.

import type { JointState } from '../../../drivers/driver.js';
import type { ResidualCorrection, ResidualFigures } from '../../policy/residual/residual-corrector.js';
import { type ActionRing, H_HOLD, H_LAST_CHUNK, type SlotRead } from '../action-ring.js';
import type { SafetyFilter } from '../safety.js';

export interface ControlCounters {
  ticks: number;
  /** Ticks with no action after the robot had started executing buffered actions (the buffer ran dry). */
  underruns: number;
  /** Ticks spent holding the start pose until the first buffered action of an episode. */
  startup_ticks: number;
  /** Ticks whose action came from a newer chunk than the previous tick's. */
  seams: number;
  seam_jump_sum: number;
  seam_jump_max: number;
  within_steps: number;
  within_step_sum: number;
  /** Ticks held because the driver reported a fault or its state was stale. */
  fault_hold_ticks: number;
}

export function newControlCounters(): ControlCounters {
  return {
    ticks: 0,
    underruns: 0,
    startup_ticks: 0,
    seams: 0,
    seam_jump_sum: 0,
    seam_jump_max: 0,
    within_steps: 0,
    within_step_sum: 0,
    fault_hold_ticks: 0,
  };
}

/** Where a tick's command came from. */
export const COMMAND_SOURCES = ['buffer', 'underrun', 'startup', 'hold', 'fault'] as const;
export type CommandSource = (typeof COMMAND_SOURCES)[number];

export class ControlTicker {
  /** The last command sent (after safety). */
  readonly last: Float64Array;
  readonly counters: ControlCounters = newControlCounters();
  private readonly target: Float64Array;
  private readonly prevTarget: Float64Array;
  private readonly slot: SlotRead = { found: false, chunk_id: -1, chunk_index: 0 };
  private prevChunk = -1;
  private armed = false;
  /** Slots of older chunks are planned from before a driver fault: never executed after it. */
  private minChunk = 0;
  /** Where the command of the last tick came from. */
  source: CommandSource = 'startup';
  /** A residual policy correcting each buffered action before safety, the state it reads, its chunk's features. */
  private residual: { correction: ResidualCorrection; state: JointState; features: Float64Array } | undefined;

  constructor(
    private readonly ring: ActionRing,
    private readonly safety: SafetyFilter,
  ) {
    this.last = new Float64Array(ring.dim);
    this.target = new Float64Array(ring.dim);
    this.prevTarget = new Float64Array(ring.dim);
  }

  /** What the residual did, when there is one. */
  residualFigures(): ResidualFigures | undefined {
    return this.residual?.correction.figures();
  }

  /** Correct every buffered action with `correction`, reading the measured `state` (the control loop's). */
  attachResidual(correction: ResidualCorrection, state: JointState): void {
    this.residual = { correction, state, features: new Float64Array(this.ring.features) };
  }

  /** Start (or restart) from where the robot is: the first command holds that pose. */
  reset(measured: ArrayLike<number>): void {
    this.residual?.correction.reset();
    this.last.set(measured);
    this.prevChunk = -1;
    this.armed = false;
    this.minChunk = 0;
  }

  /**
   * Resume after a driver fault cleared: start the joints again from the fresh measurement, and refuse
   * every chunk inserted so far (planned before the fault, from where the robot was then), so motion
   * resumes only with a chunk computed from a fresh observation. Grippers keep their last command: one
   * closed on an object measures part-open, and commanding that opening would let the object go.
   */
  resumeAfterFault(measured: ArrayLike<number>): void {
    const g = this.safety.limits.is_gripper;
    for (let i = 0; i < this.last.length; i++) if (!g[i]) this.last[i] = measured[i];
    this.residual?.correction.resume();
    this.prevChunk = -1;
    this.armed = false;
    this.minChunk = Atomics.load(this.ring.header, H_LAST_CHUNK) + 1;
  }

  /** The command for tick k, or null when the runtime asked the robot to hold. Marks tick k executed. */
  next(k: number): Float64Array | null {
    this.counters.ticks++;
    this.ring.markExecuted(k);
    if (Atomics.load(this.ring.header, H_HOLD) !== 0) {
      this.source = 'hold';
      this.prevChunk = -1;
      return null;
    }
    const s = this.ring.read(k, this.target, this.slot);
    if (!s.found || s.chunk_id < this.minChunk) {
      // nothing for this tick: never extrapolate, keep the last command
      if (this.armed) this.counters.underruns++;
      else this.counters.startup_ticks++;
      this.source = this.armed ? 'underrun' : 'startup';
      this.prevChunk = -1;
      return this.last;
    }
    this.source = 'buffer';
    this.armed = true;
    this.trackSeam(s.chunk_id);
    // after the seam figures (they judge the base policy's chunks), before safety (which bounds the sum)
    const r = this.residual;
    if (r) {
      const seen = this.ring.features > 0 && this.ring.readFeatures(s.chunk_id, r.features);
      r.correction.correct(k, r.state, this.target, s.chunk_index ?? 0, seen ? r.features : undefined);
    }
    this.safety.limit(this.target, this.last, this.last);
    return this.last;
  }

  /** Tick k is held because the driver cannot take commands now: counted and marked executed. */
  holdForFault(k: number): null {
    this.counters.ticks++;
    this.counters.fault_hold_ticks++;
    this.ring.markExecuted(k);
    this.source = 'fault';
    this.prevChunk = -1;
    return null;
  }

  /** Joint-space jumps between consecutive buffered actions, at chunk seams and inside chunks. */
  private trackSeam(chunk: number): void {
    if (this.prevChunk >= 0) {
      let jump = 0;
      const g = this.safety.limits.is_gripper;
      for (let i = 0; i < this.target.length; i++) {
        if (g[i]) continue; // a gripper snapping shut is an action, not a seam artefact
        const d = Math.abs(this.target[i] - this.prevTarget[i]);
        if (d > jump) jump = d;
      }
      const c = this.counters;
      if (chunk !== this.prevChunk) {
        c.seams++;
        c.seam_jump_sum += jump;
        if (jump > c.seam_jump_max) c.seam_jump_max = jump;
      } else {
        c.within_steps++;
        c.within_step_sum += jump;
      }
    }
    this.prevChunk = chunk;
    this.prevTarget.set(this.target);
  }
}

/** Mean jump at chunk seams over the mean step inside chunks (1 = seams are as smooth as the rest). */
export function seamJumpRatio(c: ControlCounters): number {
  if (c.seams === 0 || c.within_steps === 0) return 0;
  const within = c.within_step_sum / c.within_steps;
  return within > 0 ? c.seam_jump_sum / c.seams / within : 0;
}
