// Safety, in one place for every driver: a command never leaves the runtime without passing here.
//  - a chunk with any NaN or infinite value is rejected whole (no "mostly fine" chunks);
//  - every joint command is clamped to the joint's position limits (and a workspace box inside them), and moves
//    at most one step per tick from the previous command (the velocity limit times the tick, or a tighter
//    configured step);
//  - with a Cartesian box (a UR, whose profile has its kinematics): a command that would take the flange out of
//    the box, or further out, keeps the arm's previous command (a hold); one that brings it back is let through;
//  - grippers are clamped to 0 (closed) .. 1 (open);
//  - a command with any NaN or infinite value (a residual gone wrong, a bug upstream) is not sent at all:
//    the previous command is kept, so the robot holds (comparisons with NaN are false, so without this check
//    a NaN would pass every clamp).
// Limits are taken against the last *command*, so a robot lagging behind its target cannot make the
// runtime release a jump when it catches up.

import type { ActionChunk } from '../policy/policy.js';
import { DhChain, type RobotDescription } from '../robot/index.js';

export interface SafetyLimits {
  dim: number;
  /** For each action index: a joint (its limits apply) or a gripper. */
  is_gripper: Uint8Array;
  min: Float64Array;
  max: Float64Array;
  /** Largest change per tick. */
  max_step: Float64Array;
  /** The box the flange must stay in, with the chain that places it; undefined: none. */
  flange: FlangeLimit | undefined;
}

interface FlangeLimit {
  chain: DhChain;
  lo: Float64Array;
  hi: Float64Array;
  /** For each joint of the chain, its index in the action vector. */
  joints: Int32Array;
}

export interface SafetyOptions {
  /** Per-tick step cap (rad) on top of velocity limit x tick (e.g. LeRobot's 5 degrees); default: the profile's. */
  max_step_rad?: number;
  /** A workspace box: joint ranges tighter than the profile's limits, and a box for the flange. */
  workspace_box?: WorkspaceBox;
}

/** A workspace box in joint space: for the joints named, [lo, hi] in rad (the others keep their limits). */
export type JointBox = Readonly<Record<string, readonly [number, number]>>;

/** Where the flange may be, in the robot's base frame (m): [lo, hi] per axis. */
export interface FlangeBox {
  x: readonly [number, number];
  y: readonly [number, number];
  z: readonly [number, number];
}

/** SERL's safety box: in joint space, in Cartesian space (the flange's position), or both. */
export interface WorkspaceBox {
  joints?: JointBox;
  flange_m?: FlangeBox;
}

const AXES = ['x', 'y', 'z'] as const;
/** A command no further out than the last by this much is not "further out" (rounding, not motion). */
const BOX_SLACK_M = 1e-9;

/** Why `box` cannot be used on this robot, or null (jointBoxProblem and flangeBoxProblem). */
export function workspaceBoxProblem(desc: RobotDescription, box: WorkspaceBox): string | null {
  const joints = box.joints ? jointBoxProblem(desc, box.joints) : null;
  return joints ?? (box.flange_m ? flangeBoxProblem(desc, box.flange_m) : null);
}

/**
 * Why a flange box cannot be used, or null: a robot whose profile has no kinematics, an empty range, or a home
 * pose whose flange lies outside (the first command would already be held).
 */
export function flangeBoxProblem(desc: RobotDescription, box: FlangeBox): string | null {
  if (!desc.dh) return `flange box: ${desc.robot}'s profile has no kinematics (kinematics.dh); use a joint box`;
  for (const axis of AXES) {
    const [lo, hi] = box[axis];
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) return `flange box: ${axis} [${lo}, ${hi}] is empty`;
  }
  const at = new DhChain(desc.dh).flange(desc.home_rad, new Float64Array(3));
  const outside = AXES.filter((axis, i) => at[i] < box[axis][0] || at[i] > box[axis][1]);
  if (outside.length === 0) return null;
  const where = Array.from(at, (v) => v.toFixed(3)).join(', ');
  return `flange box: the home pose puts the flange at (${where}) m, outside the box in ${outside.join(', ')}`;
}

