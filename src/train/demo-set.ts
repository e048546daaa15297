// A folder of recorded demonstrations (MCAP episodes from `vla-run --record` or `vla-sim run --record`)
// read into what behaviour cloning needs: per episode the state and the commanded action of every tick
// (both in action layout) and the camera frames. All episodes must agree on robot, action layout and
// cameras; a folder that does not is refused with what differs, before any training starts.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CameraInfo } from '../recording/index.js';
import { type Episode, readEpisode } from '../recording/index.js';

/** The demonstrations cannot be trained on (empty, unreadable or inconsistent folder): bad input, exit 2. */
export class DemoSetError extends Error {}

export interface DemoEpisode {
  path: string;
  seed: number;
  ticks: number;
  /** ticks x dim, row-major: the measured state at each tick, per arm its joints (rad) then its gripper. */
  state: Float32Array;
  /** ticks x dim: the action commanded at each tick, for the tick after it. */
  action: Float32Array;
  /** Per camera (in DemoSet.cameras order) one RGB frame per tick. */
  frames: Uint8Array[][];
}

export interface DemoSet {
  dir: string;
  robot: string;
  task: string;
  control_hz: number;
  action_names: string[];
  cameras: CameraInfo[];
  episodes: DemoEpisode[];
  /** Recorded episodes left out because they failed (unless failures were asked for). */
  skipped_failures: number;
}

export interface DemoExpectations {
  robot?: string;
  task?: string;
  /** The robot's action layout; a folder recorded with another is refused. */
  action_names?: string[];
  /** Cameras the model is to see; each must be in every episode. Default: the first episode's. */
  cameras?: string[];
  include_failures?: boolean;
  /** Called after each file, for a progress line. */
  onEpisode?: (done: number, total: number) => void;
}

export async function loadDemoSet(dir: string, want: DemoExpectations = {}): Promise<DemoSet> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.mcap')).sort(naturalOrder);
  } catch (err) {
    throw new DemoSetError(
      `${dir}: cannot read the demonstration folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  if (names.length === 0)
    throw new DemoSetError(
      `${dir}: no .mcap episodes in the folder (record some with: vla-run --robot R --sim --policy expert --clock ` +
        `fast --record ${dir})`,
    );

  let first: Episode | undefined;
  let cameras: CameraInfo[] = [];
  const episodes: DemoEpisode[] = [];
  let skipped = 0;
  for (const [i, name] of names.entries()) {
    const ep = await readEpisode(join(dir, name)).catch((err: Error) => {
      throw new DemoSetError(err.message);
    });
    if (!first) {
      first = ep;
      cameras = pickCameras(ep, want.cameras);
      checkAgainstWanted(ep, want);
    }
    checkConsistent(ep, first, cameras);
    want.onEpisode?.(i + 1, names.length);
    if (!ep.success && !want.include_failures) {
      skipped++;
      continue;
    }
    if (ep.ticks < 2) continue;
    episodes.push(toDemoEpisode(ep, cameras));
  }
  if (episodes.length === 0) {
    throw new DemoSetError(
      `${dir}: none of the ${names.length} episodes succeeded; train on failures with --include-failures if that is ` +
        `meant`,
    );
  }
  return {
    dir,
    robot: first!.meta.robot,
    task: first!.meta.task,
    control_hz: first!.meta.control_hz,
    action_names: first!.meta.action_names,
    cameras,
    episodes,
    skipped_failures: skipped,
  };
}

function pickCameras(ep: Episode, wanted: string[] | undefined): CameraInfo[] {
  const have = ep.meta.cameras;
  if (!wanted) {
    if (have.length === 0)
      throw new DemoSetError(
        `${ep.path}: no camera frames recorded; an image policy needs them (record with --clock fast and ` +
          `--record-cameras)`,
      );
    return have;
  }
  return wanted.map((name) => {
    const c = have.find((h) => h.name === name);
    if (!c)
      throw new DemoSetError(
        `${ep.path}: camera '${name}' was not recorded (recorded: ${have.map((h) => h.name).join(', ') || 'none'})`,
      );
    return c;
  });
}

function checkAgainstWanted(ep: Episode, want: DemoExpectations): void {
  const m = ep.meta;
  if (want.robot && m.robot !== want.robot)
    throw new DemoSetError(`${ep.path}: robot: expected ${want.robot}, found ${m.robot}`);
  if (want.task && m.task !== want.task)
    throw new DemoSetError(`${ep.path}: task: expected ${want.task}, found ${m.task}`);
  if (want.action_names && !sameList(m.action_names, want.action_names)) {
    throw new DemoSetError(
      `${ep.path}: action layout: expected ${want.action_names.length} values (${want.action_names.join(', ')}), ` +
        `found ${m.action_names.length} (${m.action_names.join(', ')})`,
    );
  }
}

/** Every episode must look like the first: same robot, task, rate, action layout, camera sizes. */
function checkConsistent(ep: Episode, first: Episode, cameras: CameraInfo[]): void {
  const a = first.meta,
    b = ep.meta;
  const differ = (what: string, x: unknown, y: unknown): never => {
    throw new DemoSetError(`${ep.path}: ${what}: expected ${String(x)} (as in ${first.path}), found ${String(y)}`);
  };
  if (b.robot !== a.robot) differ('robot', a.robot, b.robot);
  if (b.task !== a.task) differ('task', a.task, b.task);
  if (b.control_hz !== a.control_hz) differ('control rate (Hz)', a.control_hz, b.control_hz);
  if (!sameList(b.action_names, a.action_names))
    differ('action layout', a.action_names.join(','), b.action_names.join(','));
  for (const c of cameras) {
    const have = b.cameras.find((h) => h.name === c.name);
    if (!have) differ(`camera '${c.name}'`, `${c.width}x${c.height}`, 'not recorded');
    else if (have.width !== c.width || have.height !== c.height)
      differ(`camera '${c.name}' size`, `${c.width}x${c.height}`, `${have.width}x${have.height}`);
  }
}

function toDemoEpisode(ep: Episode, cameras: CameraInfo[]): DemoEpisode {
  const m = ep.meta;
  const D = m.action_names.length,
    T = ep.ticks;
  const J = m.joint_names.length,
    G = m.gripper_names.length;
  // action layout: each name is a joint or a gripper of the recording
  const source = m.action_names.map((n) => {
    const j = m.joint_names.indexOf(n);
    if (j >= 0) return j;
    const g = m.gripper_names.indexOf(n);
    if (g < 0) throw new DemoSetError(`${ep.path}: action '${n}' is neither a recorded joint nor a gripper`);
    return -1 - g;
  });
  const state = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let d = 0; d < D; d++) {
      const s = source[d];
      state[t * D + d] = s >= 0 ? ep.position_rad[t * J + s] : ep.gripper[t * G + (-1 - s)];
    }
  }
  const frames = cameras.map((c) => {
    const f = ep.frames[c.name];
    if (!f || f.rgb.length !== T || f.tick.some((k, i) => k !== ep.tick[i])) {
      throw new DemoSetError(
        `${ep.path}: camera '${c.name}' does not have one frame per tick (${f?.rgb.length ?? 0} frames, ${T} ticks)`,
      );
    }
    return f.rgb;
  });
  return { path: ep.path, seed: m.seed, ticks: T, state, action: Float32Array.from(ep.action), frames };
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** seed2 before seed10. */
function naturalOrder(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}
