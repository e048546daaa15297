// The simulated UR cell behind a rosbridge server: the MuJoCo sim stepped at the UR controller rate
// (500 Hz UR5e, 125 Hz UR5), talking the UR ROS driver's topics, plus what a real cell gets from its
// operator and cameras (episode reset, success, images). Commands:
//  - forward position controller: Float64MultiArray with exactly 6 joint positions (rad), tracked by the
//    sim's position servos (servoj-like); other lengths are refused, as the real controller does;
//  - joint trajectory controller: JointTrajectory, joints mapped by name (trajectory-follower.ts);
//  - gripper: a separate std_msgs/Float64 topic, opening 0 closed .. 1 open (on a real UR the gripper is a
//    separate device too); its opening is published in /joint_states as the joint `gripper_joint`.
// Both motion controllers are live at once (the latest message wins); a real UR needs a controller switch.

import {
  defaultRosSettings,
  type RosSettings,
  UR_CONTROLLER_HZ,
  type UrRobotName,
} from '../../calibration/ros-settings.js';
import { finiteArray, header, type JointStateMsg, MSG_TYPES } from '../../protocols/ros/messages.js';
import type { Logger } from '../../src/telemetry/log.js';
import { monotonicMs } from '../../src/util/clock.js';
import { TickTimer } from '../../src/util/fixed-rate.js';
import { Rng } from '../../src/util/rng.js';
import { type SimArmState, SimEnv } from '../sim-env.js';
import { TASKS_BY_ROBOT, type TaskName } from '../tasks/index.js';
import { SimCameraPublisher } from './camera-publisher.js';
import type { RosbridgeServer, TopicPublisher } from './rosbridge-server.js';
import { TrajectoryFollower } from './trajectory-follower.js';

export interface UrCellOptions {
  robot: UrRobotName;
  task?: TaskName;
  /** Seed of the first episode (default 0). */
  seed?: number;
  settings?: RosSettings;
  /** Send /joint_states with the names in a new random order every message (clients must map by name). */
  shuffle_joint_names?: boolean;
  /** Cameras to publish (default: all of the robot's); [] for none. */
  cameras?: string[];
  /** Image width and height (px, default 224). */
  camera_size?: number;
  /** Camera frame rate (default 10 Hz, light for tests; `vla-sim serve` defaults to a real camera's 30; 0: none). */
  camera_hz?: number;
  /** Rate of /vla_sim/task_state (default 50 Hz, the runtime's rate). */
  task_state_hz?: number;
  /** Called with the monotonic receive time (src/util/clock.ts) of every accepted motion command (benchmarks). */
  on_command?: (t_mono_ms: number) => void;
  /** Keep every accepted motion command (joint order, rad) in `commands`: what tests check limits and steps on. */
  keep_commands?: boolean;
  log?: Logger;
}

/** The cell's fault knobs, also set over rosbridge by the service /vla_sim/faults (std_srvs-like, JSON args). */
export interface UrCellFaults {
  /** Stop publishing /joint_states while the connection stays (a hung robot driver). */
  joint_states_paused?: boolean;
  /** Lose every motion command (counted in commands_dropped): a controller that takes nothing. */
  drop_commands?: boolean;
  /** Stop publishing camera images while everything else goes on: the cell's cameras froze. */
  cameras_paused?: boolean;
}

export const FAULTS_SERVICE = '/vla_sim/faults';

const PHYSICS_HZ = 500;
const SPEED_SCALING_HZ = 100;

export class UrCell {
  readonly env: SimEnv;
  readonly controller_hz: number;
  readonly settings: RosSettings;
  /** Motion commands accepted (forward position or trajectory), and the last one (joint order, rad). */
  commands_received = 0;
  last_command: Float64Array | undefined;
  last_command_t_mono_ms = 0;
  joint_states_published = 0;
  commands_dropped = 0;
  /** Every accepted motion command with its receive time and the arm's joints then, when opts.keep_commands. */
  readonly commands: { t_mono_ms: number; q: Float64Array; arm_q: Float64Array }[] = [];
  private readonly clock: TickTimer;
  private readonly follower: TrajectoryFollower;
  private readonly target: Float64Array;
  private readonly action: Float64Array;
  private readonly state: SimArmState;
  private readonly names: string[];
  private readonly order: number[];
  private readonly rng: Rng;
  private readonly pub: Record<
    'joint_states' | 'program_running' | 'speed_scaling' | 'success' | 'task_state',
    TopicPublisher
  >;
  private readonly stopHandlers: (() => void)[] = [];
  private gripper = 1;
  private seed: number;
  private ticks = 0;
  private paused = false;
  private camerasPaused = false;
  private dropCommands = false;
  private programRunning = true;
  private successSent = false;

