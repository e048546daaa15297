// The embedded MuJoCo simulation behind the Driver contract, so the runtime drives it exactly as it
// drives a real arm: each write() advances the physics by one control tick with that command (null: the
// servos keep their last target), and read() copies the state at the end of the last tick. Time comes
// from whoever calls write(): the runtime's control loop on the wall clock, or its virtual clock, where a
// state is stamped with the sim time of its tick. Episodes (reset from a seed, success, the task's
// privileged state, camera renders) are the sim world's, read through the methods below, never by policies.

import type { Driver, Health, JointState } from '../drivers/driver.js';
import { homeAction, ProfileError, type RobotDescription } from '../src/robot/index.js';
import { monotonicMs } from '../src/util/clock.js';
import type { CameraFrame, RayCamera } from './camera.js';
import { type SimArmState, SimEnv, type SimOptions, type SimSnapshot } from './sim-env.js';
import type { TaskOutcome, TaskState } from './tasks/task.js';

/** The runtime reaches the sim's types only through this module. */
export type { TaskOutcome };

/** How read() stamps a state: the wall clock of the control loop, or the virtual time of its tick. */
export type SimTimeBase = 'wall' | 'virtual';

export interface SimDriverOptions extends SimOptions {
  time?: SimTimeBase;
  /** Seed of the first episode (default 0). */
  seed?: number;
}

export class SimDriver implements Driver {
  readonly description: RobotDescription;
  readonly env: SimEnv;
  readonly time: SimTimeBase;
  private readonly command: Float64Array;
  private readonly arm: SimArmState;
  private readonly renderers = new Map<string, RayCamera>();
  private stamp_ms = -Infinity;

  static async create(opts: SimDriverOptions): Promise<SimDriver> {
    return new SimDriver(await SimEnv.create(opts), opts);
  }

  private constructor(env: SimEnv, opts: SimDriverOptions) {
    this.env = env;
    this.description = env.description;
    this.time = opts.time ?? 'virtual';
    if (this.description.control_hz !== env.control_hz && opts.control_hz === undefined) {
      throw new ProfileError(
        `${this.description.source}: control_hz: ${this.description.control_hz} Hz, the sim runs at ` +
          `${env.control_hz} Hz`,
      );
    }
    this.command = new Float64Array(env.action_dim);
    this.arm = env.newState();
    this.reset(opts.seed ?? 0);
  }

  async configure(): Promise<void> {}

  async activate(): Promise<string | undefined> {
    return undefined;
  }

  read(into: JointState): Health {
    into.position_rad.set(this.arm.position_rad);
    into.velocity_rad_s.set(this.arm.velocity_rad_s);
    into.gripper.set(this.arm.gripper);
    into.t_mono_ms = this.stamp_ms;
    return 'ok';
  }

  problem(): string {
    return '';
  }

  write(command: Float64Array | null): void {
    if (command) {
      if (command.length !== this.command.length) {
        throw new Error(
          `action has ${command.length} values, ${this.description.robot} expects ${this.command.length}`,
        );
      }
      this.command.set(command);
    }
    this.env.applyAction(this.command);
    this.env.step();
    this.measure();
  }

  async deactivate(): Promise<void> {}

  async close(): Promise<void> {
    this.renderers.clear(); // the env owns (and disposes) its cameras
    this.env.dispose();
  }

  counters(): Record<string, number> {
    return {};
  }

  // ---- the sim world: episodes, success, privileged state, cameras ----

  /** Start a new episode from `seed`: the robot at its home pose, its servos holding it. */
  reset(seed: number): void {
    this.env.reset(seed);
    homeAction(this.description, this.command as Float64Array<ArrayBuffer>);
    this.measure();
  }

  get tick(): number {
    return this.env.tick;
  }
  /** The task has succeeded this episode. */
  success(): boolean {
    return this.env.success;
  }
  /** The episode is over: the task succeeded or its time ran out. */
  get done(): boolean {
    return this.env.done;
  }
  taskState(): TaskState {
    return this.env.taskState();
  }
  taskOutcome(): TaskOutcome {
    return this.env.taskOutcome();
  }
  snapshot(): SimSnapshot {
    return this.env.snapshot();
  }

  /** Render a camera at the current state (reuses one renderer per camera and size). */
  render(camera: string, size: number, out?: CameraFrame): CameraFrame {
    const key = `${camera}@${size}`;
    let r = this.renderers.get(key);
    if (!r) {
      r = this.env.camera(camera, size);
      this.renderers.set(key, r);
    }
    return this.env.render(r, out ?? r.newFrame());
  }

  private measure(): void {
    this.env.readState(this.arm);
    this.stamp_ms = this.time === 'virtual' ? (this.env.tick * 1000) / this.env.control_hz : monotonicMs();
  }
}
