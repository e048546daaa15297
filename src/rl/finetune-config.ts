// Everything that defines a fine-tuning run, written once as runs/NAME/config.json and read back on --resume: the
// robot and task, the base model (and its SHA-256), the residual's shape and bounds, the learner's settings, the
// schedule of rounds and evaluations, the seeds, and the collapse guard. Training seeds stay below
// `train_seed_limit` (10000): held-out evaluations use seeds at or above it.
import { z } from 'zod';
import type { LatencyModelSpec } from '../runtime/timing/latency-model.js';

export const FINETUNE_FORMAT_VERSION = 1;

const positive = z.number().positive();
const count = z.number().int().positive();
const natural = z.number().int().nonnegative();

export const finetuneConfigSchema = z.object({
  format_version: z.literal(FINETUNE_FORMAT_VERSION),
  run: z.string(),
  robot: z.enum(['ur5', 'ur5e', 'aloha']),
  task: z.string(),
  base: z.object({ path: z.string(), sha256: z.string(), horizon: count }),
  residual: z.object({
    /** One bound for every joint, or one per joint (the robot's joint_names order). */
    joint_scale_rad: z.union([positive, z.array(positive).min(1)]),
    gripper_scale: z.number().nonnegative(),
    every_ticks: count,
    /** The actor's hidden layers: the residual that ships. */
    hidden: z.array(count).min(1),
    /** The critics' hidden layers (absent: the actor's). */
    critic_hidden: z.array(count).min(1).optional(),
    /** Values of the base model's features output the residual sees (0: state and base action only). */
    base_features: natural,
    /** The residual also sees the features of the episode's first chunk (the scene before the arm entered it). */
    start_features: z.boolean().optional(),
    /** The residual also sees how long the episode has run. */
    episode_time: z.boolean().optional(),
    /** The residual also sees where the base action puts the flange (needs the arm's kinematics). */
    tool_pose: z.boolean().optional(),
    /** Also where the flange is (runs from before it: the base action's pose only). */
    measured_tool_pose: z.boolean().optional(),
    /** Sim only: trained on the true values of the base model's feature-head outputs (deployed: the head's). */
    privileged_head: z.boolean().optional(),
    /**
     * Correct in the tool's frame (correction-frame.ts): the flange's translation (m) and rotation (rad) bounds
     * replace joint_scale_rad. Absent: the joint frame.
     */
    tool: z
      .object({
        translation_m: z.tuple([positive, positive, positive]),
        rotation_rad: z.tuple([positive, positive, positive]),
      })
      .optional(),
  }),
  learner: z.object({
    critics: count,
    critic_subset: count,
    gamma: z.number().min(0).max(1),
    tau: positive,
    lr: positive,
    actor_lr: positive,
    batch_size: count,
    utd: count,
    init_temperature: positive,
    target_entropy: z.number(),
    init_log_std: z.number(),
    residual_penalty: z.number().nonnegative(),
    actor_delay_updates: natural,
    /** The actor's imitation of the operator's decisions (sac-learner.ts); absent in older runs: none. */
    bc_weight: z.number().nonnegative().default(0),
  }),
  schedule: z.object({
    episodes_per_round: count,
    /** learner.update() calls per new transition (each does `utd` critic updates). */
    updates_per_transition: positive,
    /** Base-policy episodes (deterministic, near-zero residual) whose transitions form the offline buffer. */
    offline_episodes: natural,
    /** Critic updates on the offline buffer alone before the first round. */
    warmup_updates: natural,
    /** Rounds between checkpoints, each after a held-out evaluation when eval_episodes > 0. */
    eval_every_rounds: count,
    /** 0: no held-out evaluations (on a robot, training episodes are the measure): checkpoints only. */
    eval_episodes: natural,
    /** Periodic evaluations use seeds eval_seed0, eval_seed0 + 1, ... (held out from training). */
    eval_seed0: natural,
    buffer_capacity: count,
    /**
     * The residual's trust region: u = bound x tanh(...), the bound growing linearly from initial_bound at round 0
     * to 1 at bound_ramp_rounds (0: no ramp), so the residual explores only where the critic has seen data.
     */
    initial_bound: z.number().positive().max(1),
    bound_ramp_rounds: natural,
  }),
  /**
   * At the run's end, the `candidates` best-evaluated checkpoints run `episodes` more deterministic episodes each
   * on seeds from seed0, and the best there becomes residual.onnx (checkpoint-selection.ts). Absent in runs from
   * before it existed, or episodes 0 (on a robot): the best evaluation's residual stays.
   */
  selection: z.object({ candidates: count, episodes: natural, seed0: natural }).optional(),
  /**
   * Who may take the arm over in exploring episodes: none, or the sim's scripted expert (HIL-SERL's human), when
   * the command strays more than takeover_rad from its plan, for takeover_decisions decisions. Its decisions also
   * join the offline buffer as demonstrations. Absent in runs from before it existed: none. label_all: the
   * actor imitates its correction at every decision, not only its takeovers (absent: takeovers only). expert:
   * where its corrections point, the plan made at the episode's start or the state-feedback expert (absent: plan).
   */
  operator: z
    .object({
      kind: z.enum(['none', 'scripted', 'keyboard']),
      takeover_rad: positive,
      takeover_decisions: count,
      label_all: z.boolean().optional(),
      expert: z.enum(['plan', 'feedback']).optional(),
    })
    .optional(),
  /**
   * The imitation warm start (warm-start.ts; the sim's scripted operator only): before round 1, `episodes`
   * episodes the operator holds throughout, every decision labelled, and the actor fitted to the labels for
   * `epochs` passes, its learning rate falling from `lr` along a half cosine. Absent: none.
   */
  warm_start: z.object({ episodes: count, epochs: count, lr: positive }).optional(),
  /**
   * Where episodes run: absent, the embedded sim; `rosbridge`, a UR through rosbridge, `ports`, the ALOHA arms over
   * serial, in real time, from one actor on the robot host. --resume may point it elsewhere.
   */
  robot_link: z
    .object({
      /** A UR through rosbridge (ws://HOST:PORT). */
      rosbridge: z.string().optional(),
      /** The ALOHA arms over serial (left=PATH,right=PATH), with the emulator's sim link or a rig's calibration. */
      ports: z.string().optional(),
      sim_link: z.string().optional(),
      calibration_dir: z.string().optional(),
      /** The ALOHA leader arms (left=PATH,right=PATH): takeovers hand the followers to them. */
      leader_ports: z.string().optional(),
      /** A workspace box file (vla-finetune --workspace-box), applied by the robot actor's safety filter. */
      workspace_box: z.string().optional(),
      /** A detector's std_msgs/Bool topic that judges success in place of the keyboard operator's s key. */
      success_topic: z.object({ topic: z.string(), rosbridge: z.string().optional() }).optional(),
    })
    .optional(),
  train_seed_limit: count,
  /** The virtual clock charges every inference this latency (fixed, so episodes repeat exactly). */
  latency_ms: z.number().nonnegative(),
  /**
   * --latency-ms measured: the base model's latency timed on this machine at the run's start, as vla-run
   * --clock fast times it by default; each inference is charged a seeded draw from these instead (episodes still
   * repeat exactly, and a resumed run keeps them).
   */
  latency_samples_ms: z.array(z.number().nonnegative()).min(1).max(1000).optional(),
  seed: natural,
  collapse: z.object({
    /** A collapse: eval success below best x (1 - drop_fraction), once best is at least min_best. */
    drop_fraction: z.number().min(0).max(1),
    min_best: z.number().min(0).max(1),
    max_collapses: natural,
    /** After a rollback the learning rates are multiplied by this. */
    lr_factor: z.number().positive().max(1),
  }),
});

