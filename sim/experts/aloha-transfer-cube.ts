// Scripted ALOHA transfer-cube (ACT's sim task): the right arm grasps the cube top-down, lifts it, and
// carries it to a meeting point above the table centre, turning its fingers toward the left arm. It
// holds the cube with its fingers closing vertically, so the cube rests on the lower pad and cannot sag
// in the grip. The left arm comes in from its side with its fingers closing horizontally (a quarter turn
// about the approach axis), so the two pairs of pads cross without touching. Once the left has closed,
// the right opens and backs off; the left keeps the cube in the air.
//
// Both plans are built from the first observation. When the right arm has settled at the meeting point
// the left arm's grasp is re-aimed from where the cube actually is, since the cube rarely sits exactly
// at the TCP of the hand that carries it.

import { Rng } from '../../src/util/rng.js';
import type { Pose } from '../kinematics.js';
import { mat3FromColumns, type Vec3 } from '../math3d.js';
import type { ArmSpec } from '../robots/arm-spec.js';
import type { RobotModel } from '../robots/index.js';
import { TRANSFER_CUBE_HALF_M } from '../tasks/transfer-cube.js';
import { ArmTracker, nearestYaw, quatYaw, TickNoise, topDownRot } from './arm-tracker.js';
import { CartesianPlan, moveTicks } from './cartesian-plan.js';
import type { ExpertObservation, ExpertOptions, ScriptedExpert } from './expert.js';

const HOVER_Z_M = 0.1;
/** Right TCP height at the grasp: the pads reach a few mm above the table. */
const GRASP_Z_M = TRANSFER_CUBE_HALF_M + 0.005;
/** Where the cube is handed over: above the table centre, high enough for the left's lower pad. */
const MEET_M: Vec3 = [0, 0, 0.2];
/** The left arm waits this far short of the cube (along x) before its final approach. */
const STANDOFF_M = 0.09;
/**
 * At the handover the hands face each other with their pads overlapping; each one's fingertips must stay
 * this far from the other's palm (servo lag and noise).
 */
const PALM_CLEARANCE_M = 0.008;
/** The cube counts as in the right hand when its centre is this close to the right TCP. */
const IN_HAND_M = 0.04;
/** Back-off of the right hand after letting go (m, along +x). */
const RETREAT_M = 0.1;
const SPEED_M_S = 0.35;
const SLOW_SPEED_M_S = 0.15;

/** Yaw of the right hand at the grasp, for a cube square to the table: fingers closing along world x. */
const RIGHT_GRASP_YAW_RAD = Math.PI / 2;
/** Right hand at the handover: the grasp pitched up a quarter turn, fingers toward -x, closing along z. */
const RIGHT_MEET_ROT = mat3FromColumns([0, 1, 0], [0, 0, -1], [-1, 0, 0]);
/** Wrist rotation (rad) of the right hand's poses above, relative to a hand whose fingers close across the arm. */
const RIGHT_WRIST_ROTATE_RAD = -Math.PI / 2;
/** Left hand at the handover: fingers toward +x, closing along world y (as at home). */
const LEFT_MEET_ROT = mat3FromColumns([0, 0, -1], [0, 1, 0], [1, 0, 0]);

/**
 * Joint noise is turned down to this fraction while a hand closes on the cube or the cube changes hands
 * (as a human demonstrator slows down for the delicate part), ramping over NOISE_RAMP_S.
 */
const CAREFUL_NOISE_SCALE = 0.35;
const NOISE_RAMP_S = 0.3;

const OPEN = 1;
const CLOSED = 0;

const WRIST_ROTATE = 5;

/**
 * opts.noise scales Ornstein-Uhlenbeck joint noise on both arms (0.012 rad per unit, turned down while a
 * hand grasps), an offset of the right grasp, of the meeting point and of the left grasp.
 */
