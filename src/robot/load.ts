// Loading a robot description: the profile shipped for a robot (calibration/profiles/<robot>.json), or a
// user's own file. A file that cannot be read or does not validate is refused with its path and the
// field that is wrong (ProfileError: bad input, nothing moves).
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeRobot, type RobotDescription } from './description.js';
import { type RobotProfile, RobotProfileSchema } from './profile-schema.js';

export class ProfileError extends Error {
  override name = 'ProfileError';
}

/** The robots with a profile shipped in the package. */
export const BUILTIN_ROBOTS = ['ur5', 'ur5e', 'aloha'] as const;

/** The shipped profile of `robot` (calibration/profiles/<robot>.json, next to dist/ in the package). */
export function builtinProfilePath(robot: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = here.includes(`${join('dist', 'src')}`) ? join(here, '..', '..', '..') : join(here, '..', '..');
  return join(root, 'calibration', 'profiles', `${robot}.json`);
}

export async function loadRobotProfile(path: string): Promise<RobotProfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProfileError(
      `${path}: cannot read robot profile (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
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

/** The description of `robot` from its shipped profile, or from `profile_path` when given. */
export async function loadRobot(robot: string, profile_path?: string): Promise<RobotDescription> {
  const path = profile_path ?? builtinProfilePath(robot);
  const profile = await loadRobotProfile(path);
  if (profile.robot !== robot)
    throw new ProfileError(`${path}: robot: the profile is for '${profile.robot}', not '${robot}'`);
  return describeRobot(profile, path);
}