  private constructor(
    server: RosbridgeServer,
    env: SimEnv,
    private readonly opts: UrCellOptions,
    private readonly cameras: SimCameraPublisher | undefined,
  ) {
    this.env = env;
    this.settings = opts.settings ?? defaultRosSettings('ros2');
    this.controller_hz = env.control_hz;
    this.seed = opts.seed ?? 0;
    this.rng = new Rng(this.seed + 7919);
    this.follower = new TrajectoryFollower(this.settings.joint_names);
    this.target = new Float64Array(6);
    this.action = new Float64Array(env.action_dim);
    this.state = env.newState();
    this.names = [...this.settings.joint_names, this.settings.gripper_joint];
    this.order = this.names.map((_, i) => i);
    const t = this.settings.topics;
    this.pub = {
      joint_states: server.advertise(t.joint_states, MSG_TYPES.joint_state),
      program_running: server.advertise(t.program_running, MSG_TYPES.bool, { latch: true }),
      speed_scaling: server.advertise(t.speed_scaling, MSG_TYPES.float64),
      success: server.advertise(t.success, MSG_TYPES.bool, { latch: true }),
      task_state: server.advertise(t.task_state, MSG_TYPES.string, { latch: true }),
    };
    this.stopHandlers.push(
      server.onMessage(
        t.forward_position_commands,
        MSG_TYPES.float64_multi_array,
        (m) => this.onForward(m),
        '/forward_position_controller',
      ),
      server.onMessage(
        t.joint_trajectory,
        MSG_TYPES.joint_trajectory,
        (m) => this.onTrajectory(m),
        '/scaled_joint_trajectory_controller',
      ),
      server.onMessage(t.gripper_command, MSG_TYPES.float64, (m) => this.onGripper(m), '/vla_sim/gripper'),
    );
    server.advertiseService(t.reset_service, MSG_TYPES.trigger, (args) => this.onReset(args));
    server.advertiseService(FAULTS_SERVICE, MSG_TYPES.trigger, (args) => this.onFaults(args));
    // a real controller's fixed-period thread: every owed tick runs (a timer fires a period late at 500 Hz)
    this.clock = new TickTimer(1000 / this.controller_hz, () => this.tick(), 25);
  }

  static async start(server: RosbridgeServer, opts: UrCellOptions): Promise<UrCell> {
    const task = opts.task ?? TASKS_BY_ROBOT[opts.robot][0];
    const control_hz = UR_CONTROLLER_HZ[opts.robot];
    const env = await SimEnv.create({ robot: opts.robot, task, control_hz, physics_hz: PHYSICS_HZ });
    const cameraHz = opts.camera_hz ?? 10;
    const names = opts.cameras ?? env.cameraNames();
    let cameras: SimCameraPublisher | undefined;
    if (cameraHz > 0 && names.length > 0) {
      for (const n of names) env.camera(n, 1); // refuses an unknown camera name here, with the valid ones
      cameras = await SimCameraPublisher.start(
        server,
        {
          robot: opts.robot,
          task,
          physics_hz: PHYSICS_HZ,
          control_hz,
          cameras: names,
          size: opts.camera_size ?? 224,
        },
        opts.settings ?? defaultRosSettings('ros2'),
        opts.log,
      );
    }
    const cell = new UrCell(server, env, opts, cameras);
    cell.reset(cell.seed);
    cell.pub.program_running.publish({ data: true });
    cell.clock.start();
    return cell;
  }

  /** Stop publishing /joint_states (physics goes on): what a client sees when the robot's driver hangs. */
  pauseJointStates(paused: boolean): void {
    this.paused = paused;
  }

  /** Set some fault knobs; the others keep their values. */
  setFaults(f: UrCellFaults): void {
    if (f.joint_states_paused !== undefined) this.paused = f.joint_states_paused;
    if (f.drop_commands !== undefined) this.dropCommands = f.drop_commands;
    if (f.cameras_paused !== undefined) this.camerasPaused = f.cameras_paused;
  }

  /** The robot program stops (a protective stop, the pendant): the arm holds where it is and ignores commands. */
  setProgramRunning(running: boolean): void {
    if (!running) this.holdMeasured();
    this.programRunning = running;
    this.pub.program_running.publish({ data: running });
  }

  /** A new episode from `seed`: robot at home, objects placed from the seed, success cleared. */
  reset(seed: number): void {
    this.seed = seed;
    this.env.reset(seed);
    this.follower.cancel();
    this.target.set(this.env.description.home_rad);
    this.gripper = this.env.description.home_gripper[0];
    this.successSent = false;
    this.pub.success.publish({ data: false });
    this.publishTaskState();
  }

  get stats(): {
    ticks: number;
    slipped_ticks: number;
    joint_states_published: number;
    commands_received: number;
    camera_frames: number;
    camera_frames_skipped: number;
  } {
    return {
      ticks: this.ticks,
      slipped_ticks: this.clock.slipped_ticks,
      joint_states_published: this.joint_states_published,
      commands_received: this.commands_received,
      camera_frames: this.cameras?.frames_published ?? 0,
      camera_frames_skipped: this.cameras?.frames_skipped ?? 0,
    };
  }

  async stop(): Promise<void> {
    this.clock.stop();
    for (const h of this.stopHandlers) h();
    await this.cameras?.stop();
    this.env.dispose();
  }

  private get sim_time_s(): number {
    return this.env.tick / this.controller_hz;
  }

