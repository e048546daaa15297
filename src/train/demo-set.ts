// A folder of recorded demonstrations (MCAP episodes from `vla-run --record` or `vla-sim run --record`)
// read into what behaviour cloning needs: per episode the state and the commanded action of every tick
// (both in action layout) and the camera frames. All episodes must agree on robot, action layout and
// cameras; a folder that does not is refused with what differs, before any training starts. A file that
// cannot be read stops it too, unless skip_bad (--skip-bad) leaves it out with its reason. Episodes that
// were interrupted (Ctrl-C, a fault: the robot held) are always left out, and counted; failed and
// truncated ones unless include_failures.
//
// Frames: a fast-clock recording has one per tick; a real-time one has one for most ticks (as fast as they
// were rendered or came from a camera): each tick takes the latest frame at or before it, and the ticks
// before a camera's first frame are left out.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CameraInfo, EpisodeOutcomeName } from '../recording/index.js';
import { type Episode, EpisodeFileError, readEpisode } from '../recording/index.js';
import { naturalOrder } from '../util/natural-order.js';

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
  /** Per camera (in DemoSet.cameras order) one RGB frame per tick (the latest at or before it). */
  frames: Uint8Array[][];
}

/** A file left out by skip_bad, and why. */
export interface SkippedFile {
  path: string;
  reason: string;
}

export interface DemoSet {
  dir: string;
  robot: string;
  task: string;
  control_hz: number;
  action_names: string[];
  cameras: CameraInfo[];
  episodes: DemoEpisode[];
  /** Recorded episodes left out because they failed or were truncated (unless failures were asked for). */
  skipped_failures: number;
  /** Left out because they were interrupted (the robot was stopped by Ctrl-C or a fault). */
  skipped_interrupted: number;
  /** Unreadable files left out (skip_bad), with their reasons. */
  skipped_bad: SkippedFile[];
  /** Episodes kept, by outcome. */
  outcomes: Partial<Record<EpisodeOutcomeName, number>>;
}

export interface DemoExpectations {
  robot?: string;
  task?: string;
  /** The robot's action layout; a folder recorded with another is refused. */
  action_names?: string[];
  /** Cameras the model is to see; each must be in every episode. Default: the first episode's. */
  cameras?: string[];
  include_failures?: boolean;
  /** Leave out files that cannot be read (truncated, damaged) instead of refusing the folder. */
  skip_bad?: boolean;
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
  const outcomes: DemoSet['outcomes'] = {};
  const skipped_bad: SkippedFile[] = [];
  let skipped = 0,
    interrupted = 0;
  for (const [i, name] of names.entries()) {
    const ep = await readEpisode(join(dir, name)).catch((err: Error) => {
      if (want.skip_bad && err instanceof EpisodeFileError) {
        skipped_bad.push({ path: err.path, reason: err.problem });
        return undefined;
      }
      throw new DemoSetError(
        `${err.message}${err instanceof EpisodeFileError ? ' (to train without such files: --skip-bad)' : ''}`,
      );
    });
    want.onEpisode?.(i + 1, names.length);
    if (!ep) continue;
    if (!first) {
      first = ep;
      cameras = pickCameras(ep, want.cameras);
      checkAgainstWanted(ep, want);
    }
    checkConsistent(ep, first, cameras);
    if (ep.outcome === 'interrupted') {
      interrupted++;
      continue;
    }
    if (!ep.success && !want.include_failures) {
      skipped++;
      continue;
    }
    const demo = ep.ticks < 2 ? undefined : toDemoEpisode(ep, cameras);
    if (!demo || demo.ticks < 2) continue;
    outcomes[ep.outcome] = (outcomes[ep.outcome] ?? 0) + 1;
    episodes.push(demo);
  }
  if (episodes.length === 0) {
    const read = names.length - skipped_bad.length;
    throw new DemoSetError(
      read === 0
        ? `${dir}: none of the ${names.length} files could be read (${skipped_bad[0]?.path}: ${skipped_bad[0]?.reason})`
        : `${dir}: none of the ${read} episodes can be trained on (${interrupted} interrupted, ${skipped} failed or ` +
            'truncated); train on failures with --include-failures if that is meant',
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
    skipped_interrupted: interrupted,
    skipped_bad,
    outcomes,
  };
}

function pickCameras(ep: Episode, wanted: string[] | undefined): CameraInfo[] {
  const have = ep.meta.cameras;
  if (!wanted) {
    if (have.length === 0)
      throw new DemoSetError(
        `${ep.path}: no camera frames recorded; an image policy needs them (record with --record-cameras all, ` +
          'the default)',
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
  const held = cameras.map((c) => {
    const f = ep.frames[c.name];
    if (!f || f.rgb.length === 0) throw new DemoSetError(`${ep.path}: camera '${c.name}' has no frames (${T} ticks)`);
    return latestFrames(ep, f.tick, f.rgb);
  });
  // ticks before every camera has shown a frame have nothing to look at
  const start = Math.max(0, ...held.map((h) => h.first));
  const frames = held.map((h) => h.frames.slice(start));
  return {
    path: ep.path,
    seed: m.seed,
    ticks: T - start,
    state: state.slice(start * D),
    action: Float32Array.from(ep.action.subarray(start * D)),
    frames,
  };
}

/** Per row of the episode, the camera's latest frame at or before its tick; `first`: the first row with one. */
function latestFrames(ep: Episode, ticks: Int32Array, rgb: Uint8Array[]): { first: number; frames: Uint8Array[] } {
  const frames: Uint8Array[] = [];
  let first = -1;
  for (let row = 0, j = -1; row < ep.ticks; row++) {
    while (j + 1 < ticks.length && ticks[j + 1] <= ep.tick[row]) j++;
    if (j >= 0 && first < 0) first = row;
    frames.push(j >= 0 ? rgb[j] : rgb[0]);
  }
  return { first: first < 0 ? ep.ticks : first, frames };
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
