// The push expert as state feedback: the next command from where the arm, the cube and the target are now, with no
// plan and no clock. The planning expert (ur-push.ts) commits at the episode's start to a path in time; a policy
// that strays from it cannot tell from its inputs which point of that path a correction aims at. Here the same
// geometry (come down behind the cube, slide it along the line onto the target) is a function of the state alone,
// so the corrections it gives are ones a network that sees the state could learn.
import { ArmKinematics } from '../kinematics.js';
import type { Vec3 } from '../math3d.js';
import type { ArmSpec } from '../robots/arm-spec.js';
import { PUSH_CUBE_HALF_M } from '../tasks/push.js';
import { nearestYaw, topDownRot, yawOf } from './arm-tracker.js';
import type { ExpertObservation, FeedbackExpert } from './expert.js';
import { HOVER_Z_M, PUSH_GRIPPER, PUSH_SPEED_M_S, PUSH_Z_M, RUN_UP_M, SPEED_M_S, unitXY } from './ur-push.js';

/**
 * How far ahead of the measured pose each command is put, as time at the phase's speed (s). The operator's pace is
 * its own: it does not follow the base action's (the base is trained on the planning expert's pace and, within the
 * residual's bound, sets most of it anyway).
 */
const LEAD_S = 0.06;
/** The wrist's turn per command toward the pusher's yaw (rad). */
const MAX_TURN_RAD = 0.45;
/** Descent and lift speed (m/s). */
const VERTICAL_SPEED_M_S = 0.15;
/** The pusher counts as behind the cube, on its line, at push height within these (m). */
const ENGAGED_LATERAL_M = 0.015;
const ENGAGED_Z_M = 0.012;
/** Height over the run-up point per metre away from it, on the way there: the pusher comes down as it closes in. */
const FUNNEL_SLOPE = 1;
/** Below this height and within this distance of the cube, not behind it, the pusher lifts first (m). */
const CLEAR_Z_M = HOVER_Z_M - 0.03;
const NEAR_CUBE_M = 0.1;
/** The cube this close to the target: hold still (m). */
const DONE_M = 0.01;

export class UrPushFeedback implements FeedbackExpert {
  readonly action_dim = 7;
  private readonly kin: ArmKinematics;
  private readonly stand_m: number;
  private readonly out = new Float64Array(7);

  constructor(arm: ArmSpec) {
    this.kin = new ArmKinematics(arm);
    this.stand_m = PUSH_CUBE_HALF_M + arm.gripper.pad_half_m[1];
  }

  action(obs: ExpertObservation): Float64Array {
    const here = this.kin.forward(obs.position_rad);
    const cube = obs.task.objects.cube.pos;
    const target = obs.task.target!.pos;
    const u = unitXY(cube, target);
    const yaw = nearestYaw(Math.atan2(-u[1], -u[0]), Math.PI, yawOf(here.rot));
    const { goal, speed_m_s } = this.goal(here.pos, cube, target, u);
    const pos = stepToward(here.pos, goal, speed_m_s * LEAD_S);
    const cmdYaw = yawOf(here.rot) + Math.max(-MAX_TURN_RAD, Math.min(MAX_TURN_RAD, yaw - yawOf(here.rot)));
    const q = this.kin.solve({ pos, rot: topDownRot(cmdYaw) }, obs.position_rad).q;
    for (let j = 0; j < 6; j++) this.out[j] = q[j];
    this.out[6] = PUSH_GRIPPER;
    return this.out;
  }

  /** Where the pusher should head from `p`, and how fast: the push's phase read from the state. */
  private goal(p: Vec3, cube: Vec3, target: Vec3, u: [number, number]): { goal: Vec3; speed_m_s: number } {
    const n: [number, number] = [-u[1], u[0]];
    const rx = p[0] - cube[0],
      ry = p[1] - cube[1];
    const along = rx * u[0] + ry * u[1];
    const lateral = rx * n[0] + ry * n[1];
    const back = this.stand_m + RUN_UP_M;
    const low = p[2] < PUSH_Z_M + ENGAGED_Z_M;
    if (Math.hypot(target[0] - cube[0], target[1] - cube[1]) < DONE_M) return { goal: p, speed_m_s: 0 };
    if (low && Math.abs(lateral) < ENGAGED_LATERAL_M && along < -this.stand_m + ENGAGED_Z_M && along > -back - 0.04) {
      const end: Vec3 = [target[0] - u[0] * this.stand_m, target[1] - u[1] * this.stand_m, PUSH_Z_M];
      return { goal: end, speed_m_s: PUSH_SPEED_M_S };
    }
    // in front of or beside the cube and low: straight up first, so the way across cannot sweep it
    if (p[2] < CLEAR_Z_M && Math.hypot(rx, ry) < NEAR_CUBE_M && along > -this.stand_m - 0.005)
      return { goal: [p[0], p[1], HOVER_Z_M], speed_m_s: VERTICAL_SPEED_M_S };
    // otherwise toward the run-up point down a funnel: lower the closer it gets, so the pusher lands behind the cube
    const h = Math.hypot(p[0] - cube[0] + u[0] * back, p[1] - cube[1] + u[1] * back);
    const z = PUSH_Z_M + Math.min(HOVER_Z_M - PUSH_Z_M, FUNNEL_SLOPE * h);
    return {
      goal: [cube[0] - u[0] * back, cube[1] - u[1] * back, z],
      speed_m_s: h > 0.03 ? SPEED_M_S : VERTICAL_SPEED_M_S,
    };
  }
}

/** The point `max_m` from `from` toward `to`, or `to` itself when nearer. */
function stepToward(from: Vec3, to: Vec3, max_m: number): Vec3 {
  const d = [to[0] - from[0], to[1] - from[1], to[2] - from[2]];
  const l = Math.hypot(d[0], d[1], d[2]);
  if (l < 1e-9) return [from[0], from[1], from[2]];
  const step = Math.min(l, max_m);
  return [from[0] + (d[0] * step) / l, from[1] + (d[1] * step) / l, from[2] + (d[2] * step) / l];
}
