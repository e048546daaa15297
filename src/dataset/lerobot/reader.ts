// Reads one episode of a LeRobot dataset into the recording's Episode type, so evaluation and replay do not care
// where an episode was stored. Its rows come from a data file that may hold other episodes (v3.0: found through the
// file's episode_index column), its frames from its stretch of each mapped camera's video, decoded only when asked.
// A file that is missing, truncated or does not hold what the episode index says is an EpisodeFileError naming it.
import type { Episode, EpisodeFrames } from '../../recording/episode-reader.js';
import type { EpisodeMeta } from '../../recording/episode-writer.js';
import { EpisodeFileError } from '../../recording/errors.js';
import type { EpisodeRef, LeRobotDataset } from './dataset.js';
import type { ReadPlan, VectorPlan } from './feature-map.js';
import { ParquetTable } from './parquet.js';
import { decodeFrames } from './video.js';
import { VLA_COLUMNS } from './vla-fields.js';

/** A per-frame success flag some datasets have (LeRobot's gym environments: pusht, aloha sim). */
const SUCCESS_FEATURE = 'next.success';

/** Rows of each episode in each data file, found once per file. */
const rowIndex = new WeakMap<LeRobotDataset, Map<string, Promise<Map<number, [number, number]>>>>();

async function episodeRows(
  ds: LeRobotDataset,
  ref: EpisodeRef,
): Promise<{ table: ParquetTable; rows: [number, number] }> {
  const table = await ParquetTable.open(ref.data_path);
  let files = rowIndex.get(ds);
  if (!files) {
    files = new Map();
    rowIndex.set(ds, files);
  }
  let found = files.get(ref.data_path);
  if (!found) {
    found = (async () => {
      const { episode_index } = await table.read(['episode_index']);
      const out = new Map<number, [number, number]>();
      episode_index.forEach((v, i) => {
        const e = Number(v);
        const at = out.get(e);
        if (!at) out.set(e, [i, i + 1]);
        else if (at[1] === i) at[1] = i + 1;
        else throw new EpisodeFileError(ref.data_path, `the rows of episode ${e} are not contiguous`);
      });
      return out;
    })();
    files.set(ref.data_path, found);
    found.catch(() => files.delete(ref.data_path));
  }
  const rows = (await found).get(ref.index);
  if (!rows) throw new EpisodeFileError(ref.data_path, `no rows of episode ${ref.index}`);
  if (rows[1] - rows[0] !== ref.length) {
    throw new EpisodeFileError(
      ref.data_path,
      `episode ${ref.index} has ${rows[1] - rows[0]} rows; the episode index says ${ref.length}`,
    );
  }
  return { table, rows };
}

/** A list column into a row-major Float64Array, `width` values per row, checked; shape [1] is a scalar column. */
function matrix(col: unknown[], width: number, what: string, path: string): Float64Array {
  const out = new Float64Array(col.length * width);
  col.forEach((cell, r) => {
    const v = width === 1 && !Array.isArray(cell) ? [cell] : cell;
    if (!Array.isArray(v) || v.length !== width)
      throw new EpisodeFileError(
        path,
        `${what}: row ${r} has ${Array.isArray(v) ? v.length : 'no'} values, not ${width}`,
      );
    for (let i = 0; i < width; i++) out[r * width + i] = v[i] == null ? NaN : Number(v[i]);
  });
  return out;
}

/** Picks `plan.index` out of each row of a dataset vector. */
function pick(col: unknown[], plan: VectorPlan, width: number, path: string): Float64Array {
  const n = plan.index.length;
  const full = matrix(col, width, plan.feature, path);
  const out = new Float64Array(col.length * n);
  for (let r = 0; r < col.length; r++) for (let i = 0; i < n; i++) out[r * n + i] = full[r * width + plan.index[i]];
  return out;
}

