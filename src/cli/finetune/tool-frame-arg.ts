// --frame tool: the residual corrects the flange's motion (translation bound --scale-cm, rotation bound
// --scale-deg; one value for all three axes or one per axis of the robot's base frame) instead of each joint
// (correction-frame.ts). Only for an arm whose profile has its DH table.
import type { Command } from 'commander';
import { toolFrameProblem } from '../../policy/residual/correction-frame.js';
import type { RobotDescription } from '../../robot/index.js';
import { numArg, UsageError } from '../common.js';

const FRAME_HELP =
  'joint | tool: what the correction moves, each joint by up to --scale-deg, or the tool (the flange) by up to ' +
  '--scale-cm and turned by up to --scale-deg, along and about the base frame x,y,z, through the arm kinematics';
const SCALE_CM_HELP =
  'with --frame tool: the largest translation of the tool per correction (cm), one value or x,y,z (3,3,1: less ' +
  'room up and down)';

const TOOL_POSE_HELP =
  'the residual also sees where the base action puts the flange (position and axes, base frame), through the arm ' +
  'kinematics: a correction toward the scene is then nearly a difference of positions';
const MEASURED_POSE_HELP = 'with --tool-pose: also where the flange is, from the measured joints';

/** Adds --frame and --scale-cm (and, for a session, --tool-pose) to a command. */
export function toolFrameOptions(cmd: Command, pose: boolean): Command {
  cmd.option('--frame <frame>', FRAME_HELP, 'joint').option('--scale-cm <cm>', SCALE_CM_HELP);
  return pose ? cmd.option('--tool-pose', TOOL_POSE_HELP).option('--measured-tool-pose', MEASURED_POSE_HELP) : cmd;
}

const MAX_CM = 20;
const MAX_DEG = 45;

export interface ToolFrameOptions {
  frame?: string;
  scaleCm?: string;
  scaleDeg?: string;
}

/** The tool bounds when --frame tool, undefined for the joint frame; a UsageError for what cannot be. */
export function toolFrameArg(
  o: ToolFrameOptions,
  desc: RobotDescription,
): { translation_m: [number, number, number]; rotation_rad: [number, number, number] } | undefined {
  const frame = o.frame ?? 'joint';
  if (frame !== 'joint' && frame !== 'tool') throw new UsageError(`--frame: joint or tool, found '${frame}'`);
  if (frame === 'joint') {
    if (o.scaleCm !== undefined) throw new UsageError('--scale-cm bounds the tool frame: add --frame tool');
    return undefined;
  }
  const problem = toolFrameProblem(desc);
  if (problem) throw new UsageError(`--frame tool: ${problem}`);
  return {
    translation_m: xyz('--scale-cm', o.scaleCm ?? '2', MAX_CM, 0.01),
    rotation_rad: xyz('--scale-deg', o.scaleDeg ?? '3', MAX_DEG, Math.PI / 180),
  };
}

function xyz(flag: string, value: string, max: number, unit: number): [number, number, number] {
  const parts = value.split(',').map((p) => numArg(flag, p.trim(), 0.01, max) * unit);
  if (parts.length === 1) return [parts[0], parts[0], parts[0]];
  if (parts.length === 3) return [parts[0], parts[1], parts[2]];
  throw new UsageError(`${flag} with --frame tool: one value or three (x,y,z), found '${value}'`);
}

/** --tool-pose [--measured-tool-pose]: the blocks asked for, when the robot's profile can compute them. */
export function toolPoseArg(
  o: { toolPose?: unknown; measuredToolPose?: unknown },
  desc: RobotDescription,
): { tool_pose?: true; measured_tool_pose?: true } {
  if (o.measuredToolPose === true && o.toolPose !== true)
    throw new UsageError('--measured-tool-pose needs --tool-pose');
  if (o.toolPose !== true) return {};
  if (!desc.dh) throw new UsageError(`--tool-pose: ${desc.robot}'s profile has no kinematics (kinematics.dh)`);
  return { tool_pose: true, ...(o.measuredToolPose === true ? { measured_tool_pose: true as const } : {}) };
}
