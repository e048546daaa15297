// Whether a recorded episode can be replayed in the embedded sim, and with what: the robot and task (which the
// sim must have), the robot profile (its joints and rate must be the recording's), the physics rate and the start
// (the recorded sim state, or for a robot recording the seed's scene with the arms where they started). What
// does not fit is a ReplayInputError naming the file and what differs (exit 2, nothing runs); what only makes the
// replay inexact (another sim model, profile or MuJoCo build) is a warning in its report.
import { ROBOT_NAMES, type RobotName } from '../../../sim/robots/index.js';
import { TASKS_BY_ROBOT, type TaskName } from '../../../sim/tasks/index.js';
import { type Episode, profileSha256, type SimStartState } from '../../recording/index.js';
import { loadRobot, ProfileError, type RobotDescription } from '../../robot/index.js';

/** Bad input for a replay: a file that does not fit, or lacks what replay needs. Exit 2. */
export class ReplayInputError extends Error {}

export interface ReplayTarget {
  /** --robot: the robot the user expects the recordings to be from. */
  robot?: string;
  /** --profile: the robot profile to replay with (default: the shipped one). */
  profile_path?: string;
  /** --physics-hz: the rate for a robot recording (which has none); refused if it differs from a sim recording's. */
  physics_hz?: number;
}

/** Where the replay starts: the recorded sim state, or the seed's scene with the recorded arm pose. */
export type ReplayStart = { kind: 'sim_state'; state: SimStartState } | { kind: 'robot_state' };

export interface SimReplaySetup {
  robot: RobotName;
  task: TaskName;
  description: RobotDescription;
  physics_hz: number;
  start: ReplayStart;
  warnings: string[];
}

/** The physics rate of the embedded sim by default (SimEnv's), used for recordings from robots. */
export const DEFAULT_PHYSICS_HZ = 500;
/** What a recording from the embedded sim must hold to be replayed exactly. */
const SIM_KEYS = ['physics_hz', 'sim_model_sha256', 'sim_start'] as const;

export async function checkSimReplay(ep: Episode, target: ReplayTarget): Promise<SimReplaySetup> {
  const m = ep.meta;
  const bad = (what: string): never => {
    throw new ReplayInputError(`${ep.path}: ${what}`);
  };
  if (target.robot !== undefined && target.robot !== m.robot)
    bad(`recorded on ${m.robot}, not on ${target.robot} (--robot)`);
  if (!(ROBOT_NAMES as readonly string[]).includes(m.robot))
    bad(`recorded on '${m.robot}', which the sim does not have (valid: ${ROBOT_NAMES.join(', ')})`);
  const robot = m.robot as RobotName;
  if (!(TASKS_BY_ROBOT[robot] as readonly string[]).includes(m.task))
    bad(`task '${m.task}' is not one of the sim's for ${robot} (valid: ${TASKS_BY_ROBOT[robot].join(', ')})`);
  if (m.driver === undefined) {
    bad(
      `recorded without what replay needs (driver, ${SIM_KEYS.join(', ')} are missing: written by an older ` +
        'vla-runtime); record it again to replay it',
    );
  }
  const warnings: string[] = [];
  const description = await profileForEpisode(ep, target.profile_path, warnings);
  if (m.driver !== 'sim') {
    if (target.physics_hz !== undefined && target.physics_hz % description.control_hz !== 0)
      bad(`--physics-hz ${target.physics_hz} is not a multiple of the recording's ${description.control_hz} Hz`);
    return {
      robot,
      task: m.task as TaskName,
      description,
      physics_hz: target.physics_hz ?? DEFAULT_PHYSICS_HZ,
      start: { kind: 'robot_state' },
      warnings: [
        ...warnings,
        `recorded on a ${m.driver} robot: the sim starts from the seed's scene with the arms ` +
          'at the first recorded joint state; it cannot be exact',
      ],
    };
  }
  const missing = SIM_KEYS.filter((k) => m[k] === undefined);
  if (missing.length) bad(`recorded in the sim without ${missing.join(', ')}, which exact replay needs`);
  if (target.physics_hz !== undefined && target.physics_hz !== m.physics_hz)
    bad(`recorded with physics at ${m.physics_hz} Hz, --physics-hz says ${target.physics_hz}`);
  return {
    robot,
    task: m.task as TaskName,
    description,
    physics_hz: m.physics_hz!,
    start: { kind: 'sim_state', state: m.sim_start! },
    warnings,
  };
}

/** The profile to replay with, at the recording's rate: its joints, grippers and action layout must match it. */
export async function profileForEpisode(
  ep: Episode,
  profile_path: string | undefined,
  warnings: string[],
): Promise<RobotDescription> {
  const m = ep.meta;
  const bad = (what: string): never => {
    throw new ReplayInputError(`${ep.path}: ${what}`);
  };
  let d: RobotDescription;
  try {
    d = await loadRobot(m.robot, profile_path);
  } catch (err) {
    if (err instanceof ProfileError) return bad(err.message);
    throw err;
  }
  if (d.robot !== m.robot) bad(`recorded on ${m.robot}, the profile ${d.source} describes ${d.robot}`);
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  for (const key of ['joint_names', 'gripper_names', 'action_names'] as const) {
    if (!same(d[key], m[key]))
      bad(`${key} differ: recorded [${m[key].join(', ')}], the profile ${d.source} has [${d[key].join(', ')}]`);
  }
  // a run at another rate than the profile's (vla-run --hz) replays at its own, as it ran
  if (d.control_hz !== m.control_hz) d = Object.freeze({ ...d, control_hz: m.control_hz });
  if (m.profile_sha256 !== undefined && m.profile_sha256 !== profileSha256(d)) {
    warnings.push(
      `the profile ${d.source} differs from the recording's (limits, steps or home): safety may pass other commands`,
    );
  }
  return d;
}

/** Recorded commands must be numbers the robot can take: a NaN (stored as null) is refused up front. */
export function checkRecordedActions(ep: Episode): void {
  const D = ep.meta.action_names.length;
  for (let i = 0; i < ep.action.length; i++) {
    if (!Number.isFinite(ep.action[i])) {
      throw new ReplayInputError(
        `${ep.path}: the action of tick ${ep.tick[Math.floor(i / D)]} has ${ep.action[i]} for ` +
          `${ep.meta.action_names[i % D]}; nothing to replay there`,
      );
    }
  }
  if (ep.ticks === 0) throw new ReplayInputError(`${ep.path}: the episode has no ticks`);
}
