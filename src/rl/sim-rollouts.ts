// Episodes for the fine-tuner in the embedded sim, on the very loop vla-run runs: the frozen base policy fills the
// action buffer (UAC drop, latency on the virtual clock, trigger), and the residual corrects each buffered action
// in the control tick before the safety filter. Each residual evaluation is recorded (its inputs and u); the
// episode's end gives the sparse reward. One engine serves many episodes; the actor's weights change between them.
import { type RobotName, robotModel } from '../../sim/robots/index.js';
import type { TaskOutcome } from '../../sim/sim-driver.js';
import { SimDriver } from '../../sim/sim-driver.js';
import { createTask, type TaskName, taskTickLimit } from '../../sim/tasks/index.js';
import { loadOnnxPolicy } from '../policy/load-policy.js';
import type { Policy } from '../policy/policy.js';
import { type ResidualCorrection, ResidualCorrector } from '../policy/residual/residual-corrector.js';
import { inputSize, type ResidualManifest } from '../policy/residual/residual-manifest.js';
import type { RobotDescription } from '../robot/index.js';
import { type EpisodeEngine, startVirtual } from '../runtime/runtime.js';
import { type LatencyModelSpec, parseLatencyModel } from '../runtime/timing/latency-model.js';
import type { Rng } from '../util/rng.js';
import { directWorld } from '../world/sim-world.js';
import type { ActorUnit } from './actor-net.js';
import { type OperatorSettings, ScriptedOperator } from './operator/scripted-operator.js';
import { headOf, withTrueHeadFeatures } from './privileged-head.js';

export interface RolloutSetup {
  description: RobotDescription;
  task: TaskName;
  base_path: string;
  manifest: ResidualManifest;
  actor: ActorUnit;
  /** The virtual clock's latency model (fixed for a run, so rollouts repeat exactly). */
  latency_model: LatencyModelSpec;
  /** Seeds the latency draws of this worker's engine. */
  seed: number;
  physics_hz?: number;
  /** A scripted operator takes over exploring episodes when the arm strays (none: the residual alone). */
  operator?: OperatorSettings;
  /** The base model's feature-head outputs are replaced by their true values (privileged-head.ts). */
  privileged_head?: boolean;
}

/** One episode's residual decisions: inputs [n x obs_dim] and u [n x action_dim], row-major. */
export interface RolloutEpisode {
  seed: number;
  success: boolean;
  /** Ended by the task's time limit (not a terminal state: no reward, and the last step has no successor). */
  truncated: boolean;
  ticks: number;
  fault?: string;
  /** A robot's: the fault was its link (it may come back; robot/robot-runner.ts). Cut short, not a failure. */
  link_lost?: boolean;
  steps: number;
  inputs: Float32Array;
  u: Float32Array;
  /** Mean |u| per action dimension over the episode. */
  mean_abs_u: number[];
  /** The decisions (step indices) in which the operator held the arm: u is its correction. */
  interventions: number[];
  /** With an operator that labels every decision: its correction at each [n x action_dim], row-major. */
  labels?: Float32Array;
  /** In the sim: the task's figures at the end (where the cube ended: vla-finetune logs the failures'). */
  task_outcome?: TaskOutcome;
}

/**
 * The base model's inference latency on this machine, timed as vla-run --clock fast times it by default (a few
 * calls on an episode's first observation): the samples a run's virtual clock then draws from.
 */
export async function measureBaseLatency(s: Omit<RolloutSetup, 'latency_model'>): Promise<number[]> {
  const rollouts = await SimRollouts.create({ ...s, latency_model: { kind: 'measured' } });
  let spec: string | null = null;
  try {
    await rollouts.episode(0, undefined);
  } finally {
    spec = await rollouts.close();
  }
  const model = spec ? parseLatencyModel(spec) : undefined;
  if (model?.kind === 'samples') return model.ms;
  if (model?.kind === 'fixed') return [model.ms];
  throw new Error('the base model was never timed: its first inference failed');
}

/** The base model on the runtime's loop in the embedded sim, on the virtual clock. */
export interface BaseSimSetup {
  description: RobotDescription;
  task: TaskName;
  base_path: string;
  /** Seeds the latency draws. */
  seed: number;
  latency_model: LatencyModelSpec;
  physics_hz?: number;
  residual_correction?: ResidualCorrection;
  /** Wraps the loaded base policy (the feature probe reads what each inference saw). */
  wrap?: (policy: Policy, driver: SimDriver) => Policy;
}

