// --record: every episode to MCAP, one tick per control tick (the state the command was computed from and
// the command), with camera frames where they can be rendered in the tick they belong to (the virtual clock).
import { extname, join } from 'node:path';
import type { CameraFrame } from '../../../sim/camera.js';
import type { SimDriver } from '../../../sim/sim-driver.js';
import { EpisodeWriter, type RecordedFrame } from '../../recording/index.js';
import type { RobotDescription } from '../../robot/index.js';
import type { EpisodeOutcome, TickRecorder } from '../../runtime/runtime-types.js';

export interface RecordingPlan {
  /** A .mcap file (with -seed<N> added when there are several episodes), or a folder. */
  target: string;
  many: boolean;
  robot: RobotDescription;
  task: string;
  policy: string;
  /** Cameras rendered into the recording (the virtual clock's sim only). */
  cameras: string[];
  camera_size: number;
  /** Frames every this many ticks (default every tick). */
  frame_every?: number;
  sim?: SimDriver;
}

export type EpisodeRecorder = { tick: TickRecorder; close(r: EpisodeOutcome): Promise<string | undefined> };

export async function openRecorder(p: RecordingPlan, seed: number): Promise<EpisodeRecorder> {
  const d = p.robot;
  const name = `${d.robot}-${p.task}-seed${seed}.mcap`;
  const path =
    extname(p.target) === '.mcap'
      ? p.many
        ? p.target.replace(/\.mcap$/, `-seed${seed}.mcap`)
        : p.target
      : join(p.target, name);
  const writer = await EpisodeWriter.open(path, {
    robot: d.robot,
    task: p.task,
    seed,
    control_hz: d.control_hz,
    joint_names: [...d.joint_names],
    gripper_names: [...d.gripper_names],
    action_names: [...d.action_names],
    cameras: p.cameras.map((c) => ({ name: c, width: p.camera_size, height: p.camera_size })),
    policy: p.policy,
  });
  const start_ns = BigInt(Date.now()) * 1_000_000n;
  const tick_ns = BigInt(Math.round(1e9 / d.control_hz));
  const every = p.frame_every ?? 1;
  const frames = new Map<string, CameraFrame>();
  const render = (k: number): RecordedFrame[] =>
    !p.sim || k % every !== 0
      ? []
      : p.cameras.map((camera) => {
          const f = p.sim!.render(camera, p.camera_size, frames.get(camera));
          frames.set(camera, f);
          return { camera, width: f.width, height: f.height, rgb: f.rgb };
        });
  let failed: unknown;
  let pending: Promise<void> = Promise.resolve();
  const tick: TickRecorder = {
    tick(state, command, k) {
      if (failed) return;
      // the writer serialises before it returns: the arrays (views the engine reuses) may change afterwards
      const write = writer.writeTick({
        tick: k,
        stamp_ns: start_ns + BigInt(k) * tick_ns,
        position_rad: state.position_rad,
        velocity_rad_s: state.velocity_rad_s,
        gripper: state.gripper,
        action: command,
        frames: render(k),
      });
      pending = pending
        .then(() => write)
        .catch((e: unknown) => {
          failed = e;
        });
    },
  };
  return {
    tick,
    async close(r) {
      await pending;
      await writer.close({ success: r.success });
      if (failed) throw failed;
      return writer.path;
    },
  };
}
