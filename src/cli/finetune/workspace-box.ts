// --workspace-box FILE: a fine-tuning session's box in joint space, inside the robot's limits, that the safety
// filter clamps every command to (SERL clips its actions to a safety box the same way). The file names joints and
// their [lo, hi], in degrees or radians, the unit in the key:
//   { "joints_deg": { "shoulder_pan_joint": [-60, 60], "wrist_3_joint": [-90, 90] } }
// A box that is malformed, names a joint the robot lacks, or leaves the home pose outside is refused (exit 2).
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { RobotDescription } from '../../robot/index.js';
import { type JointBox, jointBoxProblem } from '../../runtime/safety.js';
import { UsageError } from '../common.js';

const range = z.tuple([z.number(), z.number()]);
const boxFile = z.union([
  z.object({ joints_deg: z.record(z.string(), range) }).strict(),
  z.object({ joints_rad: z.record(z.string(), range) }).strict(),
]);

export async function readWorkspaceBox(path: string, desc: RobotDescription): Promise<JointBox> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--workspace-box ${path}: ${(err as Error).message}`);
  }
  const parsed = boxFile.safeParse(value);
  if (!parsed.success)
    throw new UsageError(
      `--workspace-box ${path}: expected {"joints_deg": {"<joint>": [lo, hi], ...}} (or "joints_rad")`,
    );
  const f = parsed.data;
  const toRad = 'joints_deg' in f ? Math.PI / 180 : 1;
  const joints = 'joints_deg' in f ? f.joints_deg : f.joints_rad;
  const box: Record<string, [number, number]> = {};
  for (const [name, [lo, hi]] of Object.entries(joints)) box[name] = [lo * toRad, hi * toRad];
  const problem = jointBoxProblem(desc, box);
  if (problem) throw new UsageError(`--workspace-box ${path}: ${problem}`);
  return box;
}
