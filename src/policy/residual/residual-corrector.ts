// The residual in the control tick: command = base action + the change u asks for, with u in [-1, 1]^A from the
// residual network: scale * u per joint, or in the tool's frame mapped to the joints (correction-frame.ts). It is
// re-evaluated every `every_ticks` ticks and held in between, then the runtime's one safety filter. The
// same corrector runs a frozen residual (deployment: u = tanh(mean)) and the fine-tuner's exploring actor (u drawn
// around it, each evaluation reported so the actor can record its transition). Nothing here allocates per tick.
import { DhChain, isGripperAction, type RobotDescription } from '../../robot/index.js';
import { type CorrectionFrame, correctionFrame, toolFrameProblem } from './correction-frame.js';
import type { DenseStack } from './dense-stack.js';
import { inputSize, type ResidualManifest, TOOL_POSE_SIZE } from './residual-manifest.js';

/** The measured state the residual reads (the driver's JointState; policies do not import drivers). */
export interface MeasuredState {
  position_rad: Float64Array;
  gripper: Float64Array;
  /** The rig's teleoperation device (ALOHA's leader arms), when it has one: its pose in the action layout. */
  teleop?: { t_mono_ms: number; action: Float64Array };
}

/** What the control tick calls; implemented here, used by src/runtime/control/ticker.ts. */
export interface ResidualCorrection {
  /**
   * Adds the correction for tick k to `action` (the base action for tick k, action layout) in place; `features`:
   * those of the chunk the action came from, when the base model gives them.
   */
  correct(k: number, state: MeasuredState, action: Float64Array, chunk_index: number, features?: Float64Array): void;
  /** A new episode: the next tick evaluates afresh, and the scene of the episode's start is forgotten. */
  reset(): void;
  /** Motion resuming after a hold within the episode: the next tick evaluates afresh; the start scene stays. */
  resume(): void;
  /** What it did so far, for the run's summary. */
  figures(): ResidualFigures;
}

/** A residual's activity over a run: how often it was evaluated and how hard it pushed, per action dimension. */
export interface ResidualFigures {
  name: string;
  /** What the correction moves: each joint, or the tool (correction-frame.ts). */
  frame: 'joint' | 'tool';
  evaluations: number;
  /** Mean |correction| / its bound. */
  mean_abs_fraction: number[];
  /** Share of evaluations whose correction was above 95% of its bound. */
  at_bound_fraction: number[];
}

/** The unit action u in [-1, 1]^A for one input vector: tanh(mean), or a draw around it while exploring. */
export type UnitPolicy = (inputs: Float32Array, u: Float64Array) => void;

/** Running figures of what the residual did (for the summary and the fine-tuner's dashboard). */
export interface ResidualStats {
  evaluations: number;
  /** Per action dimension: sum of |u| (mean |correction| / scale = sum / evaluations). */
  abs_unit_sum: Float64Array;
  /** Per action dimension: evaluations with |u| > 0.95 (at its bound). */
  at_bound: Float64Array;
}

/** The episode_time input's unit (s): tens of seconds keep it near the other inputs' scale over a task. */
const EPISODE_TIME_UNIT_S = 10;

export class ResidualCorrector implements ResidualCorrection {
  readonly inputs: Float32Array;
  readonly stats: ResidualStats;
  /**
   * Called after each evaluation with its inputs and the u executed, and whether an operator took over (the
   * fine-tuner records transitions here).
   */
  onEvaluate: ((k: number, inputs: Float32Array, u: Float64Array, takeover: boolean) => void) | undefined;
  /**
   * An operator who may take the arm over (fine-tuning sessions): given the measured state and the base action,
   * it may replace the residual's u in place, returning true when it did.
   */
  takeover: ((k: number, state: MeasuredState, base: Float64Array, u: Float64Array) => boolean) | undefined;
  /**
   * A person steering the arm directly, every tick, after the correction (the leader arms in a fine-tuning session):
   * may change the whole command in place, returning true when it replaced it (the safety filter still follows).
   */
  steer: ((state: MeasuredState, command: Float64Array) => boolean) | undefined;
  /** What u means: the change to the base action it asks for. */
  readonly frame: CorrectionFrame;
  private readonly u: Float64Array;
  /** The change u asked for at the last evaluation (action layout), held with it. */
  private readonly delta: Float64Array;
  /** The action dimensions that are grippers (0 closed .. 1 open). */
  private readonly grippers: Int32Array;
  private readonly horizon: number;
  private lastEval = -Infinity;
  /** The features of the episode's first chunk (the start_features block), once seen. */
  private readonly start: Float32Array;
  private startSeen = false;
  /** The arm's kinematics, when the residual reads the tool_pose block. */
  private readonly kinematics: ToolKinematics | undefined;

