// Scripted push for a UR arm: the gripper, half open so its two pads make a wide pusher, comes down
// behind the cube and slides it along the table onto the target. While pushing it re-aims every chunk
// from the cube's current position, as a person would: a cube that turns or drifts sideways is steered
// back onto the line to the target.

import { Rng } from '../../src/util/rng.js';
import type { Vec3 } from '../math3d.js';
import type { ArmSpec } from '../robots/arm-spec.js';
import { PUSH_CUBE_HALF_M } from '../tasks/push.js';
import { ArmTracker, nearestYaw, TickNoise, topDownRot, yawOf } from './arm-tracker.js';
import { CartesianPlan, moveTicks } from './cartesian-plan.js';
import type { ExpertObservation, ExpertOptions, ScriptedExpert } from './expert.js';

export const HOVER_Z_M = 0.12;
/** TCP height while pushing: the pad tips run 8 mm above the table, below the cube's middle. */
export const PUSH_Z_M = 0.024;
/** Gripper opening while pushing: pads ~19 mm either side of the centre line, inside the 50 mm face. */
export const PUSH_GRIPPER = 0.3;
/** Start this far behind the cube face (m), so the descent cannot land on the cube. */
export const RUN_UP_M = 0.04;
export const SPEED_M_S = 0.35;
export const PUSH_SPEED_M_S = 0.1;

type Phase = 'approach' | 'push' | 'retreat';

export class UrPushExpert implements ScriptedExpert {
  readonly action_dim = 7;
  private readonly tracker: ArmTracker;
  private readonly padRadius_m: number;
  private plan: CartesianPlan | undefined;
  private phase: Phase = 'approach';
  private pushStartTick = 0;
  private jointNoise!: TickNoise;
  private aimOffset_m = 0;

  constructor(
    arm: ArmSpec,
    private readonly control_hz: number,
    private readonly opts: ExpertOptions = {},
  ) {
    this.tracker = new ArmTracker(arm);
    this.padRadius_m = arm.gripper.pad_half_m[1];
  }

  reset(seed: number): void {
    const rng = new Rng(seed);
    const noise = Math.max(0, this.opts.noise ?? 0);
    this.plan = undefined;
    this.phase = 'approach';
    this.tracker.reset();
    this.jointNoise = new TickNoise(6, 0.012 * noise, 0.3 * this.control_hz, rng.fork(1));
    this.aimOffset_m = 0.01 * noise * rng.fork(2).normal();
  }

  chunk(obs: ExpertObservation, horizon: number, first_tick = obs.tick + 1): Float64Array {
    this.plan ??= this.makePlan(obs, first_tick - 1);
    const plan = this.plan;
    if (this.phase === 'push' && obs.tick > this.pushStartTick) this.steer(obs, plan, first_tick);
    if (this.phase === 'approach' && obs.tick >= this.pushStartTick) this.phase = 'push';
    const out = new Float64Array(horizon * this.action_dim);
    for (let i = 0; i < horizon; i++) {
      const tick = first_tick + i;
      const s = plan.sample(tick);
      const q = this.tracker.solve(tick, s.pose, obs.position_rad);
      const noise = this.jointNoise.at(tick);
      for (let j = 0; j < 6; j++) out[i * 7 + j] = q[j] + noise[j];
      out[i * 7 + 6] = s.gripper;
    }
    return out;
  }

  /** The plan starts at `start`: the robot stays where it is until the first action of the first chunk runs. */
  private makePlan(obs: ExpertObservation, start: number): CartesianPlan {
    const hz = this.control_hz;
    const here = this.tracker.kin.forward(obs.position_rad);
    const cube = obs.task.objects.cube.pos;
    const target = obs.task.target!.pos;
    const u = unitXY(cube, target);
    const rot = topDownRot(this.pusherYaw(u, yawOf(here.rot)));
    const back = PUSH_CUBE_HALF_M + this.padRadius_m + RUN_UP_M;
    const above: Vec3 = [cube[0] - u[0] * back, cube[1] - u[1] * back, HOVER_Z_M];
    const plan = new CartesianPlan({ pos: here.pos, rot: here.rot, gripper: obs.gripper[0], tick: start });
    plan.moveTo(
      above,
      rot,
      PUSH_GRIPPER,
      moveTicks(plan.last, above, hz, {
        speed_m_s: SPEED_M_S,
        min_s: 0.8,
        yaw_change_rad: yawOf(rot) - yawOf(here.rot),
      }),
    );
    const down: Vec3 = [above[0], above[1], PUSH_Z_M];
    plan.moveTo(down, rot, PUSH_GRIPPER, moveTicks(plan.last, down, hz, { speed_m_s: 0.15, min_s: 0.6 }));
    this.pushStartTick = plan.endTick;
    this.appendPush(plan, target, u, rot);
    return plan;
  }

  /** Push so that the cube's centre ends on the target, then back off and lift. */
  private appendPush(plan: CartesianPlan, target: Vec3, u: [number, number], rot: Float64Array): void {
    const hz = this.control_hz;
    const n: [number, number] = [-u[1], u[0]];
    const stand = PUSH_CUBE_HALF_M + this.padRadius_m;
    const end: Vec3 = [
      target[0] - u[0] * stand + n[0] * this.aimOffset_m,
      target[1] - u[1] * stand + n[1] * this.aimOffset_m,
      PUSH_Z_M,
    ];
    plan.moveTo(end, rot, PUSH_GRIPPER, moveTicks(plan.last, end, hz, { speed_m_s: PUSH_SPEED_M_S, min_s: 0.4 }));
    const backOff: Vec3 = [end[0] - u[0] * 0.03, end[1] - u[1] * 0.03, PUSH_Z_M];
    plan.moveTo(backOff, rot, PUSH_GRIPPER, 0.4 * hz);
    plan.moveTo([backOff[0], backOff[1], HOVER_Z_M], rot, PUSH_GRIPPER, 0.6 * hz);
  }

  /**
   * Re-aim the rest of the push from where the cube is now: the pusher moves to the far side of the
   * line from cube to target, so the push turns the cube back towards it.
   */
  private steer(obs: ExpertObservation, plan: CartesianPlan, first_tick: number): void {
    const cube = obs.task.objects.cube.pos;
    const target = obs.task.target!.pos;
    const remaining = Math.hypot(target[0] - cube[0], target[1] - cube[1]);
    if (remaining < 0.01) {
      this.phase = 'retreat';
      return;
    }
    // earlier ticks are already committed to the robot: change the plan only from the first new one
    const from = first_tick;
    const here = plan.sample(from).pose;
    if (here.pos[2] > PUSH_Z_M + 0.005) return;
    plan.truncateAt(from);
    this.tracker.forgetAfter(from);
    this.appendPush(plan, target, unitXY(cube, target), here.rot);
  }

  /** Pads side by side across the push direction; of the two symmetric yaws, the one nearer `current`. */
  private pusherYaw(u: [number, number], current: number): number {
    return nearestYaw(Math.atan2(-u[1], -u[0]), Math.PI, current);
  }
}

export function unitXY(from: Vec3, to: Vec3): [number, number] {
  const dx = to[0] - from[0],
    dy = to[1] - from[1];
  const l = Math.hypot(dx, dy) || 1;
  return [dx / l, dy / l];
}
