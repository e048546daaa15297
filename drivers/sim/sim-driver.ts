// The embedded MuJoCo simulation behind the Driver contract, so the runtime drives it exactly as it
// drives a real arm. Clocks:
//  - realtime: physics advances one control tick every 1/control_hz of wall time, whatever the caller
//    does, with the last command latched (a real controller keeps servoing to its last target);
//  - fast: a virtual clock; every send() advances one tick at once (replay, evaluation, RL);
//  - external: every send() advances one tick, paced by a control loop that keeps real time (the
//    runtime's control thread); states carry monotonic time.
import { Subject, type Observable } from 'rxjs';
import type { Driver, JointState, RobotDescription, CameraInfo } from '../driver.js';
import { SimEnv, type SimOptions, type SimArmState } from '../../sim/sim-env.js';
import type { CameraFrame, RayCamera } from '../../sim/camera.js';
import type { TaskState } from '../../sim/tasks/task.js';
import { monotonicMs } from '../../src/util/clock.js';

/** The clocks a user chooses between. */
export const SIM_CLOCKS = ['realtime', 'fast'] as const;
export type SimClock = (typeof SIM_CLOCKS)[number] | 'external';

export interface SimDriverOptions extends SimOptions {
  clock?: SimClock;
  /** Image size reported for every camera by describe() (default 224 x 224). */
  camera_size?: number;
  /** Seed of the first episode (default 0). */
  seed?: number;
}

/** At most this many ticks are caught up at once after the process stalled, then time slips. */
const MAX_CATCH_UP_TICKS = 5;

export class SimDriver implements Driver {
  readonly env: SimEnv;
  readonly clock: SimClock;
  readonly state$: Observable<JointState>;
  private readonly states = new Subject<JointState>();
  private readonly command: Float64Array;
  private readonly armState: SimArmState;
  private readonly cameraSize: number;
  private readonly renderers = new Map<string, RayCamera>();
  private timer: NodeJS.Timeout | undefined;
  private startMs = 0;
  private startTick = 0;
  private connected = false;
  /** Ticks the realtime clock could not simulate in time (process stalled). */
  slipped_ticks = 0;

  static async create(opts: SimDriverOptions): Promise<SimDriver> {
    return new SimDriver(await SimEnv.create(opts), opts);
  }

  private constructor(env: SimEnv, opts: SimDriverOptions) {
    this.env = env;
    this.clock = opts.clock ?? 'realtime';
    this.cameraSize = opts.camera_size ?? 224;
    this.state$ = this.states.asObservable();
    this.command = new Float64Array(env.action_dim);
    this.armState = env.newState();
    env.reset(opts.seed ?? 0);
    this.holdCommand();
  }

  describe(): RobotDescription {
    const arms = this.env.robot.arms;
    return {
      robot: this.env.robot.name,
      sim: true,
      joint_names: this.env.joint_names,
      gripper_names: arms.map((a) => `${a.prefix}gripper`),
      action_names: this.env.action_names,
      position_limits_rad: arms.flatMap((a) => a.links.map((l) => [...l.range_rad] as [number, number])),
      velocity_limits_rad_s: arms.flatMap((a) => a.links.map((l) => l.max_velocity_rad_s)),
      control_hz: this.env.control_hz,
      cameras: this.env.cameraNames().map((name): CameraInfo => ({ name, width: this.cameraSize, height: this.cameraSize })),
    };
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    this.connected = true;
    if (this.clock === 'realtime') this.startClock();
    this.emit();
  }

  /** Start a new episode from `seed`; the robot is at its home pose, holding it. */
  reset(seed: number): void {
    this.env.reset(seed);
    this.holdCommand();
    if (this.clock === 'realtime' && this.connected) this.startClock();
    this.emit();
  }

  send(action: Float64Array): void {
    if (action.length !== this.command.length) {
      throw new Error(`action has ${action.length} values, ${this.env.robot.name} expects ${this.command.length}`);
    }
    this.command.set(action);
    if (this.clock !== 'realtime') this.advance();
  }

  hold(): void {
    this.holdCommand();
    if (this.clock !== 'realtime') this.advance();
  }

  async disconnect(): Promise<void> {
    this.stopClock();
    this.connected = false;
    this.states.complete();
    this.env.dispose();
  }

  get tick(): number { return this.env.tick; }
  /** The task has succeeded this episode. */
  success(): boolean { return this.env.success; }
  /** The episode is over: the task succeeded or its time ran out. */
  get done(): boolean { return this.env.done; }
  taskState(): TaskState { return this.env.taskState(); }

  /** Render a camera at the current state (sizes default to describe()'s). */
  render(camera: string, out?: CameraFrame, size = this.cameraSize): CameraFrame {
    const key = `${camera}@${size}`;
    let r = this.renderers.get(key);
    if (!r) {
      r = this.env.camera(camera, size);
      this.renderers.set(key, r);
    }
    return this.env.render(r, out ?? r.newFrame());
  }

  private holdCommand(): void {
    this.env.readState(this.armState);
    let k = 0, j = 0;
    this.env.robot.arms.forEach((arm, a) => {
      for (let i = 0; i < arm.links.length; i++) this.command[k++] = this.armState.position_rad[j++];
      // a gripper keeps its last opening (home at reset) rather than what it measures while squeezing
      if (this.env.tick === 0) this.command[k] = this.env.robot.home_gripper[a];
      k++;
    });
  }

  private advance(): void {
    this.env.applyAction(this.command);
    this.env.step();
    this.emit();
  }

  private emit(): void {
    this.env.readState(this.armState);
    this.states.next({
      tick: this.env.tick,
      t_mono_ms: this.clock === 'fast' ? (this.env.tick * 1000) / this.env.control_hz : monotonicMs(),
      position_rad: Float64Array.from(this.armState.position_rad),
      velocity_rad_s: Float64Array.from(this.armState.velocity_rad_s),
      gripper: Float64Array.from(this.armState.gripper),
    });
  }

  private startClock(): void {
    this.stopClock();
    this.startMs = performance.now();
    this.startTick = this.env.tick;
    this.scheduleNext();
  }

  private stopClock(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Drift-free pacing: tick k is due at start + k * dt; a late timer catches up instead of drifting. */
  private scheduleNext(): void {
    const dtMs = 1000 / this.env.control_hz;
    const due = this.startMs + (this.env.tick - this.startTick + 1) * dtMs;
    this.timer = setTimeout(() => {
      const behind = Math.floor((performance.now() - this.startMs) / dtMs) - (this.env.tick - this.startTick);
      const steps = Math.max(1, Math.min(behind, MAX_CATCH_UP_TICKS));
      for (let i = 0; i < steps && !this.env.done; i++) this.advance();
      if (behind > MAX_CATCH_UP_TICKS) {
        // restart the schedule from now: the lost time is gone, as on a real robot
        this.slipped_ticks += behind - MAX_CATCH_UP_TICKS;
        this.startMs = performance.now();
        this.startTick = this.env.tick;
      }
      if (this.env.done) {
        this.timer = undefined;
        return;
      }
      this.scheduleNext();
    }, Math.max(0, due - performance.now()));
  }
}