export class AlohaTransferCubeExpert implements ScriptedExpert {
  readonly action_dim = 14;
  private readonly leftArm: ArmSpec;
  private readonly rightArm: ArmSpec;
  private readonly noise: number;
  private left: ArmScript | undefined;
  private right: ArmScript | undefined;
  private leftNoise!: TickNoise;
  private rightNoise!: TickNoise;
  private graspOffset: Vec3 = [0, 0, 0];
  private meetOffset: Vec3 = [0, 0, 0];
  private handoverOffset: Vec3 = [0, 0, 0];
  /** Tick from which the right hand holds still at the meeting point. */
  private settledTick = 0;
  /** Tick windows of careful (low-noise) motion. */
  private careful: Array<[number, number]> = [];
  private readonly scaled = new Float64Array(6);
  private handoverPlanned = false;
  /**
   * Farthest the left TCP may go past the right TCP along x: both grippers' pads span +-pad_half_z
   * around their TCP and the palm begins a stem's length behind the pads.
   */
  private readonly maxTcpOverlap_m: number;

  constructor(
    robot: RobotModel,
    private readonly control_hz: number,
    opts: ExpertOptions = {},
  ) {
    this.leftArm = armByPrefix(robot, 'left_');
    this.rightArm = armByPrefix(robot, 'right_');
    this.noise = Math.max(0, opts.noise ?? 0);
    this.maxTcpOverlap_m = this.rightArm.gripper.finger_stem_m - PALM_CLEARANCE_M;
  }

  reset(seed: number): void {
    const rng = new Rng(seed);
    this.left = undefined;
    this.right = undefined;
    this.handoverPlanned = false;
    const k = this.noise;
    this.leftNoise = new TickNoise(6, 0.012 * k, 0.3 * this.control_hz, rng.fork(1));
    this.rightNoise = new TickNoise(6, 0.012 * k, 0.3 * this.control_hz, rng.fork(2));
    const n = rng.fork(3);
    this.graspOffset = [0.006 * k * n.normal(), 0.004 * k * n.normal(), 0];
    this.meetOffset = [0.02 * k * n.normal(), 0.02 * k * n.normal(), 0.015 * k * n.normal()];
    this.handoverOffset = [0.003 * k * n.normal(), 0.003 * k * n.normal(), 0.003 * k * n.normal()];
  }

  chunk(obs: ExpertObservation, horizon: number, first_tick = obs.tick + 1): Float64Array {
    if (!this.left || !this.right) this.makePlans(obs, first_tick - 1);
    if (!this.handoverPlanned && obs.tick >= this.settledTick) this.planHandover(obs, first_tick);
    const out = new Float64Array(horizon * this.action_dim);
    const leftNow = armJoints(obs, 0);
    const rightNow = armJoints(obs, 1);
    for (let i = 0; i < horizon; i++) {
      const tick = first_tick + i;
      const row = i * this.action_dim;
      const scale = this.noiseScale(tick);
      this.left!.fill(out, row, tick, leftNow, this.scale(this.leftNoise.at(tick), scale));
      this.right!.fill(out, row + 7, tick, rightNow, this.scale(this.rightNoise.at(tick), scale));
    }
    return out;
  }

  private noiseScale(tick: number): number {
    const ramp = NOISE_RAMP_S * this.control_hz;
    let scale = 1;
    for (const [from, to] of this.careful) {
      const outside = Math.max(0, from - tick, tick - to);
      scale = Math.min(scale, CAREFUL_NOISE_SCALE + (1 - CAREFUL_NOISE_SCALE) * Math.min(1, outside / ramp));
    }
    return scale;
  }

  private scale(noise: Float64Array, k: number): Float64Array {
    for (let j = 0; j < 6; j++) this.scaled[j] = noise[j] * k;
    return this.scaled;
  }

