// The scripted operator of a fine-tuning session in the sim: HIL-SERL's human who takes the arm over when it strays,
// played by the task's scripted expert, which reads the sim's true object poses (the residual never sees them).
// The expert's plan is a path in time, and the base policy keeps its own pace along it; a human corrects where the
// arm goes, not how fast. So at each residual decision the operator finds the point of the plan nearest to the
// command about to be given (base action + scale x u), searching forward from the last point found, and compares
// the two there; when an arm joint is off by more than `takeover_rad`, it takes over for `takeover_decisions`
// decisions. While it holds the arm, u is the correction toward that point clipped to the residual's bound,
// clip((expert - base) / scale, -1, 1) in the residual's frame (joints, or the tool's motion: correction-frame.ts):
// what a bounded residual could have done, so the learner can use it as its own action (and imitate it). A
// correction that depended on a clock the residual cannot see could not be learnt.
// With `expert: 'feedback'` the corrections point instead at the expert's next command from the state alone.
// Evaluations never have an operator.
import {
  createExpert,
  createFeedbackExpert,
  type FeedbackExpert,
  type ScriptedExpert,
} from '../../../sim/experts/index.js';
import type { RobotModel } from '../../../sim/robots/index.js';
import type { TaskName, TaskState } from '../../../sim/tasks/task.js';
import type { CorrectionFrame } from '../../policy/residual/correction-frame.js';
import type { MeasuredState } from '../../policy/residual/residual-corrector.js';
import { Rng } from '../../util/rng.js';

export interface OperatorSettings {
  /** Take over when an arm joint of the command is further than this from the expert's (rad). */
  takeover_rad: number;
  /** Residual decisions each takeover lasts. */
  takeover_decisions: number;
  /**
   * Label every decision with the correction the operator would make, not only its takeovers (DAgger's relabelling:
   * the actor imitates the expert on the states it visits itself). Only a scripted operator can: a person labels
   * by taking over.
   */
  label_all?: boolean;
  /**
   * Where the corrections point. 'plan' (the default): the nearest point of the plan the expert made at the
   * episode's start. 'feedback': the expert's next command computed afresh from the arm's and the scene's state
   * (sim/experts/ur-push-feedback.ts): no plan, no phase, so the same state always gets the same correction.
   */
  expert?: 'plan' | 'feedback';
  /**
   * Gaussian noise added to the correction the operator applies (not to its label), in units of the bound, drawn
   * afresh at each decision: how precisely must a residual reproduce the corrections (vla-finetune operator)?
   */
  correction_noise?: number;
}

/** How far ahead of the last matched point of the plan the next match is looked for (ticks). */
const SEARCH_AHEAD_TICKS = 40;
/** Plan points this close to the nearest (rad, L2 over the arm joints) count as equally near: a hold. */
const TIE_RAD = 1e-3;

export class ScriptedOperator {
  private readonly expert: ScriptedExpert;
  private readonly feedback: FeedbackExpert | undefined;
  private noise = new Rng(0);
  /** Decisions left in the current takeover (0: the residual has the arm). */
  private left = 0;
  /** This episode the operator holds the arm at every decision (an imitation warm start's episode). */
  private holds = false;
  /** The plan tick matched at the last decision, and that decision's tick (-1: none yet this episode). */
  private phase = -1;
  private lastK = -1;
  /** The correction toward the plan at the last decision, in u's units (clipped to the bound). */
  readonly label: Float64Array;
  /** The plan's point itself at the last decision (action layout): where leader arms would be held to take over. */
  readonly plan_point: Float64Array;
  /** The command the residual proposes at the decision (base action + the change its u asks for). */
  private readonly command: Float64Array;