/**
 * Why `box` cannot be used on this robot, or null: an unknown joint, lo not below hi, a range outside the joint's
 * limits, or a home pose outside the box (the robot would be pulled into it by motion no policy asked for).
 */
export function jointBoxProblem(desc: RobotDescription, box: JointBox): string | null {
  for (const [name, range] of Object.entries(box)) {
    const j = desc.joint_names.indexOf(name);
    if (j < 0) return `joint box: ${desc.robot} has no joint '${name}' (it has ${desc.joint_names.join(', ')})`;
    const [lo, hi] = range;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) return `joint box: ${name}: [${lo}, ${hi}] is empty`;
    const [min, max] = desc.position_limits_rad[j];
    if (hi <= min || lo >= max) return `joint box: ${name}: [${lo}, ${hi}] lies outside its limits [${min}, ${max}]`;
    const home = desc.home_rad[j];
    if (home < lo || home > hi) return `joint box: ${name}: the home pose (${home} rad) is outside [${lo}, ${hi}]`;
  }
  return null;
}

export function safetyLimits(desc: RobotDescription, opts: SafetyOptions = {}): SafetyLimits {
  const dim = desc.action_names.length;
  const limits: SafetyLimits = {
    dim,
    is_gripper: new Uint8Array(dim),
    min: new Float64Array(dim),
    max: new Float64Array(dim),
    max_step: new Float64Array(dim),
    flange: flangeLimit(desc, opts.workspace_box?.flange_m),
  };
  const dt = 1 / desc.control_hz;
  desc.action_names.forEach((name, i) => {
    const j = desc.joint_names.indexOf(name);
    if (j >= 0) {
      const box = opts.workspace_box?.joints?.[name];
      limits.min[i] = Math.max(desc.position_limits_rad[j][0], box?.[0] ?? -Infinity);
      limits.max[i] = Math.min(desc.position_limits_rad[j][1], box?.[1] ?? Infinity);
      limits.max_step[i] = Math.min(
        desc.velocity_limits_rad_s[j] * dt,
        opts.max_step_rad ?? desc.max_step_rad ?? Infinity,
      );
    } else if (desc.gripper_names.includes(name)) {
      limits.is_gripper[i] = 1;
      limits.min[i] = 0;
      limits.max[i] = 1;
      limits.max_step[i] = Infinity;
    } else {
      throw new Error(`action '${name}' is neither a joint nor a gripper of ${desc.robot}`);
    }
  });
  return limits;
}

function flangeLimit(desc: RobotDescription, box: FlangeBox | undefined): FlangeLimit | undefined {
  if (!box) return undefined;
  const problem = flangeBoxProblem(desc, box);
  if (problem || !desc.dh) throw new Error(problem ?? 'no kinematics');
  const chain = new DhChain(desc.dh);
  const joints = Int32Array.from(desc.joint_names, (n) => desc.action_names.indexOf(n));
  // a chain that reads past the joints would place the flange at NaN, which no comparison would hold
  if (chain.dof !== joints.length || joints.some((i) => i < 0))
    throw new Error(`flange box: ${desc.robot}'s DH table has ${chain.dof} joints, its actions ${joints.length}`);
  return {
    chain,
    lo: Float64Array.from(AXES, (a) => box[a][0]),
    hi: Float64Array.from(AXES, (a) => box[a][1]),
    joints,
  };
}

/** Why a chunk must not be used, or null if it may. */
export function chunkProblem(chunk: ActionChunk, dim: number): string | null {
  if (chunk.dim !== dim) return `chunk has ${chunk.dim} values per action, the robot takes ${dim}`;
  if (chunk.actions.length !== chunk.horizon * chunk.dim)
    return `chunk has ${chunk.actions.length} values, expected ${chunk.horizon} x ${chunk.dim}`;
  for (let i = 0; i < chunk.actions.length; i++) {
    if (!Number.isFinite(chunk.actions[i])) {
      return `action ${Math.floor(i / dim)} value ${i % dim} is ${chunk.actions[i]}`;
    }
  }
  return null;
}