  /** Plans start at `start`: the robot stays where it is until the first action of the first chunk runs. */
  private makePlans(obs: ExpertObservation, start: number): void {
    const hz = this.control_hz;
    const cubePose = obs.task.objects.cube;
    const cube = cubePose.pos;
    const leftNow = armJoints(obs, 0);
    const rightNow = armJoints(obs, 1);

    const right = new ArmScript(this.rightArm, rightNow, obs.gripper[1], start);
    const yaw_rad = nearestYaw(quatYaw(cubePose.quat), Math.PI / 2, RIGHT_GRASP_YAW_RAD);
    const downRot = topDownRot(yaw_rad);
    const above: Vec3 = [cube[0] + this.graspOffset[0], cube[1] + this.graspOffset[1], HOVER_Z_M];
    // Home has the wrist bent up, a top-down hand needs it bent down: the straight-wrist singularity on
    // the way lets per-tick IK wander onto the flipped branch, so this move is planned in joint space.
    const waist_rad = Math.atan2(this.rightArm.base_pos[1] - cube[1], this.rightArm.base_pos[0] - cube[0]);
    const rotate_rad = waist_rad + RIGHT_WRIST_ROTATE_RAD + RIGHT_GRASP_YAW_RAD - yaw_rad;
    const aboveSeed = Float64Array.from([waist_rad, 0.2, 0.3, 0, 1.1, rotate_rad]);
    right.jointMoveTo(
      { pos: above, rot: downRot },
      aboveSeed,
      OPEN,
      moveTicks(right.plan.last, above, hz, { speed_m_s: SPEED_M_S, min_s: 1.0 }),
    );
    const descentTick = right.plan.endTick;
    const grasp: Vec3 = [above[0], above[1], GRASP_Z_M];
    right.plan.moveTo(
      grasp,
      downRot,
      OPEN,
      moveTicks(right.plan.last, grasp, hz, { speed_m_s: SLOW_SPEED_M_S, min_s: 0.5 }),
    );
    right.plan.hold(0.3 * hz, CLOSED).hold(0.1 * hz, CLOSED);
    // straight up first: a hand that tilts while the cube still drags on the table squeezes it out
    const lift: Vec3 = [grasp[0], grasp[1], HOVER_Z_M];
    right.plan.moveTo(
      lift,
      downRot,
      CLOSED,
      moveTicks(right.plan.last, lift, hz, { speed_m_s: SLOW_SPEED_M_S, min_s: 0.5 }),
    );
    const liftTick = right.plan.endTick;
    // turning the fingers from down to level straightens the wrist again: joint space once more, from
    // the IK of the lift pose to a level-hand solution found from home (whose wrist is bent the same way)
    const meet: Vec3 = [MEET_M[0] + this.meetOffset[0], MEET_M[1] + this.meetOffset[1], MEET_M[2] + this.meetOffset[2]];
    const meetSeed = rightNow.map((q, j) => (j === WRIST_ROTATE ? q + RIGHT_WRIST_ROTATE_RAD : q));
    right.jointMoveTo(
      { pos: meet, rot: RIGHT_MEET_ROT },
      meetSeed,
      CLOSED,
      moveTicks(right.plan.last, meet, hz, { speed_m_s: SPEED_M_S, min_s: 1.2 }),
    );
    right.plan.hold(0.15 * hz);
    this.settledTick = right.plan.endTick;
    this.careful = [
      [descentTick, liftTick],
      [this.settledTick, Infinity],
    ];

    // the left arm is ready and waiting, short of the nominal cube position, when the right arrives
    const left = new ArmScript(this.leftArm, leftNow, obs.gripper[0], start);
    const standoff: Vec3 = [meet[0] - STANDOFF_M, meet[1], meet[2]];
    left.plan.moveTo(standoff, LEFT_MEET_ROT, OPEN, Math.max(1, this.settledTick - start));
    this.left = left;
    this.right = right;
  }

  /** Aim the left grasp at the cube as it sits in the right hand, then swap hands. */
  private planHandover(obs: ExpertObservation, first_tick: number): void {
    this.handoverPlanned = true;
    const hz = this.control_hz;
    const left = this.left!,
      right = this.right!;
    const cube = obs.task.objects.cube.pos;
    const rightTcp = right.tracker.kin.forward(armJoints(obs, 1)).pos;
    // a cube that is not in the right hand (a missed grasp) is left alone: reaching for it on the table
    // would drive the left hand into the table
    const inHand = Math.hypot(cube[0] - rightTcp[0], cube[1] - rightTcp[1], cube[2] - rightTcp[2]) < IN_HAND_M;
    if (!inHand) return;
    // earlier ticks are already committed to the robot: change the plans only from the first new one
    const from = Math.max(first_tick, this.settledTick);
    const o = this.handoverOffset;
    const target: Vec3 = [Math.min(cube[0], rightTcp[0] + this.maxTcpOverlap_m) + o[0], cube[1] + o[1], cube[2] + o[2]];
    const pre: Vec3 = [target[0] - STANDOFF_M, target[1], target[2]];

    left.truncateAt(from);
    left.plan.moveTo(
      pre,
      LEFT_MEET_ROT,
      OPEN,
      moveTicks(left.plan.last, pre, hz, { speed_m_s: SLOW_SPEED_M_S, min_s: 0.2 }),
    );
    left.plan.moveTo(
      target,
      LEFT_MEET_ROT,
      OPEN,
      moveTicks(left.plan.last, target, hz, { speed_m_s: SLOW_SPEED_M_S, min_s: 0.5 }),
    );
    left.plan.hold(0.3 * hz, CLOSED).hold(0.1 * hz, CLOSED);
    const closedTick = left.plan.endTick;

    right.truncateAt(from);
    const hold = right.plan.last;
    right.plan.hold(Math.max(1, closedTick - right.plan.endTick));
    right.plan.hold(0.25 * hz, OPEN);
    const away: Vec3 = [hold.pos[0] + RETREAT_M, hold.pos[1], hold.pos[2]];
    right.plan.moveTo(away, hold.rot, OPEN, 0.6 * hz);
  }
}