  private tick(): void {
    if (this.programRunning) this.follower.sample(this.sim_time_s, this.target);
    this.action.set(this.target);
    this.action[6] = this.gripper;
    this.env.applyAction(this.action);
    this.env.step();
    this.ticks++;
    if (!this.paused) this.publishJointStates();
    const every = (hz: number) =>
      hz > 0 &&
      Math.floor((this.ticks * hz) / this.controller_hz) !== Math.floor(((this.ticks - 1) * hz) / this.controller_hz);
    if (every(SPEED_SCALING_HZ))
      this.pub.speed_scaling.publish({ data: this.settings.speed_scaling_unit === 'percent' ? 100 : 1 });
    // latched, but refreshed only while someone reads it (reset() always publishes the new episode)
    if (every(this.opts.task_state_hz ?? 50) && this.pub.task_state.subscribers > 0) this.publishTaskState();
    if (this.env.success && !this.successSent) {
      this.successSent = true;
      this.pub.success.publish({ data: true });
    }
    if (this.cameras && !this.camerasPaused && every(this.opts.camera_hz ?? 10) && this.cameras.wanted)
      this.cameras.request(this.env.snapshot(), Date.now() / 1000);
  }

  private publishJointStates(): void {
    if (this.pub.joint_states.subscribers === 0) return;
    this.env.readState(this.state);
    const position = [...this.state.position_rad, this.state.gripper[0]];
    const velocity = [...this.state.velocity_rad_s, 0];
    if (this.opts.shuffle_joint_names) shuffle(this.order, this.rng);
    const msg: JointStateMsg = {
      header: header(this.settings.layout, Date.now() / 1000, this.joint_states_published),
      name: this.order.map((i) => this.names[i]),
      position: this.order.map((i) => position[i]),
      velocity: this.order.map((i) => velocity[i]),
      effort: [],
    };
    this.pub.joint_states.publish(msg);
    this.joint_states_published++;
  }

  private publishTaskState(): void {
    const data = JSON.stringify({
      ...this.env.taskState(),
      seed: this.seed,
      tick: this.env.tick,
      sim_time_s: this.sim_time_s,
      success: this.env.success,
    });
    this.pub.task_state.publish({ data });
  }

  private holdMeasured(): void {
    this.env.readState(this.state);
    this.follower.cancel();
    this.target.set(this.state.position_rad);
  }

  private acceptMotion(): boolean {
    if (this.dropCommands) {
      this.commands_dropped++;
      return false;
    }
    if (!this.programRunning) {
      this.opts.log?.debug('motion command ignored: the robot program is not running');
      return false;
    }
    return true;
  }

  private onForward(m: unknown): void {
    const data = finiteArray(
      (m as { data?: unknown }).data,
      `${this.settings.topics.forward_position_commands} data`,
      6,
    );
    if (!this.acceptMotion()) return;
    this.follower.cancel();
    this.target.set(data);
    this.noteCommand(data);
  }

  private onTrajectory(m: unknown): void {
    if (!this.acceptMotion()) return;
    this.follower.start(m, this.sim_time_s, this.target);
    const end = new Float64Array(6);
    this.follower.sample(Infinity, end);
    this.noteCommand(end);
  }

  private onGripper(m: unknown): void {
    const v = (m as { data?: unknown }).data;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new Error(`${this.settings.topics.gripper_command}: data is not a finite number`);
    if (this.acceptMotion()) this.gripper = Math.min(1, Math.max(0, v));
  }

  private noteCommand(q: ArrayLike<number>): void {
    this.commands_received++;
    this.last_command = Float64Array.from(q);
    this.last_command_t_mono_ms = monotonicMs();
    if (this.opts.keep_commands) {
      this.env.readState(this.state);
      const arm_q = Float64Array.from(this.state.position_rad);
      this.commands.push({ t_mono_ms: this.last_command_t_mono_ms, q: this.last_command, arm_q });
    }
    this.opts.on_command?.(this.last_command_t_mono_ms);
  }

  private onFaults(args: Record<string, unknown>): { success: boolean; message: string } {
    const f: UrCellFaults = {};
    for (const k of ['joint_states_paused', 'drop_commands', 'cameras_paused'] as const) {
      const v = args[k];
      if (v !== undefined && typeof v !== 'boolean') throw new Error(`${FAULTS_SERVICE}: ${k} must be true or false`);
      f[k] = v;
    }
    this.setFaults(f);
    const now = [`joint_states_paused ${this.paused}`, `drop_commands ${this.dropCommands}`];
    now.push(`cameras_paused ${this.camerasPaused}`);
    return { success: true, message: `faults: ${now.join(', ')}` };
  }

  private onReset(args: Record<string, unknown>): { success: boolean; message: string } {
    const s = args.seed;
    if (s !== undefined && !(typeof s === 'number' && Number.isInteger(s) && s >= 0)) {
      throw new Error(
        `${this.settings.topics.reset_service}: seed must be a non-negative integer, got ${JSON.stringify(s)}`,
      );
    }
    const seed = s ?? this.seed + 1;
    this.reset(seed);
    this.opts.log?.info({ seed }, 'episode reset');
    return { success: true, message: `reset to seed ${seed}` };
  }
}

function shuffle(a: number[], rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}