export class SafetyFilter {
  /** Commands that were changed by a limit (one per tick at most), non-finite ones included. */
  clamped_actions = 0;
  /** Commands with a NaN or infinite value, replaced by the previous command (a hold). */
  nonfinite_commands = 0;
  rejected_chunks = 0;
  holds = 0;
  /** Commands whose arm part was held because it would have taken the flange out of its box, or further out. */
  box_holds = 0;
  private readonly flangeAt = new Float64Array(3);
  /** The previous command's arm joints and its flange's overshoot per axis, kept: `out` may be `last` itself. */
  private readonly lastArm: Float64Array;
  private readonly overBefore = new Float64Array(3);
  private readonly overNow = new Float64Array(3);

  constructor(readonly limits: SafetyLimits) {
    this.lastArm = new Float64Array(limits.flange?.joints.length ?? 0);
  }

  /**
   * The command to send for `target`, given the previous command `last`: limits applied, written to
   * `out` (which may be `target`, or `last`). Returns true if anything was changed.
   */
  limit(target: Float64Array, last: Float64Array, out: Float64Array): boolean {
    const { min, max, max_step, dim } = this.limits;
    for (let i = 0; i < dim; i++) {
      if (Number.isFinite(target[i])) continue;
      if (out !== last) out.set(last);
      this.nonfinite_commands++;
      this.clamped_actions++;
      return true;
    }
    const f = this.limits.flange;
    if (f) this.keepLast(f, last);
    let clamped = false;
    for (let i = 0; i < dim; i++) {
      let v = target[i];
      if (v < min[i]) v = min[i];
      else if (v > max[i]) v = max[i];
      const step = v - last[i];
      if (step > max_step[i]) v = last[i] + max_step[i];
      else if (step < -max_step[i]) v = last[i] - max_step[i];
      if (v !== target[i]) clamped = true;
      out[i] = v;
    }
    if (f && this.leavesBox(f, out)) {
      for (let j = 0; j < f.joints.length; j++) out[f.joints[j]] = this.lastArm[j];
      this.box_holds++;
      clamped = true;
    }
    if (clamped) this.clamped_actions++;
    return clamped;
  }

  private keepLast(f: FlangeLimit, last: Float64Array): void {
    for (let j = 0; j < f.joints.length; j++) this.lastArm[j] = last[f.joints[j]];
    this.overshoot(f, last, this.overBefore);
  }

  /**
   * Whether `next` puts the flange further outside the box than the previous command on any axis (per axis: a
   * command already outside may not trade one axis for another).
   */
  private leavesBox(f: FlangeLimit, next: Float64Array): boolean {
    this.overshoot(f, next, this.overNow);
    for (let k = 0; k < 3; k++) if (this.overNow[k] > this.overBefore[k] + BOX_SLACK_M) return true;
    return false;
  }

  /** How far outside the box the flange is for the command `at`, per axis (m; 0 inside; a NaN: infinitely). */
  private overshoot(f: FlangeLimit, at: Float64Array, into: Float64Array): void {
    const p = f.chain.flange(at, this.flangeAt, f.joints);
    for (let k = 0; k < 3; k++) {
      const v = p[k];
      into[k] = !Number.isFinite(v) ? Infinity : v < f.lo[k] ? f.lo[k] - v : v > f.hi[k] ? v - f.hi[k] : 0;
    }
  }

  /** Record a rejected chunk and return the reason, or null if the chunk is fine. */
  screen(chunk: ActionChunk): string | null {
    const problem = chunkProblem(chunk, this.limits.dim);
    if (problem) this.rejected_chunks++;
    return problem;
  }
}
