// What a replay did, tick by tick, and how far it is from the recording: per joint (and gripper) the largest
// difference of the measured state and the first tick it went over a threshold, and how many commands the replay
// sent that differ from the recorded ones (those of a recorded-actions replay must not, bit for bit).
import type { JointState } from '../../../drivers/driver.js';
import type { Episode } from '../../recording/index.js';
import type { CommandSource } from '../../runtime/control/ticker.js';
import type { TickRecorder } from '../../runtime/runtime-types.js';

/** Every tick of a replay: the state its command was computed from, and the command (the recorder's view). */
export class ReplayTrace implements TickRecorder {
  readonly ticks: number[] = [];
  /** Per tick: joints (rad) then grippers (0..1). */
  readonly state: number[] = [];
  readonly command: number[] = [];
  readonly source: CommandSource[] = [];

  constructor(
    readonly joints: number,
    readonly grippers: number,
    readonly dim: number,
  ) {}

  tick(state: JointState, command: Float64Array, k: number, source: CommandSource): void {
    this.ticks.push(k);
    for (let j = 0; j < this.joints; j++) this.state.push(state.position_rad[j]);
    for (let g = 0; g < this.grippers; g++) this.state.push(state.gripper[g]);
    for (let i = 0; i < this.dim; i++) this.command.push(command[i]);
    this.source.push(source);
  }
}

export interface JointDivergence {
  name: string;
  /** rad for a joint, the opening (0 closed .. 1 open) for a gripper. */
  unit: 'rad' | 'opening';
  max_abs: number;
  /** The first recorded tick where |replay - recording| > threshold; null: never. */
  first_tick_over: number | null;
  first_time_over_s: number | null;
}

export interface Divergence {
  threshold: number;
  /** Ticks present in both (the replay may end sooner or later than the recording). */
  compared_ticks: number;
  /** Largest over the arm joints (rad). */
  max_abs_rad: number;
  /** Largest over the grippers (opening). */
  max_abs_gripper: number;
  /** The first tick any joint or gripper went over the threshold, and which. */
  first_tick_over: number | null;
  first_time_over_s: number | null;
  first_over: string | null;
  joints: JointDivergence[];
}

/** Rows of the replay trace by tick, for the recording's ticks to be looked up. */
function rowsByTick(trace: ReplayTrace): Map<number, number> {
  const m = new Map<number, number>();
  trace.ticks.forEach((k, row) => {
    m.set(k, row);
  });
  return m;
}

export function divergence(ep: Episode, trace: ReplayTrace, threshold: number): Divergence {
  const { joint_names, gripper_names, control_hz } = ep.meta;
  const J = joint_names.length;
  const W = J + gripper_names.length;
  const joints: JointDivergence[] = [...joint_names, ...gripper_names].map((name, i) => ({
    name,
    unit: i < J ? 'rad' : 'opening',
    max_abs: 0,
    first_tick_over: null,
    first_time_over_s: null,
  }));
  const rows = rowsByTick(trace);
  let compared = 0;
  for (let r = 0; r < ep.ticks; r++) {
    const k = ep.tick[r];
    const row = rows.get(k);
    if (row === undefined) continue;
    compared++;
    for (let i = 0; i < W; i++) {
      const recorded = i < J ? ep.position_rad[r * J + i] : ep.gripper[r * (W - J) + i - J];
      const d = Math.abs(trace.state[row * W + i] - recorded);
      const jd = joints[i];
      if (d > jd.max_abs) jd.max_abs = d;
      if (d > threshold && jd.first_tick_over === null) {
        jd.first_tick_over = k;
        jd.first_time_over_s = k / control_hz;
      }
    }
  }
  const first = joints
    .filter((j) => j.first_tick_over !== null)
    .sort((a, b) => a.first_tick_over! - b.first_tick_over!)[0];
  return {
    threshold,
    compared_ticks: compared,
    max_abs_rad: Math.max(0, ...joints.slice(0, J).map((j) => j.max_abs)),
    max_abs_gripper: Math.max(0, ...joints.slice(J).map((j) => j.max_abs)),
    first_tick_over: first?.first_tick_over ?? null,
    first_time_over_s: first?.first_time_over_s ?? null,
    first_over: first?.name ?? null,
    joints,
  };
}

export interface CommandMismatch {
  compared: number;
  /** Ticks whose command differs from the recorded one in any value. */
  differing: number;
  max_abs: number;
  first_tick: number | null;
}

/** The commands the replay sent against the recorded ones, tick by tick. */
export function commandMismatch(ep: Episode, trace: ReplayTrace): CommandMismatch {
  const D = ep.meta.action_names.length;
  const rows = rowsByTick(trace);
  const out: CommandMismatch = { compared: 0, differing: 0, max_abs: 0, first_tick: null };
  for (let r = 0; r < ep.ticks; r++) {
    const row = rows.get(ep.tick[r]);
    if (row === undefined) continue;
    out.compared++;
    let differs = false;
    for (let i = 0; i < D; i++) {
      const d = Math.abs(trace.command[row * D + i] - ep.action[r * D + i]);
      if (d > 0) differs = true;
      if (d > out.max_abs) out.max_abs = d;
    }
    if (differs) {
      out.differing++;
      out.first_tick ??= ep.tick[r];
    }
  }
  return out;
}
