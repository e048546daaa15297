// --record for vla-run and vla-sim run: every episode to an MCAP file, one row per control tick (the state the
// command was computed from, the command, when the tick actually executed) and camera frames at the recording
// size: rendered in the tick they belong to on the virtual clock, and off the control thread in real time (a
// FrameSource: record-frames.ts). Each file's metadata says how its episode ended. The files written are
// kept (recordedFiles) for the run's summary.
// A write that fails (a full disk, an I/O error) stops the recording, never the robot: one warning names the file
// and the error, the file keeps its complete ticks (readers recover them), the summary marks it cut short, later
// episodes are not recorded, and the run's exit code is what the robot's run earns (a recording is an observer;
// exit 1 means a fault stopped the robot, which did not happen).
import { access, open, stat, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { CameraFrame } from '../../../sim/camera.js';
import type { SimDriver } from '../../../sim/sim-driver.js';
import { SimEnv } from '../../../sim/sim-env.js';
import type { TaskName } from '../../../sim/tasks/index.js';
import { makeFolders } from '../../recording/file-io.js';
import {
  type DecisionRecord,
  type EpisodeDriver,
  EpisodeFileError,
  type EpisodeOutcomeName,
  type EpisodeResult,
  EpisodeWriter,
  profileSha256,
  type RecordedFrame,
  type ReplayMeta,
} from '../../recording/index.js';
import { captureSimStart, simModelInfo } from '../../replay/sim/sim-start.js';
import type { RobotDescription } from '../../robot/index.js';
import type { EpisodeOutcome, TickRecorder } from '../../runtime/runtime-types.js';
import { UsageError } from '../common.js';
import { FrameQueue, type FrameSource, type QueuedTick } from './record-frames.js';

/** --help text of --record, the same in vla-run and vla-sim run. */
export const RECORD_HELP =
  'record every episode to MCAP (opens in Foxglove): a path ending in .mcap is that file for one episode, and ' +
  '<name>-seed<N>.mcap beside it per episode when there are several; any other path is a folder that gets ' +
  '<robot>-<task>-seed<N>.mcap per episode';
export const RECORD_CAMERAS_HELP =
  'cameras whose frames --record stores: all | none | a comma list (real time too: rendered or taken off the ' +
  'control thread)';
export const RECORD_SIZE_HELP = 'width and height of recorded frames (px); a model trained on them takes this size';

export interface RecordingPlan {
  /** A .mcap file, or a folder (see RECORD_HELP). */
  target: string;
  /** Several episodes may be recorded (then a .mcap target gets -seed<N>). */
  many: boolean;
  robot: RobotDescription;
  task: string;
  policy: string;
  /** Cameras whose frames are recorded. */
  cameras: string[];
  camera_size: number;
  /** Virtual clock: frames every this many ticks (default every tick). */
  frame_every?: number;
  /** Virtual clock: the sim stepped in this thread, rendered in the tick a frame belongs to. */
  sim?: SimDriver;
  /** Real time: where frames come from (the sim's scene, a robot's cameras); none: no frames. */
  frames?: FrameSource;
  /** Which driver runs the episodes; with `sim`, the files keep what exact replay needs (replay-meta.ts). */
  driver?: EpisodeDriver;
  /** The embedded sim's physics rate. */
  physics_hz?: number;
  /** The scripted expert's --noise (expert runs only). */
  expert_noise?: number;
  /** Where the one warning about a recording cut short goes (default: a line on stderr). */
  warn?: (message: string) => void;
  /** Files get the /rl/decision channel (a fine-tuning session's residual decisions, given to close()). */
  rl_decisions?: boolean;
}

/** A file a recording wrote: one episode. */
export interface RecordedFile {
  path: string;
  seed: number;
  outcome: EpisodeOutcomeName;
  ticks: number;
  /** Camera frames in the file (all cameras together). */
  camera_frames: number;
  bytes: number;
  /** Set when a write failed and the recording stopped there: the error; the file holds the ticks before it. */
  cut_short?: string;
}

/** A run's recording after a failed write: the file and the error (later episodes are not recorded). */
export interface RecordingStop {
  path: string;
  error: string;
}

export type EpisodeRecorder = {
  tick: TickRecorder;
  /**
   * Ends the file with how the episode ended; `end` as runEpisodes says it (else from success and fault).
   * `decisions`: the episode's residual decisions (a plan with rl_decisions), written after its ticks.
   */
  close(r: EpisodeOutcome & { end?: string }, decisions?: readonly DecisionRecord[]): Promise<string | undefined>;
};

const filesByPlan = new WeakMap<RecordingPlan, RecordedFile[]>();
const stopByPlan = new WeakMap<RecordingPlan, RecordingStop>();

/** Why a run's recording stopped early (undefined: it did not). */
export function recordingStopped(plan: RecordingPlan): RecordingStop | undefined {
  return stopByPlan.get(plan);
}

/** The first failure stops the run's recording, with one warning; the robot's loop is not touched. */
function stopRecording(plan: RecordingPlan, path: string, err: unknown): void {
  if (stopByPlan.has(plan)) return;
  const error = ioError(err);
  stopByPlan.set(plan, { path, error });
  const line =
    `--record: recording stopped: ${path}: ${error}; the robot keeps running, the file keeps the ticks written ` +
    'before it, later episodes are not recorded';
  (plan.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`)))(line);
}

/** The error's own words with its code ("ENOSPC: no space left on device, write"), not the wrapper's. */
function ioError(err: unknown): string {
  let e = err;
  while (e instanceof EpisodeFileError && e.cause !== undefined) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** What a run records after its recording stopped: nothing, and no file. */
const NOT_RECORDING: EpisodeRecorder = { tick: { tick() {} }, close: async () => undefined };

/** The files a plan's recorders have written so far, in order. */
export function recordedFiles(plan: RecordingPlan): RecordedFile[] {
  return filesByPlan.get(plan) ?? [];
}

/** The one path rule of both tools (RECORD_HELP). */
export function recordingPath(target: string, robot: string, task: string, seed: number, many: boolean): string {
  if (extname(target) !== '.mcap') return join(target, `${robot}-${task}-seed${seed}.mcap`);
  return many ? target.replace(/\.mcap$/, `-seed${seed}.mcap`) : target;
}

/**
 * Checks before anything runs that the first episode's file can be created (a folder is made if missing):
 * a target that cannot be is bad input, one line, exit 2.
 */
export async function checkRecordTarget(plan: RecordingPlan, seed: number): Promise<void> {
  const path = recordingPath(plan.target, plan.robot.robot, plan.task, seed, plan.many);
  const bad = (why: string): never => {
    throw new UsageError(`--record ${plan.target}: ${why}`);
  };
  const st = await stat(path).catch(() => undefined);
  if (st?.isDirectory()) bad(`${path} is a folder; name a file ending in .mcap, or a folder without the extension`);
  try {
    await makeFolders(dirname(path));
    // a new file is probed under a sibling name: a file at the recording's own path means a recording began
    const probe = st ? path : join(dirname(path), `.${basename(path)}.probe-${process.pid}`);
    const fh = await open(probe, st ? 'r+' : 'wx');
    await fh.close();
    if (!st) await unlink(probe);
  } catch (err) {
    bad(await createProblem(path, err));
  }
}

export async function openRecorder(p: RecordingPlan, seed: number): Promise<EpisodeRecorder> {
  const d = p.robot;
  const path = recordingPath(p.target, d.robot, p.task, seed, p.many);
  const files = filesByPlan.get(p) ?? [];
  filesByPlan.set(p, files);
  if (stopByPlan.has(p)) return NOT_RECORDING;
  let writer: EpisodeWriter;
  try {
    writer = await EpisodeWriter.open(
      path,
      {
        robot: d.robot,
        task: p.task,
        seed,
        control_hz: d.control_hz,
        joint_names: [...d.joint_names],
        gripper_names: [...d.gripper_names],
        action_names: [...d.action_names],
        cameras: p.cameras.map((c) => ({ name: c, width: p.camera_size, height: p.camera_size })),
        policy: p.policy,
        tick_clock: p.sim ? 'virtual' : 'monotonic',
        ...(await replayFields(p, seed)),
      },
      p.rl_decisions ? { rl_decisions: true } : {},
    );
  } catch (err) {
    // the first file of a run: a target the user named that cannot be written is bad input (nothing moved yet)
    if (files.length === 0 && err instanceof EpisodeFileError)
      throw new UsageError(`--record ${p.target}: ${await createProblem(path, err.cause ?? err)}`);
    // later on, the robot is running: a file that cannot be made stops the recording, not the run
    if (!(err instanceof EpisodeFileError)) throw err;
    stopRecording(p, path, err);
    return NOT_RECORDING;
  }
  const queue = new FrameQueue(writer, p.camera_size);
  queue.onFailure = (err) => stopRecording(p, path, err);
  const source = p.cameras.length > 0 && !p.sim ? p.frames : undefined;
  await source?.prepare?.();
  const frames = source?.start(p.cameras, p.camera_size, queue);
  if (frames?.onTick) queue.onTick = (k) => frames.onTick?.(k);
  const render = virtualFrames(p);
  const sim = p.sim;
  const tick: TickRecorder = {
    tick(state, command, k, _source, t_ms) {
      // the first tick's state is read before its command moves the sim: the sim is still as the reset left it
      if (k === 0 && sim) writer.amendMeta({ sim_start: captureSimStart(sim.env) });
      const t: QueuedTick = {
        tick: k,
        t_ms,
        position_rad: Float64Array.from(state.position_rad),
        velocity_rad_s: Float64Array.from(state.velocity_rad_s),
        gripper: Float64Array.from(state.gripper),
        action: Float64Array.from(command),
      };
      // rendered now (virtual clock), coming later (a frame source), or none at all
      queue.tick(t, render ? render(k) : frames ? undefined : []);
    },
  };
  return {
    tick,
    async close(r, decisions) {
      await frames?.stop();
      const result = recordedResult(r);
      await queue.finish();
      // after the ticks, whose log times they take; a failed write shows up in close() below
      for (const d of decisions ?? []) writer.writeDecision(d).catch(() => undefined);
      // after a failed write the writer refuses the rest; close() still releases the file
      const closing = writer.close(result);
      let failure = queue.failed;
      await closing.catch((err: unknown) => {
        failure ??= err;
      });
      if (failure !== undefined) stopRecording(p, path, failure);
      files.push({
        path: writer.path,
        seed,
        outcome: result.outcome!,
        // cut short: only what reached the disk counts (readers recover exactly these ticks)
        ticks: failure !== undefined ? writer.flushed_ticks : writer.ticks,
        camera_frames: queue.frames_written,
        bytes: writer.bytes,
        ...(failure !== undefined ? { cut_short: ioError(failure) } : {}),
      });
      return writer.path;
    },
  };
}

/**
 * What replay needs, beyond robot, task and seed: the driver, the profile's hash, the expert's noise and, for the
 * embedded sim, its physics rate, model and start state. On the virtual clock the start is taken from the sim
 * itself at the first tick; in real time the sim steps in the control thread, so a sim of the same model, reset
 * from the same seed here, gives it (the reset is deterministic).
 */
async function replayFields(p: RecordingPlan, seed: number): Promise<ReplayMeta> {
  const out: ReplayMeta = { profile_sha256: profileSha256(p.robot) };
  if (p.driver) out.driver = p.driver;
  if (p.expert_noise !== undefined) out.expert_noise = p.expert_noise;
  if (p.driver !== 'sim' || p.physics_hz === undefined) return out;
  out.physics_hz = p.physics_hz;
  if (p.sim) return { ...out, ...(await simModelInfo(p.sim.env)) };
  const probe = await SimEnv.create({
    robot: p.robot.robot as 'ur5',
    description: p.robot,
    task: p.task as TaskName,
    physics_hz: p.physics_hz,
    control_hz: p.robot.control_hz,
  });
  try {
    probe.reset(seed);
    return { ...out, ...(await simModelInfo(probe)), sim_start: captureSimStart(probe) };
  } finally {
    probe.dispose();
  }
}

/** The virtual clock: frames rendered from the sim in the tick they belong to (every `frame_every` ticks). */
function virtualFrames(p: RecordingPlan): ((k: number) => RecordedFrame[]) | undefined {
  const sim = p.sim;
  if (!sim || p.cameras.length === 0) return undefined;
  const every = p.frame_every ?? 1;
  const frames = new Map<string, CameraFrame>();
  return (k) =>
    k % every !== 0
      ? []
      : p.cameras.map((camera) => {
          const f = sim.render(camera, p.camera_size, frames.get(camera));
          frames.set(camera, f);
          return { camera, width: f.width, height: f.height, rgb: f.rgb };
        });
}

/** How the episode ended, as the file says it: a fault or a signal that stopped the robot is "interrupted". */
export function recordedResult(r: EpisodeOutcome & { end?: string }): EpisodeResult {
  if (r.end === 'interrupted' || r.end === 'fault' || r.fault)
    return { success: false, outcome: 'interrupted', ...(r.fault ? { fault: r.fault } : {}) };
  const figures = r.task_outcome ? { task_outcome: r.task_outcome } : {};
  if (r.end === 'truncated') return { success: false, outcome: 'truncated', ...figures };
  return { success: r.success, outcome: r.success ? 'success' : 'failure', ...figures };
}

/** One line about the files written, for a text summary ("" when none). */
export function formatRecordedFiles(files: RecordedFile[], target: string): string {
  if (files.length === 0) return '';
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  const total = files.reduce((a, f) => a + f.bytes, 0);
  const counts = new Map<string, number>();
  for (const f of files) counts.set(f.outcome, (counts.get(f.outcome) ?? 0) + 1);
  const how = [...counts].map(([o, n]) => `${n} ${o}`).join(', ');
  const cut = files.find((f) => f.cut_short !== undefined);
  const cutLine = cut ? `recording  cut short: ${cut.path}: ${cut.cut_short}; the recording stopped there\n` : '';
  if (files.length === 1) {
    const f = files[0];
    const what = `${f.outcome}, ${f.ticks} ticks, ${f.camera_frames} frames, ${mb(f.bytes)}`;
    return `recorded   ${f.path} (${what})\n${cutLine}`;
  }
  const where = extname(target) === '.mcap' ? `${dirname(target)}/${basename(target, '.mcap')}-seed<N>.mcap` : target;
  return `recorded   ${files.length} episodes (${how}), ${mb(total)}: ${where}\n${cutLine}`;
}

/** What stops a file from being created, in words (no raw ENOENT). */
async function createProblem(path: string, err: unknown): Promise<string> {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const dir = dirname(path);
  if (
    code === 'ENOENT' &&
    (await access(dir).then(
      () => true,
      () => false,
    ))
  )
    return `cannot create ${path}: ${dir} takes no new files`;
  if (code === 'ENOENT') {
    let top = dirname(dir);
    while (
      dirname(top) !== top &&
      !(await access(top).then(
        () => true,
        () => false,
      ))
    )
      top = dirname(top);
    return `cannot make the folder ${dir}: ${top} takes no new folders`;
  }
  if (code === 'EACCES' || code === 'EPERM') return `cannot create ${path}: permission denied`;
  if (code === 'ENOTDIR') return `cannot create ${path}: a part of the path is a file, not a folder`;
  if (code === 'EROFS') return `cannot create ${path}: read-only file system`;
  if (code === 'EISDIR') return `${path} is a folder`;
  if (err instanceof EpisodeFileError) return err.problem;
  return `cannot create ${path} (${code ?? (err instanceof Error ? err.message : String(err))})`;
}
