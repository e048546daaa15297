// The manifest of a new residual for a base model on a robot: what the fine-tuner writes and tests build on.
import { basename } from 'node:path';
import { isGripperAction, type RobotDescription } from '../../robot/index.js';
import { toolFrameProblem } from './correction-frame.js';
import { RESIDUAL_FORMAT_VERSION, type ResidualManifest, TOOL_POSE_SIZE } from './residual-manifest.js';
import { fileSha256 } from './residual-onnx.js';

/** Default bound of a correction: 3 degrees per joint, a fifth of a gripper's range. */
export const DEFAULT_JOINT_SCALE_RAD = (3 * Math.PI) / 180;
export const DEFAULT_GRIPPER_SCALE = 0.2;

/** The tool frame's bounds: translation along the base frame's x, y, z (m), rotation about them (rad). */
export interface ToolBounds {
  translation_m: readonly [number, number, number];
  rotation_rad: readonly [number, number, number];
}

export interface ResidualDraft {
  name: string;
  base_path: string;
  /** The base policy's chunk length (for the chunk_index input). */
  base_horizon: number;
  /** One bound for every joint, or one per joint in the robot's joint_names order (rad). */
  joint_scale_rad?: number | readonly number[];
  gripper_scale?: number;
  every_ticks?: number;
  hidden: number[];
  /** Values of the base model's features output to feed the residual (0 or absent: none). */
  base_features?: number;
  /** Also the features of the episode's first chunk (needs base_features). */
  start_features?: boolean;
  /** Also how long the episode has run (the episode_time block). */
  episode_time?: boolean;
  /** Also where the base action puts the flange (the tool_pose block; needs the arm's kinematics). */
  tool_pose?: boolean;
  /** Also where the flange is (the measured_tool_pose block). */
  measured_tool_pose?: boolean;
  /**
   * Correct in the tool's frame (correction-frame.ts): the flange's translation bound (m) and rotation bound (rad)
   * then replace the joint bounds.
   */
  tool?: ToolBounds;
}

export async function residualManifestFor(desc: RobotDescription, d: ResidualDraft): Promise<ResidualManifest> {
  const A = desc.action_names.length;
  const per_joint = d.joint_scale_rad;
  const problem = d.tool ? toolFrameProblem(desc) : null;
  if (problem) throw new Error(problem);
  if (typeof per_joint === 'object' && per_joint.length !== desc.joint_names.length)
    throw new Error(`${per_joint.length} joint bounds for ${desc.robot}'s ${desc.joint_names.length} joints`);
  return {
    format_version: RESIDUAL_FORMAT_VERSION,
    kind: 'residual',
    name: d.name,
    robot: desc.robot,
    control_hz: desc.control_hz,
    action_names: [...desc.action_names],
    base: { name: basename(d.base_path), sha256: await fileSha256(d.base_path), horizon: d.base_horizon },
    inputs: [
      { block: 'position_rad', size: desc.joint_names.length },
      { block: 'gripper', size: desc.gripper_names.length },
      { block: 'base_action', size: A },
      { block: 'chunk_index', size: 1 },
      ...(d.episode_time ? [{ block: 'episode_time' as const, size: 1 }] : []),
      ...(d.tool_pose ? [{ block: 'tool_pose' as const, size: TOOL_POSE_SIZE }] : []),
      ...(d.measured_tool_pose ? [{ block: 'measured_tool_pose' as const, size: TOOL_POSE_SIZE }] : []),
      ...(d.base_features ? [{ block: 'base_features' as const, size: d.base_features }] : []),
      ...(d.base_features && d.start_features ? [{ block: 'start_features' as const, size: d.base_features }] : []),
    ],
    scale: Array.from({ length: A }, (_, i) =>
      isGripperAction(desc, i)
        ? (d.gripper_scale ?? DEFAULT_GRIPPER_SCALE)
        : d.tool
          ? toolBound(d.tool, desc.action_source[i])
          : jointBound(d.joint_scale_rad, desc.action_source[i]),
    ),
    ...(d.tool ? { frame: 'tool' as const } : {}),
    every_ticks: d.every_ticks ?? 1,
    hidden: d.hidden,
  };
}

/** Tool dimension `dim` (x, y, z, rx, ry, rz): the first three translate, the last three turn. */
function toolBound(tool: ToolBounds, dim: number): number {
  return dim < 3 ? tool.translation_m[dim] : tool.rotation_rad[dim - 3];
}

function jointBound(scale: number | readonly number[] | undefined, joint: number): number {
  if (scale === undefined) return DEFAULT_JOINT_SCALE_RAD;
  return typeof scale === 'number' ? scale : scale[joint];
}