  /**
   * `frame`: what the residual's u means (its bound per dimension); `is_joint`: which action dimensions are arm
   * joints (grippers do not trigger a takeover, but are corrected during one); `taskState`: the sim's true state.
   */
  constructor(
    model: RobotModel,
    task: TaskName,
    control_hz: number,
    private readonly frame: CorrectionFrame,
    private readonly is_joint: readonly boolean[],
    private readonly settings: OperatorSettings,
    private readonly taskState: () => TaskState,
  ) {
    this.expert = createExpert(model, task, control_hz, { noise: 0 });
    this.feedback = settings.expert === 'feedback' ? createFeedbackExpert(model, task) : undefined;
    this.label = new Float64Array(is_joint.length);
    this.plan_point = new Float64Array(is_joint.length);
    this.command = new Float64Array(is_joint.length);
  }

  get labelsAll(): boolean {
    return this.settings.label_all === true;
  }

  /**
   * A new episode from `seed`: the expert plans afresh and the residual has the arm, or with `hold` the operator
   * has it throughout (the warm start's demonstrations: every decision is its correction).
   */
  reset(seed: number, hold = false): void {
    this.holds = hold;
    this.expert.reset(seed);
    this.noise = new Rng(seed).fork(7);
    this.left = 0;
    this.phase = -1;
    this.lastK = -1;
  }

  /** At the decision for tick k: replaces u in place and returns true when the operator holds the arm. */
  decide(k: number, state: MeasuredState, base: Float64Array, u: Float64Array): boolean {
    const command = this.command;
    this.frame.delta(base, u, command);
    for (let i = 0; i < command.length; i++) command[i] += base[i];
    const want = this.feedback
      ? this.feedback.action({
          tick: k - 1,
          position_rad: state.position_rad,
          gripper: state.gripper,
          task: this.taskState(),
        })
      : this.nearestOnPlan(k, state, command);
    this.plan_point.set(want);
    this.frame.unitToward(base, want, this.label);
    if (this.holds) this.left = 1;
    if (this.left === 0) {
      let worst = 0;
      for (let i = 0; i < u.length; i++) if (this.is_joint[i]) worst = Math.max(worst, Math.abs(command[i] - want[i]));
      if (worst <= this.settings.takeover_rad) return false;
      this.left = this.settings.takeover_decisions;
    }
    this.left--;
    u.set(this.label);
    const sd = this.settings.correction_noise ?? 0;
    if (sd > 0) for (let i = 0; i < u.length; i++) u[i] = Math.max(-1, Math.min(1, u[i] + sd * this.noise.normal()));
    return true;
  }

  /**
   * The expert's action at the plan point nearest the command (arm joints), from the last match forward; among
   * equally near points (a hold: the arm waits while the gripper closes) the one the time since the last decision
   * leads to, so the plan's gripper moves on while the arm holds still.
   */
  private nearestOnPlan(k: number, state: MeasuredState, command: Float64Array): Float64Array {
    const from = this.phase < 0 ? k : this.phase;
    const expected = this.phase < 0 ? k : this.phase + (k - this.lastK);
    const obs = { tick: from - 1, position_rad: state.position_rad, gripper: state.gripper, task: this.taskState() };
    const path = this.expert.chunk(obs, SEARCH_AHEAD_TICKS + 1, from);
    const dim = command.length;
    const dist = new Float64Array(SEARCH_AHEAD_TICKS + 1);
    let nearest = Infinity;
    for (let t = 0; t <= SEARCH_AHEAD_TICKS; t++) {
      let d2 = 0;
      for (let i = 0; i < dim; i++) {
        if (!this.is_joint[i]) continue;
        const e = command[i] - path[t * dim + i];
        d2 += e * e;
      }
      dist[t] = Math.sqrt(d2);
      nearest = Math.min(nearest, dist[t]);
    }
    let best = 0;
    for (let t = 0; t <= SEARCH_AHEAD_TICKS; t++) {
      if (dist[t] > nearest + TIE_RAD) continue;
      if (dist[best] > nearest + TIE_RAD || Math.abs(from + t - expected) < Math.abs(from + best - expected)) best = t;
    }
    this.phase = from + best;
    this.lastK = k;
    return path.subarray(best * dim, (best + 1) * dim);
  }
}
