// Robot profiles: what the runtime must know about a robot to command it safely (joint names and order,
// position and velocity limits, home pose, control rate, cameras). One JSON file per robot in
// calibration/profiles/, validated here; a bad file is refused with the field that is wrong.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { RosSettingsBaseSchema } from './ros-settings.js';

const JointLimits = z.object({
  name: z.string().min(1),
  min_rad: z.number().finite(),
  max_rad: z.number().finite(),
  max_velocity_rad_s: z.number().positive().finite(),
}).refine((j) => j.min_rad < j.max_rad, { message: 'min_rad must be below max_rad' });

export const RobotProfileSchema = z.object({
  robot: z.string().min(1),
  description: z.string().optional(),
  control_hz: z.number().positive().max(1000),
  joints: z.array(JointLimits).min(1),
  grippers: z.array(z.string().min(1)),
  home_rad: z.array(z.number().finite()),
  cameras: z.array(z.object({
    name: z.string().min(1), width: z.number().int().positive(), height: z.number().int().positive(),
    /** A camera on the robot host instead of the robot's own stream: '/dev/videoN[:WxH][@FPS]' (drivers/cameras/camera-spec.ts). */
    source: z.string().min(1).optional(),
  }).strict()),
  /** UR cells: rosbridge URL, layout, topics, fault timings; any field left out takes the layout's default (ros-settings.ts). */
  ros: RosSettingsBaseSchema.partial().extend({ topics: RosSettingsBaseSchema.shape.topics.partial().optional() }).strict().optional(),
}).strict().refine((p) => p.home_rad.length === p.joints.length, { message: 'home_rad needs one value per joint', path: ['home_rad'] })
  .refine((p) => p.home_rad.every((q, i) => q >= p.joints[i].min_rad && q <= p.joints[i].max_rad), { message: 'home_rad is outside the joint limits', path: ['home_rad'] });

export type RobotProfile = z.infer<typeof RobotProfileSchema>;

export class ProfileError extends Error {}

/** The profiles shipped with the package (calibration/profiles/<robot>.json). */
export function builtinProfilePath(robot: string): string {
  // this file runs from dist/calibration/; the JSON stays in the package's calibration/profiles/
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, '..', '..', 'calibration', 'profiles', `${robot}.json`);
}

export async function loadRobotProfile(path: string): Promise<RobotProfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProfileError(`${path}: cannot read robot profile (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = RobotProfileSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ProfileError(`${path}: invalid robot profile: ${issues}`);
  }
  return parsed.data;
}
