// What a run recorded (its MCAP file), read back and checked against the robot's profile: every command inside
// the limits and within the per-tick step of the one before it (or a hold at the pose measured on its tick).
import assert from 'node:assert/strict';
import { newJointState } from '../../../drivers/driver.js';
import { type Episode, readEpisode } from '../../../src/recording/index.js';
import { actionLayout, type RobotDescription } from '../../../src/robot/index.js';
import { assertSafe } from './checks.js';

/** The recorded commands of a run, checked against the profile's limits and step; their ticks. */
export async function recordedSafe(desc: RobotDescription, file: string | undefined): Promise<number[]> {
  assert.ok(file, 'the run was recorded');
  const ep = await readEpisode(file, { frames: false });
  const d = desc.action_names.length;
  const rows = [...Array(ep.ticks).keys()].map((k) => ep.action.subarray(k * d, (k + 1) * d));
  // a tick held for a fault commands nothing and is not recorded: the next command may be ticks later
  const ticks = Array.from(ep.tick, Number);
  const gaps = rows.map((_, k) => (k === 0 ? 1 : ticks[k] - ticks[k - 1]));
  assertSafe(desc, rows, false, gaps, measuredPoses(desc, ep));
  return ticks;
}

/** The measured pose of every recorded tick in the action layout (grippers as measured). */
function measuredPoses(desc: RobotDescription, ep: Episode): Float64Array[] {
  const state = newJointState(desc);
  const nj = desc.joint_names.length;
  const ng = desc.gripper_names.length;
  return [...Array(ep.ticks).keys()].map((k) => {
    state.position_rad.set(ep.position_rad.subarray(k * nj, (k + 1) * nj));
    state.gripper.set(ep.gripper.subarray(k * ng, (k + 1) * ng));
    return actionLayout(desc, state, new Float64Array(desc.action_names.length));
  });
}

/** The longest run of ticks with no recorded command (a hold), from the recorded ticks. */
export function longestGap(ticks: number[]): number {
  let best = 0;
  for (let k = 1; k < ticks.length; k++) best = Math.max(best, ticks[k] - ticks[k - 1] - 1);
  return best;
}
