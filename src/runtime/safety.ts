// Safety, in one place for every driver: a command never leaves the runtime without passing here.
//  - a chunk with any NaN or infinite value is rejected whole (no "mostly fine" chunks);
//  - every joint command is clamped to the joint's position limits (and a workspace box inside them), and moves
//    at most one step per tick from the previous command (the velocity limit times the tick, or a tighter
//    configured step);
//  - grippers are clamped to 0 (closed) .. 1 (open);
//  - a command with any NaN or infinite value (a residual gone wrong, a bug upstream) is not sent at all:
//    the previous command is kept, so the robot holds (comparisons with NaN are false, so without this check
//    a NaN would pass every clamp).
// Limits are taken against the last *command*, so a robot lagging behind its target cannot make the
// runtime release a jump when it catches up.

import type { ActionChunk } from '../policy/policy.js';
import type { RobotDescription } from '../robot/index.js';

export interface SafetyLimits {
  dim: number;
  /** For each action index: a joint (its limits apply) or a gripper. */
  is_gripper: Uint8Array;
  min: Float64Array;
  max: Float64Array;
  /** Largest change per tick. */
  max_step: Float64Array;
}

export interface SafetyOptions {
  /** Per-tick step cap (rad) on top of velocity limit x tick (e.g. LeRobot's 5 degrees); default: the profile's. */
  max_step_rad?: number;
  /** A workspace box in joint space, tighter than the profile's limits: joint name -> [lo, hi] (rad). */
  joint_box?: JointBox;
}

/** A workspace box in joint space: for the joints named, [lo, hi] in rad (the others keep their limits). */
export type JointBox = Readonly<Record<string, readonly [number, number]>>;

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
  };
  const dt = 1 / desc.control_hz;
  desc.action_names.forEach((name, i) => {
    const j = desc.joint_names.indexOf(name);
    if (j >= 0) {
      const box = opts.joint_box?.[name];
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

  constructor(readonly limits: SafetyLimits) {}

  /**
   * The command to send for `target`, given the previous command `last`: limits applied, written to
   * `out` (which may be `target`). Returns true if anything was changed.
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
    if (clamped) this.clamped_actions++;
    return clamped;
  }

  /** Record a rejected chunk and return the reason, or null if the chunk is fine. */
  screen(chunk: ActionChunk): string | null {
    const problem = chunkProblem(chunk, this.limits.dim);
    if (problem) this.rejected_chunks++;
    return problem;
  }
}
