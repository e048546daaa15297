// Where a replay in the sim starts: every reset of its sim (the engine resets it from the recording's seed)
// is followed by putting back the recorded start state, or for a robot recording the arms' recorded pose. How
// far the sim's own reset is from the recorded start is measured first: 0 means the sim still places
// everything as it did when the episode was recorded.
import type { SimDriver } from '../../../sim/sim-driver.js';
import type { Episode } from '../../recording/index.js';
import { ReplayInputError, type ReplayStart } from './replay-input.js';
import {
  applyArmStart,
  applySimStart,
  captureSimStart,
  loadMujocoModule,
  simModelInfo,
  simStartDiff,
  simStartMismatch,
} from './sim-start.js';

export interface StartReport {
  from: 'recorded sim state' | 'seed scene + recorded joint state';
  /** Largest difference between this sim's reset(seed) and the recorded start; null for a robot recording. */
  reset_max_abs: number | null;
  /** Where that difference is (e.g. qpos[9]); null when there is none. */
  reset_where: string | null;
}

export async function patchStart(
  driver: SimDriver,
  ep: Episode,
  start: ReplayStart,
  warnings: string[],
): Promise<StartReport> {
  const env = driver.env;
  const mj = await loadMujocoModule();
  const reset = env.reset.bind(env);
  if (start.kind === 'robot_state') {
    const J = ep.meta.joint_names.length;
    const G = ep.meta.gripper_names.length;
    const arm = {
      position_rad: ep.position_rad.slice(0, J),
      velocity_rad_s: ep.velocity_rad_s.slice(0, J),
      gripper: ep.gripper.slice(0, G),
    };
    env.reset = (seed) => {
      reset(seed);
      applyArmStart(mj, env, arm);
    };
    return { from: 'seed scene + recorded joint state', reset_max_abs: null, reset_where: null };
  }
  const state = start.state;
  const mismatch = simStartMismatch(env, state);
  if (mismatch) throw new ReplayInputError(`${ep.path}: ${mismatch} (the sim model changed since it was recorded)`);
  const info = await simModelInfo(env);
  if (info.sim_model_sha256 !== ep.meta.sim_model_sha256)
    warnings.push('the sim model differs from the one recorded (another hash): the replay may diverge');
  if (ep.meta.mujoco_version !== undefined && info.mujoco_version !== ep.meta.mujoco_version)
    warnings.push(`recorded with MuJoCo ${ep.meta.mujoco_version}, replayed with ${info.mujoco_version}`);
  const report: StartReport = { from: 'recorded sim state', reset_max_abs: null, reset_where: null };
  env.reset = (seed) => {
    reset(seed);
    const d = simStartDiff(captureSimStart(env), state);
    report.reset_max_abs = d.max_abs;
    report.reset_where = d.where || null;
    if (d.max_abs > 0)
      warnings.push(
        `this sim's reset for seed ${seed} differs from the recorded start (${d.where} by ${d.max_abs}): ` +
          'the recorded state was put back',
      );
    applySimStart(mj, env, state);
  };
  return report;
}
