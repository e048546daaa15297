// The robot description a run uses: the shipped profile, or the user's (--profile), at the run's rate.
import { loadRobot, ProfileError, type RobotDescription } from '../../robot/index.js';
import { UsageError } from '../common.js';

export async function robotDescription(
  robot: string,
  profile_path: string | undefined,
  control_hz: number,
): Promise<RobotDescription> {
  let desc: RobotDescription;
  try {
    desc = await loadRobot(robot, profile_path);
  } catch (err) {
    if (err instanceof ProfileError) throw new UsageError(err.message);
    throw err;
  }
  return control_hz === desc.control_hz ? desc : Object.freeze({ ...desc, control_hz });
}