export type FinetuneConfig = z.infer<typeof finetuneConfigSchema>;

/** What the run's virtual clock charges each base inference. */
export function runLatencyModel(c: Pick<FinetuneConfig, 'latency_ms' | 'latency_samples_ms'>): LatencyModelSpec {
  return c.latency_samples_ms ? { kind: 'samples', ms: c.latency_samples_ms } : { kind: 'fixed', ms: c.latency_ms };
}

export class FinetuneConfigError extends Error {}

export function parseFinetuneConfig(value: unknown, where: string): FinetuneConfig {
  const r = finetuneConfigSchema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  throw new FinetuneConfigError(`${where}: ${first.path.join('.') || '(root)'}: ${first.message}`);
}

/** Defaults of everything but the run, robot, task and base. */
export const FINETUNE_DEFAULTS: Omit<FinetuneConfig, 'run' | 'robot' | 'task' | 'base'> = {
  format_version: FINETUNE_FORMAT_VERSION,
  residual: {
    joint_scale_rad: (3 * Math.PI) / 180,
    gripper_scale: 0.2,
    every_ticks: 5,
    hidden: [64, 64],
    base_features: 0,
  },
  learner: {
    critics: 2,
    critic_subset: 2,
    gamma: 0.97,
    tau: 0.005,
    lr: 3e-4,
    actor_lr: 3e-5,
    batch_size: 128,
    utd: 2,
    init_temperature: 0.01,
    target_entropy: -11,
    init_log_std: -3,
    residual_penalty: 1,
    actor_delay_updates: 3000,
    bc_weight: 1,
  },
  schedule: {
    episodes_per_round: 4,
    updates_per_transition: 1,
    offline_episodes: 40,
    warmup_updates: 200,
    eval_every_rounds: 10,
    eval_episodes: 40,
    eval_seed0: 20000,
    buffer_capacity: 500_000,
    initial_bound: 0.2,
    bound_ramp_rounds: 100,
  },
  selection: { candidates: 8, episodes: 200, seed0: 30000 },
  operator: { kind: 'none', takeover_rad: (15 * Math.PI) / 180, takeover_decisions: 5 },
  train_seed_limit: 10000,
  latency_ms: 40,
  seed: 0,
  collapse: { drop_fraction: 0.5, min_best: 0.3, max_collapses: 3, lr_factor: 0.5 },
};