/** What fine-tuning episodes and the feature probe run on: one engine, many episodes. */
export async function baseSimEngine(
  s: BaseSimSetup,
): Promise<{ engine: EpisodeEngine; policy: Policy; driver: SimDriver }> {
  const desc = s.description;
  const robot = desc.robot as RobotName;
  const cameras = robotModel(robot).cameras.map((c) => c.name);
  const loaded = await loadOnnxPolicy(s.base_path, {
    robot: desc,
    control_hz: desc.control_hz,
    cameras,
    square_cameras_only: true,
  });
  const driver = await SimDriver.create({
    robot,
    task: s.task,
    description: desc,
    physics_hz: s.physics_hz ?? 500,
    control_hz: desc.control_hz,
    time: 'virtual',
  });
  const policy = s.wrap ? s.wrap(loaded.policy, driver) : loaded.policy;
  const engine = startVirtual(driver, policy, directWorld(driver), {
    blend: 'replace',
    margin_ticks: 2,
    injected: { base_ms: 0, jitter_ms: 0 },
    seed: s.seed,
    latency_model: s.latency_model,
    ...(s.residual_correction ? { residual_correction: s.residual_correction } : {}),
  });
  return { engine, policy, driver };
}

export class SimRollouts {
  private readonly obs_dim: number;
  private readonly A: number;
  private inputs: number[] = [];
  private us: number[] = [];
  private interventions: number[] = [];
  private labels: number[] = [];
  private labelling = false;

  private constructor(
    private readonly engine: EpisodeEngine,
    private readonly policy: Policy,
    private readonly corrector: ResidualCorrector,
    private readonly actor: ActorUnit,
    private readonly max_ticks: number,
    private readonly operator: ScriptedOperator | undefined,
  ) {
    this.obs_dim = inputSize(corrector.manifest);
    this.A = corrector.manifest.action_names.length;
    corrector.onEvaluate = (_k, x, u, takeover) => {
      if (takeover) this.interventions.push(this.us.length / this.A);
      if (this.labelling && this.operator) for (const v of this.operator.label) this.labels.push(v);
      for (let i = 0; i < x.length; i++) this.inputs.push(x[i]);
      for (let i = 0; i < u.length; i++) this.us.push(u[i]);
    };
  }

  static async create(s: RolloutSetup): Promise<SimRollouts> {
    const desc = s.description;
    const robot = desc.robot as RobotName;
    const corrector = new ResidualCorrector(desc, s.manifest, s.actor.unit);
    const head = s.privileged_head ? headOf(s.base_path) : undefined;
    const { engine, policy, driver } = await baseSimEngine({
      ...s,
      residual_correction: corrector,
      ...(head ? { wrap: (base: Policy, d: SimDriver) => withTrueHeadFeatures(base, d, head) } : {}),
    });
    const max_ticks = taskTickLimit(createTask(s.task), desc.control_hz);
    const operator = s.operator
      ? new ScriptedOperator(
          robotModel(robot),
          s.task,
          desc.control_hz,
          corrector.frame,
          Array.from(desc.action_source, (src) => src >= 0),
          s.operator,
          () => driver.taskState(),
        )
      : undefined;
    return new SimRollouts(engine, policy, corrector, s.actor, max_ticks, operator);
  }

  /**
   * One episode from `seed`; `explore` draws the actor's noise from it, undefined evaluates deterministically.
   * The operator (if any) watches exploring episodes only: an evaluation measures the residual alone. `watch`: it
   * watches a deterministic one too (vla-finetune imitation: its labels beside a trained residual's decisions).
   * `hold`: the operator holds the arm at every decision (the imitation warm start's demonstrations).
   */
  async episode(seed: number, explore: Rng | undefined, watch = false, hold = false): Promise<RolloutEpisode> {
    this.inputs = [];
    this.us = [];
    this.interventions = [];
    this.labels = [];
    this.actor.explore = explore;
    const operator = explore || watch || hold ? this.operator : undefined;
    if (hold && !operator) throw new Error('an episode the operator holds needs an operator (--operator scripted)');
    this.labelling = operator?.labelsAll === true;
    operator?.reset(seed, hold);
    this.corrector.takeover = operator ? (k, state, base, u) => operator.decide(k, state, base, u) : undefined;
    const out = await this.engine.runEpisode({ seed, max_ticks: this.max_ticks });
    const steps = this.us.length / this.A;
    const mean_abs_u = Array.from({ length: this.A }, (_, j) => {
      let sum = 0;
      for (let i = 0; i < steps; i++) sum += Math.abs(this.us[i * this.A + j]);
      return steps > 0 ? sum / steps : 0;
    });
    return {
      seed,
      success: out.success,
      truncated: !out.success && out.fault === undefined && out.ticks >= this.max_ticks,
      ticks: out.ticks,
      ...(out.fault ? { fault: out.fault } : {}),
      steps,
      inputs: Float32Array.from(this.inputs),
      u: Float32Array.from(this.us),
      mean_abs_u,
      interventions: this.interventions,
      ...(this.labelling ? { labels: Float32Array.from(this.labels) } : {}),
      ...(out.task_outcome ? { task_outcome: out.task_outcome } : {}),
    };
  }

  /** Ends the engine; the virtual clock's latency model as a --latency-model value (null if none was set). */
  async close(): Promise<string | null> {
    const report = await this.engine.stop();
    await this.policy.close();
    return report.latency_model;
  }

  get obsDim(): number {
    return this.obs_dim;
  }
}
