// The scripted experts of the sim as a Policy, so `--policy expert` runs through exactly the same
// buffer, safety and control loop as a learned model. They read the privileged task state, so they
// exist only where the sim supplies it.
import type { ActionChunk, Observation, Policy, PolicyDescription } from './policy.js';
import { createExpert, type ScriptedExpert } from '../../sim/experts/index.js';
import type { RobotModel } from '../../sim/robots/index.js';
import type { TaskName } from '../../sim/tasks/task.js';

export interface ExpertPolicyOptions {
  horizon?: number;
  noise?: number;
  control_hz: number;
}

export class ExpertPolicy implements Policy {
  private readonly expert: ScriptedExpert;
  private readonly horizon: number;
  private readonly armDofs: number[];
  private readonly position: Float64Array;
  private readonly gripper: Float64Array;

  constructor(private readonly robot: RobotModel, private readonly task: TaskName, private readonly opts: ExpertPolicyOptions) {
    this.expert = createExpert(robot, task, opts.control_hz, { noise: opts.noise });
    this.horizon = opts.horizon ?? 25;
    this.armDofs = robot.arms.map((a) => a.links.length);
    const joints = this.armDofs.reduce((a, b) => a + b, 0);
    this.position = new Float64Array(joints);
    this.gripper = new Float64Array(robot.arms.length);
  }

  describe(): PolicyDescription {
    return {
      name: this.opts.noise ? `expert(noise=${this.opts.noise})` : 'expert',
      kind: 'expert', horizon: this.horizon, action_dim: this.expert.action_dim, action_offset: 1,
      cameras: [], control_hz: this.opts.control_hz, max_committed: 0,
    };
  }

  /** A new episode: the expert plans afresh (and reseeds its noise). */
  reset(seed: number): void {
    this.expert.reset(seed);
  }

  async infer(obs: Observation): Promise<ActionChunk> {
    const t0 = performance.now();
    if (!obs.task) throw new Error(`the scripted expert needs the simulator's task state (robot ${this.robot.name}, task ${this.task})`);
    // state is in action layout: per arm its joints, then its gripper
    let k = 0, j = 0;
    this.armDofs.forEach((n, a) => {
      for (let i = 0; i < n; i++) this.position[j++] = obs.state[k++];
      this.gripper[a] = obs.state[k++];
    });
    // the expert's plans are indexed by absolute tick: it can start where the runtime will use it
    const first = Math.max(obs.tick + 1, obs.first_tick_hint ?? obs.tick + 1);
    const actions = Float32Array.from(this.expert.chunk({ tick: obs.tick, position_rad: this.position, gripper: this.gripper, task: obs.task }, this.horizon, first));
    return { obs_tick: obs.tick, first_tick: first, horizon: this.horizon, dim: this.expert.action_dim, actions, infer_ms: performance.now() - t0 };
  }

  async close(): Promise<void> {}
}
