// What a residual policy is and what it was trained on, stored in its ONNX file (metadata `vla_residual`): the
// base model it corrects (name and SHA-256 of the file: a residual is meaningless on top of another base), the
// robot and action layout, the inputs in order, the per-dimension bound of the correction and how often it is
// re-evaluated. The runtime refuses a residual whose base, robot or action layout does not match the run.
import { z } from 'zod';

export const RESIDUAL_FORMAT_VERSION = 1;
export const RESIDUAL_METADATA_KEY = 'vla_residual';

/**
 * Blocks of the residual's input vector, in the order listed in the manifest:
 *  - position_rad: the measured arm joints; gripper: the measured grippers (0 closed .. 1 open);
 *  - base_action: the base policy's action for this tick (action layout), before the correction;
 *  - chunk_index: where that action sits in its chunk, 0 (first) .. 1 (last): how stale the base plan is (A2C2);
 *  - base_features: what the base model saw when it planned that chunk (its features output: keypoints);
 *  - start_features: what it saw in the episode's first chunk, kept all episode: the scene before the arm moved
 *    into the view (a target the arm later hides, which the current keypoints no longer place);
 *  - episode_time: how long the episode has run, in tens of seconds (tick / control_hz / 10): where along the task
 *    the arm should be by now, which the scene alone does not say (a cube already at its target, or not yet moved);
 *  - tool_pose: where the base action puts the flange, through the arm's kinematics: its position (m) and its x and
 *    z axes in the base frame (9 values). A correction toward a place in the scene is then nearly a difference of
 *    two positions, where from the joints the network must learn the arm's kinematics first;
 *  - measured_tool_pose: the same for the measured joints, where the flange is now (a correction that sets the
 *    pace, the command a step ahead of the arm, is then a difference of the two poses).
 */
export const RESIDUAL_INPUT_BLOCKS = [
  'position_rad',
  'gripper',
  'base_action',
  'chunk_index',
  'base_features',
  'start_features',
  'episode_time',
  'tool_pose',
  'measured_tool_pose',
] as const;
/** The tool_pose and measured_tool_pose blocks: position (3), x axis (3), z axis (3). */
export const TOOL_POSE_SIZE = 9;
export type ResidualInputBlock = (typeof RESIDUAL_INPUT_BLOCKS)[number];

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lowercase hex');
const count = z.number().int().positive();

export const residualManifestSchema = z.object({
  format_version: z.literal(RESIDUAL_FORMAT_VERSION),
  kind: z.literal('residual'),
  name: z.string().min(1),
  robot: z.string().min(1),
  control_hz: z.number().positive(),
  action_names: z.array(z.string()).min(1),
  base: z.object({ name: z.string(), sha256, horizon: count }),
  inputs: z.array(z.object({ block: z.enum(RESIDUAL_INPUT_BLOCKS), size: count })).min(1),
  /**
   * Largest correction per action dimension: rad for joints, a fraction of the 0..1 range for grippers. In the
   * tool frame the arm joints' slots hold the tool's dimensions in joint order: m for x, y, z, rad for rx, ry, rz.
   */
  scale: z.array(z.number().nonnegative().finite()),
  /**
   * What the correction's arm dimensions are (correction-frame.ts): 'joint' (absent) one per arm joint; 'tool' the
   * flange's translation and rotation in the robot's base frame, mapped to the joints by the arm's kinematics.
   */
  frame: z.enum(['joint', 'tool']).optional(),
  /** Tool frame: the largest joint change one correction may map to (rad). */
  max_joint_rad: z.number().positive().finite().optional(),
  /** The correction is re-evaluated every this many ticks and held in between. */
  every_ticks: count,
  hidden: z.array(count),
});

export type ResidualManifest = z.infer<typeof residualManifestSchema>;

export class ResidualLoadError extends Error {}

export function parseResidualManifest(value: unknown, where: string): ResidualManifest {
  const r = residualManifestSchema.safeParse(value);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new ResidualLoadError(`${where}: residual manifest: ${first.path.join('.') || '(root)'}: ${first.message}`);
  }
  const m = r.data;
  if (m.scale.length !== m.action_names.length)
    throw new ResidualLoadError(
      `${where}: residual manifest: scale has ${m.scale.length} values, action_names ${m.action_names.length}`,
    );
  return m;
}

export function inputSize(m: Pick<ResidualManifest, 'inputs'>): number {
  return m.inputs.reduce((n, b) => n + b.size, 0);
}
