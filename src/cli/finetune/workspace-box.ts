// --workspace-box FILE: a fine-tuning session's safety box, which the safety filter holds every command to (SERL
// clips its actions to a safety box the same way). In joint space, inside the robot's limits, in degrees or
// radians (the unit in the key); in Cartesian space, the flange's position in the robot's base frame (UR's
// `base`, as the pendant shows it; ROS's `base_link` is turned 180 degrees about z from it), in metres; or both:
//   { "joints_deg": { "shoulder_pan_joint": [-60, 60], "wrist_3_joint": [-90, 90] },
//     "flange_m": { "x": [-0.7, 0.7], "y": [-0.7, 0.2], "z": [0.05, 0.9] } }
// A box that is malformed, names a joint the robot lacks, leaves the home pose outside, or is Cartesian on a robot
// whose profile has no kinematics (the ALOHA arms) is refused (exit 2).
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { RobotDescription } from '../../robot/index.js';
import { type WorkspaceBox, workspaceBoxProblem } from '../../runtime/safety.js';
import { UsageError } from '../common.js';

const range = z.tuple([z.number(), z.number()]);
const boxFile = z
  .object({
    joints_deg: z.record(z.string(), range).optional(),
    joints_rad: z.record(z.string(), range).optional(),
    flange_m: z.object({ x: range, y: range, z: range }).strict().optional(),
  })
  .strict()
  .refine((f) => !(f.joints_deg && f.joints_rad), 'joints_deg or joints_rad, not both')
  .refine((f) => f.joints_deg || f.joints_rad || f.flange_m, 'an empty box');

const EXPECTED =
  'expected {"joints_deg": {"<joint>": [lo, hi], ...}} (or "joints_rad"), and/or ' +
  '{"flange_m": {"x": [lo, hi], "y": [lo, hi], "z": [lo, hi]}}';

export async function readWorkspaceBox(path: string, desc: RobotDescription): Promise<WorkspaceBox> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--workspace-box ${path}: ${(err as Error).message}`);
  }
  const parsed = boxFile.safeParse(value);
  if (!parsed.success) throw new UsageError(`--workspace-box ${path}: ${EXPECTED}`);
  const f = parsed.data;
  const toRad = f.joints_deg ? Math.PI / 180 : 1;
  const joints = f.joints_deg ?? f.joints_rad;
  const box: WorkspaceBox = {
    ...(joints
      ? { joints: Object.fromEntries(Object.entries(joints).map(([n, [lo, hi]]) => [n, [lo * toRad, hi * toRad]])) }
      : {}),
    ...(f.flange_m ? { flange_m: f.flange_m } : {}),
  };
  const problem = workspaceBoxProblem(desc, box);
  if (problem) throw new UsageError(`--workspace-box ${path}: ${problem}`);
  return box;
}
