// The scripted experts of the sim as a Policy, so `--policy expert` runs through exactly the same
// buffer, safety and control loop as a learned model. They read the simulator's privileged task state,
// so they exist only where the sim supplies it.
import type { ActionChunk, Observation, Policy, PolicyDescription } from '../../src/policy/policy.js';
import type { RobotDescription } from '../../src/robot/index.js';
import type { RobotModel } from '../robots/index.js';
import type { TaskName, TaskState } from '../tasks/task.js';
import { createExpert, type ScriptedExpert } from './index.js';

export interface ExpertPolicyOptions {
  horizon?: number;
  noise?: number;
}

export class ExpertPolicy implements Policy {
  private readonly expert: ScriptedExpert;
  private readonly horizon: number;
  private readonly position: Float64Array;
  private readonly gripper: Float64Array;

  constructor(
    model: RobotModel,
    private readonly robot: RobotDescription,
    private readonly task: TaskName,
    private readonly opts: ExpertPolicyOptions = {},
  ) {
    this.expert = createExpert(model, task, robot.control_hz, { noise: opts.noise });
    this.horizon = opts.horizon ?? 25;
    this.position = new Float64Array(robot.joint_names.length);
    this.gripper = new Float64Array(robot.gripper_names.length);
  }

  describe(): PolicyDescription {
    return {
      name: this.opts.noise ? `expert(noise=${this.opts.noise})` : 'expert',
      kind: 'expert',
      horizon: this.horizon,
      action_dim: this.expert.action_dim,
      action_offset: 1,
      cameras: [],
      control_hz: this.robot.control_hz,
      max_committed: 0,
    };
  }

  /** A new episode: the expert plans afresh (and reseeds its noise). */
  reset(seed: number): void {
    this.expert.reset(seed);
  }

  async infer(obs: Observation): Promise<ActionChunk> {
    const t0 = performance.now();
    const task = (obs.privileged as { task?: TaskState } | undefined)?.task;
    if (!task)
      throw new Error(
        `the scripted expert needs the simulator's task state (robot ${this.robot.robot}, task ${this.task})`,
      );
    // state is in the action layout; the expert wants joints and grippers apart
    const src = this.robot.action_source;
    for (let i = 0; i < src.length; i++) {
      if (src[i] >= 0) this.position[src[i]] = obs.state[i];
      else this.gripper[-1 - src[i]] = obs.state[i];
    }
    // the expert's plans are indexed by absolute tick: it can start where the runtime will use it
    const first = Math.max(obs.tick + 1, obs.first_tick_hint ?? obs.tick + 1);
    const actions = Float32Array.from(
      this.expert.chunk(
        { tick: obs.tick, position_rad: this.position, gripper: this.gripper, task },
        this.horizon,
        first,
      ),
    );
    return {
      obs_tick: obs.tick,
      first_tick: first,
      horizon: this.horizon,
      dim: this.expert.action_dim,
      actions,
      infer_ms: performance.now() - t0,
    };
  }

  async close(): Promise<void> {}
}