  constructor(
    desc: RobotDescription,
    readonly manifest: ResidualManifest,
    private readonly policy: UnitPolicy,
  ) {
    const A = desc.action_names.length;
    this.inputs = new Float32Array(inputSize(manifest));
    this.u = new Float64Array(A);
    this.delta = new Float64Array(A);
    this.grippers = Int32Array.from({ length: A }, (_, i) => i).filter((i) => isGripperAction(desc, i));
    this.horizon = manifest.base.horizon;
    this.stats = { evaluations: 0, abs_unit_sum: new Float64Array(A), at_bound: new Float64Array(A) };
    // the features' size is checked against the base model where both are known (residual-check.ts)
    const features = manifest.inputs.find((b) => b.block === 'base_features' || b.block === 'start_features');
    checkBlocks(desc, manifest, features?.size ?? 0);
    this.frame = correctionFrame(desc, manifest);
    const posed = manifest.inputs.some((b) => b.block === 'tool_pose' || b.block === 'measured_tool_pose');
    this.kinematics = posed ? toolKinematics(desc) : undefined;
    this.start = new Float32Array(features?.size ?? 0);
  }

  correct(k: number, state: MeasuredState, action: Float64Array, chunk_index: number, features?: Float64Array): void {
    const every = this.manifest.every_ticks;
    if (k - this.lastEval >= every) {
      this.fill(k, state, action, chunk_index, features);
      this.policy(this.inputs, this.u);
      const took = this.takeover?.(k, state, action, this.u) ?? false;
      this.frame.delta(action, this.u, this.delta);
      this.count();
      this.lastEval = k;
      this.onEvaluate?.(k, this.inputs, this.u, took);
    }
    for (let i = 0; i < action.length; i++) action[i] += this.delta[i];
    // a gripper's correction stays in its 0..1 range: one that pushes a fully open or closed gripper further is no
    // event for the safety filter to count (the command it sends is the same)
    for (let g = 0; g < this.grippers.length; g++) {
      const i = this.grippers[g];
      action[i] = Math.min(1, Math.max(0, action[i]));
    }
    this.steer?.(state, action);
  }

  reset(): void {
    this.resume();
    this.startSeen = false;
  }

  resume(): void {
    this.lastEval = -Infinity;
    this.u.fill(0);
    this.delta.fill(0);
  }

  /** The next tick evaluates afresh (an operator took over or let go between two decisions); u is kept till then. */
  evaluateNext(): void {
    this.lastEval = -Infinity;
  }

  figures(): ResidualFigures {
    const { evaluations: n, abs_unit_sum, at_bound } = this.stats;
    const share = (xs: Float64Array) => Array.from(xs, (x) => (n > 0 ? Math.round((x / n) * 1e4) / 1e4 : 0));
    return {
      name: this.manifest.name,
      frame: this.manifest.frame ?? 'joint',
      evaluations: n,
      mean_abs_fraction: share(abs_unit_sum),
      at_bound_fraction: share(at_bound),
    };
  }