export async function readDatasetEpisode(
  ds: LeRobotDataset,
  plan: ReadPlan,
  ref: EpisodeRef,
  opts: { frames: boolean },
): Promise<Episode> {
  const { table, rows } = await episodeRows(ds, ref);
  const ticks = ref.length;
  const path = table.path;
  const J = plan.joint_names.length;
  const G = plan.gripper_names.length;
  const A = plan.action_names.length;
  let core: Pick<Episode, 'tick' | 'stamp_ns' | 't_mono_ms' | 'position_rad' | 'velocity_rad_s' | 'gripper' | 'action'>;
  let timestamps: unknown[];
  let taskIndex = 0;
  let succeeded: boolean | undefined;
  if (plan.own) {
    const c = await table.read([...Object.values(VLA_COLUMNS), 'timestamp'], rows[0], rows[1]);
    timestamps = c.timestamp;
    core = {
      tick: Int32Array.from(c[VLA_COLUMNS.tick], Number),
      stamp_ns: BigInt64Array.from(c[VLA_COLUMNS.stamp_ns], (v) => BigInt(v as bigint)),
      t_mono_ms: Float64Array.from(c[VLA_COLUMNS.t_mono_ms], (v) => (v == null ? NaN : Number(v))),
      position_rad: matrix(c[VLA_COLUMNS.position_rad], J, VLA_COLUMNS.position_rad, path),
      velocity_rad_s: matrix(c[VLA_COLUMNS.velocity_rad_s], J, VLA_COLUMNS.velocity_rad_s, path),
      gripper: matrix(c[VLA_COLUMNS.gripper], G, VLA_COLUMNS.gripper, path),
      action: matrix(c[VLA_COLUMNS.action], A, VLA_COLUMNS.action, path),
    };
  } else {
    const state = plan.state!;
    const vectors = [state, plan.action!, ...(plan.velocity ? [plan.velocity] : [])];
    const names = ['timestamp', 'frame_index', 'task_index', ...new Set(vectors.map((v) => v.feature))];
    const c = await table.read(names, ...rows);
    timestamps = c.timestamp;
    taskIndex = Number(c.task_index[0]);
    if (SUCCESS_FEATURE in ds.info.features) {
      const flags = (await table.read([SUCCESS_FEATURE], ...rows))[SUCCESS_FEATURE];
      succeeded = Boolean(flags[flags.length - 1]);
    }
    const width = (f: string) => ds.info.features[f].shape.reduce((a, b) => a * b, 1);
    const s = pick(c[state.feature], state, width(state.feature), path);
    const position_rad = new Float64Array(ticks * J);
    const gripper = new Float64Array(ticks * G);
    for (let r = 0; r < ticks; r++) {
      for (let j = 0; j < J; j++) position_rad[r * J + j] = s[r * (J + G) + j];
      for (let g = 0; g < G; g++) gripper[r * G + g] = s[r * (J + G) + J + g];
    }
    const seconds = Float64Array.from(c.timestamp, Number);
    core = {
      tick: Int32Array.from(c.frame_index, Number),
      stamp_ns: BigInt64Array.from(seconds, (t) => BigInt(Math.round(t * 1e9))),
      t_mono_ms: seconds.map((t) => t * 1000),
      position_rad,
      // a dataset without velocities: NaN says "not recorded", as a missing value does in our recordings
      velocity_rad_s: plan.velocity
        ? pick(c[plan.velocity.feature], plan.velocity, width(plan.velocity.feature), path)
        : new Float64Array(ticks * J).fill(NaN),
      gripper,
      action: pick(c[plan.action!.feature], plan.action!, width(plan.action!.feature), path),
    };
  }
  const frames = opts.frames ? await readFrames(ds, plan, ref, Number(timestamps[0] ?? 0), core.tick) : {};
  return { ...episodeHead(ds, plan, ref, taskIndex, succeeded), ticks, ...core, frames };
}

/** Everything of the Episode but its per-tick arrays. */
function episodeHead(
  ds: LeRobotDataset,
  plan: ReadPlan,
  ref: EpisodeRef,
  taskIndex: number,
  succeeded: boolean | undefined,
): Pick<Episode, 'path' | 'meta' | 'format_version' | 'success' | 'outcome' | 'fault' | 'task_outcome'> {
  const path = `${ds.root}#${ref.index}`;
  const cameras = plan.cameras.map(({ name, width, height }) => ({ name, width, height }));
  if (ref.vla) {
    const v = ref.vla;
    const meta: EpisodeMeta = { ...v.meta, cameras };
    return {
      path,
      meta,
      format_version: v.format_version,
      success: v.success,
      outcome: v.outcome,
      ...(v.fault !== undefined ? { fault: v.fault } : {}),
      ...(v.task_outcome !== undefined ? { task_outcome: v.task_outcome } : {}),
    };
  }
  const meta: EpisodeMeta = {
    robot: plan.robot,
    // the episode index's tasks, else (no tasks column, as in lerobot/libero) the task of its first frame
    task: ref.tasks[0] ?? ds.tasks.get(taskIndex) ?? '',
    // a LeRobot dataset has no seed to set a simulation up with
    seed: NaN,
    control_hz: plan.control_hz,
    joint_names: [...plan.joint_names],
    gripper_names: [...plan.gripper_names],
    action_names: [...plan.action_names],
    cameras,
  };
  // the last frame's next.success where the dataset has it (gym environments' datasets); else it records no
  // outcome: its episodes are demonstrations, taken as successes
  if (succeeded === false) return { path, meta, format_version: 2, success: false, outcome: 'failure' };
  return { path, meta, format_version: 2, success: true, outcome: 'success' };
}

async function readFrames(
  ds: LeRobotDataset,
  plan: ReadPlan,
  ref: EpisodeRef,
  firstTimestamp: number,
  tick: Int32Array,
): Promise<Record<string, EpisodeFrames>> {
  const out: Record<string, EpisodeFrames> = {};
  for (const cam of plan.cameras) {
    const video = ref.videos[cam.feature];
    if (!video) throw new EpisodeFileError(ds.root, `episode ${ref.index} has no video for ${cam.feature}`);
    const rgb = await decodeFrames({
      path: video.path,
      // LeRobot looks a frame up at from_timestamp + the row's timestamp
      from_s: video.from_s + firstTimestamp,
      frames: ref.length,
      width: cam.width,
      height: cam.height,
      fps: ds.info.fps,
    });
    const fresh = new Uint8Array(ref.length).fill(1);
    for (const [a, b] of ref.vla?.stale_frames?.[cam.name] ?? []) fresh.fill(0, a, b);
    const keep = [...fresh.keys()].filter((i) => fresh[i] === 1);
    out[cam.name] = {
      width: cam.width,
      height: cam.height,
      tick: Int32Array.from(keep, (i) => tick[i]),
      rgb: keep.map((i) => rgb[i]),
    };
  }
  return out;
}
