// What a residual could know about the scene, measured before a session: a residual sees the base model's
// features, not the scene, so it can only correct toward what those features place. In the embedded sim the true
// poses are known: a ridge regression from each chunk's features to each object's x, y and yaw, fitted on the first
// episodes and scored on the rest (R², RMSE), over every chunk and over each episode's first chunks (what
// --start-features keeps: the scene before the arm moves into it and hides part of it).
import { quatYaw } from '../../sim/experts/arm-tracker.js';
import type { SimDriver } from '../../sim/sim-driver.js';
import { createTask, type TaskName, type TaskState, taskTickLimit } from '../../sim/tasks/index.js';
import type { CameraImage, Policy } from '../policy/policy.js';
import type { RobotDescription } from '../robot/index.js';
import { baseSimEngine } from './sim-rollouts.js';

/** The base model gives no features: there is nothing to probe. */
export class NoFeaturesError extends Error {}

/** The features of one chunk and the true positions (m) when its observation was taken. */
export interface ProbeSample {
  episode: number;
  /** The chunk's place in its episode (0: the first). */
  chunk: number;
  features: Float32Array;
  truth: number[];
  /** With ProbeRun.keep_camera: that camera's RGB image and the robot's state (raw), as the model got them. */
  image?: Uint8Array;
  state?: Float32Array;
}

export interface ProbeScore {
  /** An object's coordinate, e.g. target_x (the sim's world frame) or cube_yaw. */
  name: string;
  /**
   * Share of the held-out variance the features explain (1: placed exactly; 0 or less: not at all); null when
   * the coordinate does not vary over the held-out chunks (an ALOHA cube's yaw at the start).
   */
  r2: number | null;
  /** Root-mean-square error of the fit on the held-out chunks, in `unit`. */
  rmse: number;
  /** Spread of the coordinate itself over the held-out chunks: what a probe that knows nothing misses by. */
  std: number;
  /** cm for positions, deg for yaws. */
  unit: ProbeUnit;
}

export type ProbeUnit = 'cm' | 'deg';

/** One coordinate the probe fits: values in m (cm) or rad (deg). */
export interface ProbeCoordinate {
  name: string;
  unit: ProbeUnit;
}

/** The coordinates a task's state gives, with their units (values in m and rad). */
export interface ProbeTruth {
  names: string[];
  units: ProbeUnit[];
  values: number[];
}

const QUARTER_TURN = Math.PI / 2;

/**
 * Every object's x, y and yaw, then its target's x and y. The yaw is taken modulo a quarter turn, into
 * (-45, 45] degrees: the tasks' objects are cubes, which look the same and are grasped the same after a quarter
 * turn.
 */
export function truthOf(s: TaskState): ProbeTruth {
  const t: ProbeTruth = { names: [], units: [], values: [] };
  for (const [name, pose] of Object.entries(s.objects)) {
    const yaw = quatYaw(pose.quat);
    const wrapped = yaw - QUARTER_TURN * Math.round(yaw / QUARTER_TURN);
    t.names.push(`${name}_x`, `${name}_y`, `${name}_yaw`);
    t.units.push('cm', 'cm', 'deg');
    t.values.push(pose.pos[0], pose.pos[1], wrapped);
  }
  if (s.target) {
    t.names.push('target_x', 'target_y');
    t.units.push('cm', 'cm');
    t.values.push(s.target.pos[0], s.target.pos[1]);
  }
  return t;
}

export interface ProbeRun {
  description: RobotDescription;
  task: TaskName;
  base_path: string;
  episodes: number;
  seed0: number;
  /** Keep this camera's image and the state with each sample (what a feature head learns from). */
  keep_camera?: string;
  /** Called once the task's coordinates are known (after the first episode); what it throws ends the run. */
  onCoordinates?: (coordinates: ProbeCoordinate[]) => void;
  onEpisode?: (done: number) => void;
}