/** A move interpolated in joint space (minimum jerk), for stretches where per-tick IK is unreliable. */
interface JointMove {
  from_tick: number;
  to_tick: number;
  q0: Float64Array;
  q1: Float64Array;
}

/**
 * One arm's script: a Cartesian plan (poses and gripper per tick) tracked by IK, except during joint
 * moves, where the joints are interpolated and the plan only supplies the gripper.
 */
class ArmScript {
  readonly tracker: ArmTracker;
  readonly plan: CartesianPlan;
  private readonly moves: JointMove[] = [];

  constructor(
    arm: ArmSpec,
    private readonly q_now: Float64Array,
    gripper: number,
    tick: number,
  ) {
    this.tracker = new ArmTracker(arm);
    const start = this.tracker.kin.forward(q_now);
    this.plan = new CartesianPlan({ pos: start.pos, rot: start.rot, gripper, tick });
  }

  /** Append a joint-space move to `pose`, solved from `seed` so that the solution's IK branch is chosen. */
  jointMoveTo(pose: Pose, seed: ArrayLike<number>, gripper: number, duration_ticks: number): void {
    const last = this.plan.last;
    const q0 = this.jointsAt(last.tick) ?? this.tracker.kin.solve(last, this.lastSolution()).q;
    const q1 = this.tracker.kin.solve(pose, seed).q;
    this.plan.moveTo(pose.pos, pose.rot, gripper, duration_ticks);
    this.moves.push({ from_tick: last.tick, to_tick: this.plan.endTick, q0, q1 });
  }

  /** Drop everything after `tick`; joint moves are never cut, so `tick` must not fall inside one. */
  truncateAt(tick: number): void {
    this.plan.truncateAt(tick);
    this.tracker.forgetAfter(tick);
  }

  /** Joint targets + gripper for `tick` into out[at .. at+6], plus `noise` on the joints. */
  fill(out: Float64Array, at: number, tick: number, q_obs: Float64Array, noise: Float64Array): void {
    const s = this.plan.sample(tick);
    // right after a joint move the tracker has no solution for the tick before: start from the move's end
    const q = this.jointsAt(tick) ?? this.tracker.solve(tick, s.pose, this.jointsAt(tick - 1) ?? q_obs);
    for (let j = 0; j < 6; j++) out[at + j] = q[j] + noise[j];
    out[at + 6] = s.gripper;
  }

  private jointsAt(tick: number): Float64Array | undefined {
    const m = this.moves.find((mv) => tick > mv.from_tick && tick <= mv.to_tick);
    if (!m) return undefined;
    const tau = (tick - m.from_tick) / (m.to_tick - m.from_tick);
    const s = tau * tau * tau * (10 - 15 * tau + 6 * tau * tau);
    return m.q0.map((a, j) => a + s * (m.q1[j] - a));
  }

  /** The joints at the end of the plan so far: the last joint move's target, else the start. */
  private lastSolution(): Float64Array {
    return this.moves.length > 0 ? this.moves[this.moves.length - 1].q1 : this.q_now;
  }
}

/** Joints of arm `arm` (0 left, 1 right) from an observation. */
function armJoints(obs: ExpertObservation, arm: number): Float64Array {
  return Float64Array.from({ length: 6 }, (_, j) => obs.position_rad[6 * arm + j]);
}

function armByPrefix(robot: RobotModel, prefix: string): ArmSpec {
  const arm = robot.arms.find((a) => a.prefix === prefix);
  if (!arm) throw new Error(`robot '${robot.name}' has no arm '${prefix}'`);
  return arm;
}
