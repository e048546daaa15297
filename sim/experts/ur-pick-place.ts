// Scripted pick-place for a UR arm: top-down grasp of the cube, carry it over the target, put it down,
// let go, back off. The plan is made from the first observation; after the grasp it is re-aimed from
// where the cube actually sits in the hand, so a slightly off-centre grasp still lands on the target.

import { Rng } from '../../src/util/rng.js';
import type { Vec3 } from '../math3d.js';
import type { ArmSpec } from '../robots/arm-spec.js';
import { CUBE_HALF_M } from '../tasks/pick-place.js';
import { ArmTracker, nearestYaw, quatYaw, TickNoise, topDownRot, yawOf } from './arm-tracker.js';
import { CartesianPlan, moveTicks } from './cartesian-plan.js';
import type { ExpertObservation, ExpertOptions, ScriptedExpert } from './expert.js';

const HOVER_Z_M = 0.14;
/** TCP (pad centre) height at the grasp: pads centred on the cube's faces, tips 5 mm above the table. */
const GRASP_Z_M = CUBE_HALF_M + 0.001;
/** TCP height when the cube is let go: it drops ~5 mm. */
const PLACE_Z_M = CUBE_HALF_M + 0.006;
const SPEED_M_S = 0.35;
const SLOW_SPEED_M_S = 0.15;

export class UrPickPlaceExpert implements ScriptedExpert {
  readonly action_dim = 7;
  private readonly tracker: ArmTracker;
  private readonly noise: number;
  private plan: CartesianPlan | undefined;
  private jointNoise!: TickNoise;
  private graspOffset: Vec3 = [0, 0, 0];
  private placeOffset: Vec3 = [0, 0, 0];
  private liftTick = 0;
  private reaimed = false;

  constructor(
    arm: ArmSpec,
    private readonly control_hz: number,
    opts: ExpertOptions = {},
  ) {
    this.tracker = new ArmTracker(arm);
    this.noise = Math.max(0, opts.noise ?? 0);
  }

  reset(seed: number): void {
    const rng = new Rng(seed);
    this.plan = undefined;
    this.reaimed = false;
    this.tracker.reset();
    this.jointNoise = new TickNoise(6, 0.012 * this.noise, 0.3 * this.control_hz, rng.fork(1));
    const n = rng.fork(2);
    this.graspOffset = [0.006 * this.noise * n.normal(), 0.006 * this.noise * n.normal(), 0];
    this.placeOffset = [0.02 * this.noise * n.normal(), 0.02 * this.noise * n.normal(), 0];
  }

  chunk(obs: ExpertObservation, horizon: number, first_tick = obs.tick + 1): Float64Array {
    this.plan ??= this.makePlan(obs, first_tick - 1);
    const plan = this.plan;
    if (!this.reaimed && obs.tick >= this.liftTick) this.reaim(obs, plan, first_tick);
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
    const cube = obs.task.objects.cube;
    const target = obs.task.target!.pos;
    const yaw0 = yawOf(here.rot);
    const graspYaw = nearestYaw(quatYaw(cube.quat), Math.PI / 2, yaw0);
    const rot = topDownRot(graspYaw);
    const above: Vec3 = [cube.pos[0] + this.graspOffset[0], cube.pos[1] + this.graspOffset[1], HOVER_Z_M];
    const plan = new CartesianPlan({ pos: here.pos, rot: here.rot, gripper: obs.gripper[0], tick: start });
    plan.moveTo(
      above,
      rot,
      1,
      moveTicks(plan.last, above, hz, { speed_m_s: SPEED_M_S, min_s: 0.8, yaw_change_rad: graspYaw - yaw0 }),
    );
    const grasp: Vec3 = [above[0], above[1], GRASP_Z_M];
    plan.moveTo(grasp, rot, 1, moveTicks(plan.last, grasp, hz, { speed_m_s: SLOW_SPEED_M_S, min_s: 0.6 }));
    plan.hold(0.3 * hz, 0).hold(0.15 * hz, 0);
    this.liftTick = plan.endTick;
    this.appendCarry(plan, [above[0], above[1], HOVER_Z_M], target, rot);
    return plan;
  }

  /** Lift, carry over the target, lower, open, back off. */
  private appendCarry(plan: CartesianPlan, lift: Vec3, target: Vec3, rot: Float64Array): void {
    const hz = this.control_hz;
    plan.moveTo(lift, rot, 0, moveTicks(plan.last, lift, hz, { speed_m_s: SLOW_SPEED_M_S, min_s: 0.6 }));
    const over: Vec3 = [target[0] + this.placeOffset[0], target[1] + this.placeOffset[1], HOVER_Z_M];
    plan.moveTo(over, rot, 0, moveTicks(plan.last, over, hz, { speed_m_s: SPEED_M_S, min_s: 0.8 }));
    const place: Vec3 = [over[0], over[1], PLACE_Z_M];
    plan.moveTo(place, rot, 0, moveTicks(plan.last, place, hz, { speed_m_s: SLOW_SPEED_M_S, min_s: 0.6 }));
    plan.hold(0.25 * hz, 1).hold(0.1 * hz, 1);
    plan.moveTo([over[0], over[1], HOVER_Z_M], rot, 1, 0.6 * hz);
  }

  /**
   * Once the cube is in the hand, aim the carry so that the cube's centre (not the TCP) ends over the
   * target: the grasp is rarely perfectly centred.
   */
  private reaim(obs: ExpertObservation, plan: CartesianPlan, first_tick: number): void {
    this.reaimed = true;
    const tcp = this.tracker.kin.forward(obs.position_rad).pos;
    const cube = obs.task.objects.cube.pos;
    const inHand = Math.hypot(cube[0] - tcp[0], cube[1] - tcp[1]) < 0.03 && cube[2] < tcp[2] + 0.02;
    if (!inHand) return;
    const target = obs.task.target!.pos;
    const aim: Vec3 = [target[0] - (cube[0] - tcp[0]), target[1] - (cube[1] - tcp[1]), target[2]];
    // earlier ticks are already committed to the robot: change the plan only from the first new one
    const from = Math.max(first_tick, this.liftTick);
    const rot = plan.sample(from).pose.rot;
    const here = plan.sample(from).pose.pos;
    plan.truncateAt(from);
    this.tracker.forgetAfter(from);
    this.appendCarry(plan, [here[0], here[1], HOVER_Z_M], aim, rot);
  }
}
