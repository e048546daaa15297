// The scripted operator of a fine-tuning session in the sim: HIL-SERL's human who takes the arm over when it strays,
// played by the task's scripted expert, which reads the sim's true object poses (the residual never sees them). At
// each residual decision it compares the command about to be given (base action + scale x u) with the expert's
// action for that tick; when an arm joint is off by more than `takeover_rad`, it takes over for
// `takeover_decisions` decisions. While it holds the arm, u is the expert's correction clipped to the residual's
// bound, clip((expert - base) / scale, -1, 1): what a bounded residual could have done, so the learner can use it
// as its own action. Evaluations never have an operator.
import { createExpert, type ScriptedExpert } from '../../../sim/experts/index.js';
import type { RobotModel } from '../../../sim/robots/index.js';
import type { TaskName, TaskState } from '../../../sim/tasks/task.js';
import type { MeasuredState } from '../../policy/residual/residual-corrector.js';

export interface OperatorSettings {
  /** Take over when an arm joint of the command is further than this from the expert's (rad). */
  takeover_rad: number;
  /** Residual decisions each takeover lasts. */
  takeover_decisions: number;
}

export class ScriptedOperator {
  private readonly expert: ScriptedExpert;
  /** Decisions left in the current takeover (0: the residual has the arm). */
  private left = 0;

  /**
   * `scale`: the residual's bound per action dimension; `is_joint`: which action dimensions are arm joints
   * (grippers do not trigger a takeover, but are corrected during one); `taskState`: the sim's true task state.
   */
  constructor(
    model: RobotModel,
    task: TaskName,
    control_hz: number,
    private readonly scale: Float64Array,
    private readonly is_joint: readonly boolean[],
    private readonly settings: OperatorSettings,
    private readonly taskState: () => TaskState,
  ) {
    this.expert = createExpert(model, task, control_hz, { noise: 0 });
  }

  /** A new episode from `seed`: the expert plans afresh and the residual has the arm. */
  reset(seed: number): void {
    this.expert.reset(seed);
    this.left = 0;
  }

  /** At the decision for tick k: replaces u in place and returns true when the operator holds the arm. */
  decide(k: number, state: MeasuredState, base: Float64Array, u: Float64Array): boolean {
    const want = this.expert.chunk(
      { tick: k - 1, position_rad: state.position_rad, gripper: state.gripper, task: this.taskState() },
      1,
      k,
    );
    if (this.left === 0) {
      let worst = 0;
      for (let i = 0; i < u.length; i++)
        if (this.is_joint[i]) worst = Math.max(worst, Math.abs(base[i] + this.scale[i] * u[i] - want[i]));
      if (worst <= this.settings.takeover_rad) return false;
      this.left = this.settings.takeover_decisions;
    }
    this.left--;
    for (let i = 0; i < u.length; i++)
      u[i] = this.scale[i] > 0 ? Math.max(-1, Math.min(1, (want[i] - base[i]) / this.scale[i])) : 0;
    return true;
  }
}
