// Robot, task and camera flags, checked against what the sim offers, with the valid values in the error.
import { ROBOT_NAMES, type RobotName, robotModel } from '../../../sim/robots/index.js';
import { TASKS_BY_ROBOT, type TaskName } from '../../../sim/tasks/index.js';
import { choice, intArg, UsageError } from '../common.js';

export const TASK_HELP = `task: ${Object.entries(TASKS_BY_ROBOT)
  .map(([r, ts]) => `${r}: ${ts.join(' | ')}`)
  .join('; ')} (default: the first)`;

/** --noise of the scripted experts (vla-sim run, vla-run --policy expert): what one unit means. */
export const NOISE_HELP =
  'scripted expert imperfection, 0 (clean) .. 2, linear: x times 0.012 rad (0.7 deg) std of smooth joint-target ' +
  'noise (correlated over ~0.3 s) plus grasp, place and push-aim offsets of x times 6, 20 and 10 mm std; 1 is ' +
  'clumsy but mostly succeeds';

export function robotArg(value: string | undefined): RobotName {
  if (value === undefined) throw new UsageError(`--robot is required (valid: ${ROBOT_NAMES.join(', ')})`);
  return choice('robot', value, ROBOT_NAMES);
}

export function taskArg(robot: RobotName, value: string | undefined): TaskName {
  const valid = TASKS_BY_ROBOT[robot];
  if (value === undefined) return valid[0];
  return choice(`task for ${robot}`, value, valid);
}

export function cameraArg(robot: RobotName, value: string | undefined): string {
  const valid = robotModel(robot).cameras.map((c) => c.name);
  if (value === undefined) return valid[0];
  return choice(`camera for ${robot}`, value, valid);
}

export function cameraListArg(robot: RobotName, value: string | undefined): string[] {
  if (value === undefined) return robotModel(robot).cameras.map((c) => c.name);
  if (value === '' || value === 'none') return [];
  return value.split(',').map((c) => cameraArg(robot, c.trim()));
}

/** Physics rate: whole multiples of the 50 Hz control rate only, so a tick is a whole number of steps. */
export function physicsHzArg(value: string): number {
  const hz = intArg('--physics-hz', value, 50, 10_000);
  if (hz % 50 !== 0)
    throw new UsageError(`--physics-hz must be a multiple of the 50 Hz control rate (e.g. 250, 500, 1000), got ${hz}`);
  return hz;
}