  private fill(k: number, state: MeasuredState, action: Float64Array, chunk_index: number, features?: Float64Array) {
    let at = 0;
    for (const b of this.manifest.inputs) {
      switch (b.block) {
        case 'position_rad':
          this.inputs.set(state.position_rad, at);
          break;
        case 'gripper':
          this.inputs.set(state.gripper, at);
          break;
        case 'base_action':
          this.inputs.set(action, at);
          break;
        case 'chunk_index':
          this.inputs[at] = this.horizon > 1 ? Math.min(1, Math.max(0, chunk_index / (this.horizon - 1))) : 0;
          break;
        case 'episode_time':
          this.inputs[at] = k / this.manifest.control_hz / EPISODE_TIME_UNIT_S;
          break;
        case 'tool_pose':
          this.fillToolPose(action, at, this.kinematics?.slot);
          break;
        case 'measured_tool_pose':
          this.fillToolPose(state.position_rad, at);
          break;
        case 'base_features':
          // a chunk whose features are no longer kept (rare: 8 chunks back) reads as zeros, never as garbage
          if (features) this.inputs.set(features, at);
          else this.inputs.fill(0, at, at + b.size);
          break;
        case 'start_features':
          // zeros until the episode's first chunk with features arrives; then that scene all episode
          if (!this.startSeen && features) {
            this.start.set(features);
            this.startSeen = true;
          }
          this.inputs.set(this.start, at);
          break;
      }
      at += b.size;
    }
  }

  /**
   * The flange pose of joint angles (the arm's in joint order, or at `slot` of an action): position, then the x and
   * z columns of its rotation (see the manifest).
   */
  private fillToolPose(q: Float64Array, at: number, slot?: Int32Array): void {
    const { chain, pos, rot } = this.kinematics as ToolKinematics;
    chain.pose(q, pos, rot, slot);
    const x = this.inputs;
    x[at] = pos[0];
    x[at + 1] = pos[1];
    x[at + 2] = pos[2];
    for (let r = 0; r < 3; r++) {
      x[at + 3 + r] = rot[r * 3];
      x[at + 6 + r] = rot[r * 3 + 2];
    }
  }

  private count(): void {
    const s = this.stats;
    s.evaluations++;
    for (let i = 0; i < this.u.length; i++) {
      const a = Math.abs(this.u[i]);
      s.abs_unit_sum[i] += a;
      if (a > 0.95) s.at_bound[i]++;
    }
  }
}

/** The flange's pose from an action: the chain, where each joint sits in the action layout, scratch buffers. */
interface ToolKinematics {
  chain: DhChain;
  slot: Int32Array;
  pos: Float64Array;
  rot: Float64Array;
}

function toolKinematics(desc: RobotDescription): ToolKinematics {
  if (!desc.dh) throw new Error(`residual input 'tool_pose': ${desc.robot}'s profile has no kinematics`);
  const slot = Int32Array.from(desc.joint_names, (_, j) => desc.action_source.indexOf(j));
  return { chain: new DhChain(desc.dh), slot, pos: new Float64Array(3), rot: new Float64Array(9) };
}

/** The frozen residual of a deployment: u = tanh(network(inputs)). */
export function deterministicUnit(net: DenseStack): UnitPolicy {
  const mean = new Float64Array(net.n_out);
  return (inputs, u) => {
    net.forward(inputs, mean);
    for (let i = 0; i < u.length; i++) u[i] = Math.tanh(mean[i]);
  };
}

/**
 * Each input block must have the size this robot (and the base model's features output, `features` values) gives
 * it; throws naming the first that does not.
 */
export function checkBlocks(
  desc: RobotDescription,
  m: Pick<ResidualManifest, 'inputs' | 'action_names' | 'frame'>,
  features = 0,
): void {
  const problem = m.frame === 'tool' ? toolFrameProblem(desc) : null;
  if (problem) throw new Error(`residual frame 'tool': ${problem}`);
  const want: Record<string, number> = {
    position_rad: desc.joint_names.length,
    gripper: desc.gripper_names.length,
    base_action: desc.action_names.length,
    chunk_index: 1,
    episode_time: 1,
    tool_pose: TOOL_POSE_SIZE,
    measured_tool_pose: TOOL_POSE_SIZE,
    base_features: features,
    start_features: features,
  };
  for (const b of m.inputs)
    if (b.size !== want[b.block])
      throw new Error(`residual input '${b.block}': ${desc.robot} gives ${want[b.block]} values, found ${b.size}`);
  if (m.action_names.join() !== desc.action_names.join())
    throw new Error(
      `residual actions: expected ${desc.action_names.join(', ')} (${desc.robot}), found ${m.action_names.join(', ')}`,
    );
}