/** Runs the base model alone in the sim (the runtime's loop, virtual clock) and keeps every chunk's sample. */
export async function collectProbeSamples(
  r: ProbeRun,
): Promise<{ coordinates: ProbeCoordinate[]; samples: ProbeSample[] }> {
  const samples: ProbeSample[] = [];
  let coordinates: ProbeCoordinate[] = [];
  let episode = 0;
  let chunk = 0;
  // the true poses are read as the observation goes in: the moment the features describe
  const wrap = (base: Policy, driver: SimDriver): Policy => ({
    describe: () => base.describe(),
    close: () => base.close(),
    async infer(obs) {
      const truth = truthOf(driver.taskState());
      coordinates = truth.names.map((name, i) => ({ name, unit: truth.units[i] }));
      const out = await base.infer(obs);
      if (out.features) {
        const s: ProbeSample = { episode, chunk: chunk++, features: out.features.slice(), truth: truth.values };
        if (r.keep_camera !== undefined) {
          // copies: the runtime reuses its frame and state buffers
          s.image = Uint8Array.from(cameraImage(obs.images, r.keep_camera).rgb);
          s.state = Float32Array.from(obs.state);
        }
        samples.push(s);
      }
      return out;
    },
  });
  const { engine, policy } = await baseSimEngine({
    ...r,
    seed: r.seed0,
    latency_model: { kind: 'fixed', ms: 5 },
    wrap,
  });
  try {
    if (!policy.describe().features_dim)
      throw new NoFeaturesError(`${r.base_path} has no features output: a residual on it sees the robot's state only`);
    const max_ticks = taskTickLimit(createTask(r.task), r.description.control_hz);
    for (episode = 0; episode < r.episodes; episode++) {
      chunk = 0;
      await engine.runEpisode({ seed: r.seed0 + episode, max_ticks });
      if (episode === 0) r.onCoordinates?.(coordinates);
      r.onEpisode?.(episode + 1);
    }
  } finally {
    await engine.stop();
    await policy.close();
  }
  return { coordinates, samples };
}

function cameraImage(images: CameraImage[], name: string): CameraImage {
  const img = images.find((i) => i.name === name);
  if (!img) throw new Error(`no camera '${name}' in the observation (it has ${images.map((i) => i.name).join(', ')})`);
  return img;
}

/**
 * Ridge regression (features plus a bias -> each coordinate) fitted on the samples of the first `train_fraction`
 * of the episodes, scored on the others.
 */
export function probeScores(
  coordinates: ProbeCoordinate[],
  samples: ProbeSample[],
  train_fraction = 0.75,
): ProbeScore[] {
  const last = samples.reduce((m, s) => Math.max(m, s.episode), 0);
  const split = Math.floor((last + 1) * train_fraction);
  const train = samples.filter((s) => s.episode < split);
  const test = samples.filter((s) => s.episode >= split);
  if (train.length === 0 || test.length === 0) throw new Error('too few episodes to fit and to test the probe');
  const D = train[0].features.length + 1;
  const row = (s: ProbeSample) => [...s.features, 1];
  const xtx = Array.from({ length: D }, () => new Float64Array(D));
  const xty = coordinates.map(() => new Float64Array(D));
  for (const s of train) {
    const x = row(s);
    for (let i = 0; i < D; i++) {
      for (let j = 0; j < D; j++) xtx[i][j] += x[i] * x[j];
      for (let o = 0; o < coordinates.length; o++) xty[o][i] += x[i] * s.truth[o];
    }
  }
  // a small ridge keeps the solve well-posed when keypoints move together
  for (let i = 0; i < D - 1; i++) xtx[i][i] += 1e-3 * train.length;
  return coordinates.map(({ name, unit }, o) => {
    const w = solveLinear(xtx, xty[o]);
    const mean = test.reduce((sum, s) => sum + s.truth[o], 0) / test.length;
    let se = 0;
    let sv = 0;
    for (const s of test) {
      const x = row(s);
      let p = 0;
      for (let i = 0; i < D; i++) p += w[i] * x[i];
      se += (p - s.truth[o]) ** 2;
      sv += (s.truth[o] - mean) ** 2;
    }
    // m -> cm, rad -> deg, two decimals
    const per = unit === 'cm' ? 100 : 180 / Math.PI;
    const rms = (v: number) => Math.round(100 * per * Math.sqrt(v / test.length)) / 100;
    const std = rms(sv);
    // a coordinate that does not vary (to the unit's hundredth) leaves nothing to explain
    const r2 = std > 0 ? Math.round((1 - se / sv) * 1000) / 1000 : null;
    return { name, r2, rmse: rms(se), std, unit };
  });
}

/** Solves a x = b by Gaussian elimination with partial pivoting (a is left as it was). */
export function solveLinear(a: Float64Array[], b: Float64Array): Float64Array {
  const n = b.length;
  const m = a.map((r) => Float64Array.from(r));
  const x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    [x[c], x[p]] = [x[p], x[c]];
    if (m[c][c] === 0) throw new Error('the probe is singular: features that never vary');
    for (let r = c + 1; r < n; r++) {
      const f = m[r][c] / m[c][c];
      for (let k = c; k < n; k++) m[r][k] -= f * m[c][k];
      x[r] -= f * x[c];
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    let s = x[c];
    for (let k = c + 1; k < n; k++) s -= m[c][k] * x[k];
    x[c] = s / m[c][c];
  }
  return x;
}
