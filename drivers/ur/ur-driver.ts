// A UR5/UR5e through rosbridge (roslib): reads /joint_states (mapped by joint name), the robot program
// state and speed scaling; writes joint positions every tick to the forward position controller
// (servoj-like streaming) or, in trajectory mode, one-point trajectories with time_from_start = dt. The
// gripper is commanded on its own topic (std_msgs/Float64, 0 closed .. 1 open).
//
// Lifecycle:
//  - configure: connect (a refused or silent server is a DriverSetupError, nothing sent), advertise the
//    command topics at once (rosbridge would otherwise create the ROS publisher on the first command, and
//    the controller's subscription would miss or bunch the first commands), wait for /joint_states, and
//    ask rosapi whether anyone subscribes to the command topic (nobody: the controller is not loaded or
//    the topic names are another ROS version's: refused; rosapi absent: a warning);
//  - activate: a fresh /joint_states and a running robot program (its status must have been published);
//  - read: the freshest measurement and the link's health (connecting, disconnected, program_stopped);
//    how old a measurement may be is the runtime's rule, not the driver's.
// roslib does not reconnect by itself: RosConnection does, with back-off; a measurement of a lost
// connection is never handed out again.

import type { RosSettings } from '../../calibration/ros-settings.js';
import { float64MultiArray, MSG_TYPES, onePointTrajectory } from '../../protocols/ros/messages.js';
import type { RobotDescription } from '../../src/robot/index.js';
import type { Logger } from '../../src/telemetry/log.js';
import { monotonicMs } from '../../src/util/clock.js';
import type { Driver, Health, JointState } from '../driver.js';
import { DriverSetupError } from '../driver.js';

/** Time after advertising before the first command (ms): ROS connects a publisher's subscribers in tens of ms. */
export const PUBLISHER_SETTLE_MS = 250;

import { JointStateReader, type MeasuredJoints } from './joint-state-reader.js';
import { RosConnection, RosConnectionError } from './ros-connection.js';
import { askSubscribers } from './rosapi.js';
import { Topic } from './roslib.js';

export { RosConnectionError };

export interface UrDriverOptions {
  description: RobotDescription;
  settings: RosSettings;
  /** rosbridge URL (default: settings.url). */
  url?: string;
  log?: Logger;
}

export interface UrFaultCounters {
  program_stops: number;
  disconnects: number;
  reconnects: number;
  /** /joint_states messages read (throttled by rosbridge: see joint_states_throttle_ms). */
  states_received: number;
  /** /joint_states messages that could not be read (a joint missing, a bad number). */
  bad_states: number;
  /** Commands put on the wire (streamed or trajectory). */
  commands_published: number;
}

type Topics = { joint_states: Topic; program: Topic; scaling: Topic; command: Topic; gripper: Topic };

export class UrDriver implements Driver {
  readonly description: RobotDescription;
  readonly settings: RosSettings;
  readonly url: string;
  readonly faults: UrFaultCounters = {
    program_stops: 0,
    disconnects: 0,
    reconnects: 0,
    states_received: 0,
    bad_states: 0,
    commands_published: 0,
  };
  /** Monotonic time each command was put on the wire is reported here (benchmarks), if set. */
  onPublish: ((t_mono_ms: number) => void) | undefined;
  private readonly reader: JointStateReader;
  private readonly measured: MeasuredJoints;
  private readonly dt_s: number;
  private conn: RosConnection | undefined;
  private topics: Topics | undefined;
  /** Receive time of the last good /joint_states on the current connection; undefined = none yet. */
  private measured_t_mono_ms: number | undefined;
  private gripperCommand: number;
  private program: boolean | undefined;
  private scaling: number | undefined;
  private lastProblem = 'not connected yet';
  private onFirstState: (() => void) | undefined;

  constructor(private readonly opts: UrDriverOptions) {
    this.description = opts.description;
    this.settings = opts.settings;
    this.url = opts.url ?? this.settings.url;
    this.dt_s = 1 / opts.description.control_hz;
    this.reader = new JointStateReader(this.settings.joint_names, this.settings.gripper_joint);
    this.measured = { position_rad: new Float64Array(6), velocity_rad_s: new Float64Array(6), gripper: NaN };
    this.gripperCommand = opts.description.home_gripper[0];
  }

  /** Robot program state as last published (undefined: not published yet). */
  get programRunning(): boolean | undefined {
    return this.program;
  }
  /** Speed scaling as a fraction (1 = full speed), undefined until published. */
  get speedScaling(): number | undefined {
    return this.scaling;
  }
  get connection(): RosConnection | undefined {
    return this.conn;
  }

  async configure(): Promise<void> {
    if (this.conn) return;
    const s = this.settings;
    let conn: RosConnection;
    try {
      conn = await RosConnection.open({
        url: this.url,
        connect_timeout_ms: s.connect_timeout_ms,
        reconnect_initial_ms: s.reconnect_initial_ms,
        reconnect_max_ms: s.reconnect_max_ms,
        log: this.opts.log,
      });
    } catch (err) {
      throw new DriverSetupError((err as Error).message);
    }
    this.conn = conn;
    const advertised_at = monotonicMs();
    this.topics = this.createTopics(conn);
    conn.events$.subscribe((e) => this.onConnection(e));
    try {
      await this.firstJointState();
      await this.checkCommandSubscribers();
      // a ROS publisher's subscribers connect some time after it is advertised, and what it publishes before
      // is lost (rosbridge does the same): on a fast start, wait out the rest of that time before any command
      const settle = advertised_at + PUBLISHER_SETTLE_MS - monotonicMs();
      if (settle > 0) await new Promise((r) => setTimeout(r, settle));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async activate(): Promise<string | undefined> {
    if (!this.conn?.connected) return `no connection to ${this.url}`;
    if (this.measured_t_mono_ms === undefined)
      return `no ${this.settings.topics.joint_states} on the current connection`;
    if (this.program === undefined) {
      return (
        `no robot program status on ${this.settings.topics.program_running}: is the UR driver running, and are the ` +
        `topic names ` +
        `this ROS version's (--ros-layout ${this.settings.layout === 'ros2' ? 'ros1' : 'ros2'})?`
      );
    }
    if (!this.program) return 'the robot program is not running (start it on the teach pendant)';
    return undefined;
  }

  read(into: JointState): Health {
    const t = this.measured_t_mono_ms;
    if (t === undefined) {
      into.t_mono_ms = -Infinity;
    } else {
      into.position_rad.set(this.measured.position_rad);
      into.velocity_rad_s.set(this.measured.velocity_rad_s);
      into.gripper[0] = Number.isNaN(this.measured.gripper) ? this.gripperCommand : this.measured.gripper;
      into.t_mono_ms = t;
    }
    if (!this.conn?.connected) return this.fault('disconnected', `connection to ${this.url} lost`);
    if (t === undefined) return this.fault('connecting', `waiting for ${this.settings.topics.joint_states}`);
    if (this.program === false) return this.fault('program_stopped', 'the robot program is not running');
    return 'ok';
  }

  problem(): string {
    return this.lastProblem;
  }

  write(command: Float64Array | null): void {
    // roslib would queue a message sent while disconnected and deliver it, stale, after a reconnect
    if (command === null || !this.conn?.connected || !this.topics) return;
    const s = this.settings;
    const q = command.subarray(0, 6);
    this.topics.command.publish(
      s.command_mode === 'trajectory'
        ? onePointTrajectory(s.layout, s.joint_names, q, this.dt_s)
        : float64MultiArray(q),
    );
    this.gripperCommand = command[6];
    this.topics.gripper.publish({ data: this.gripperCommand });
    this.faults.commands_published++;
    this.onPublish?.(monotonicMs());
  }

  async deactivate(): Promise<void> {}

  async close(): Promise<void> {
    if (this.topics) {
      for (const t of [this.topics.joint_states, this.topics.program, this.topics.scaling]) t.unsubscribe();
      for (const t of [this.topics.command, this.topics.gripper]) if (this.conn?.connected) t.unadvertise();
    }
    await this.conn?.close();
    this.conn = undefined;
    this.topics = undefined;
    this.measured_t_mono_ms = undefined;
  }

  counters(): Record<string, number> {
    return { ...this.faults };
  }

  private fault(h: Health, why: string): Health {
    this.lastProblem = why;
    return h;
  }

  private createTopics(conn: RosConnection): Topics {
    const s = this.settings;
    const ros = conn.ros;
    const topics: Topics = {
      // queue_length 0: rosbridge drops what arrives within the throttle period rather than queueing it
      joint_states: new Topic({
        ros,
        name: s.topics.joint_states,
        messageType: MSG_TYPES.joint_state,
        throttle_rate: s.joint_states_throttle_ms,
        queue_length: 0,
      }),
      program: new Topic({ ros, name: s.topics.program_running, messageType: MSG_TYPES.bool }),
      scaling: new Topic({ ros, name: s.topics.speed_scaling, messageType: MSG_TYPES.float64 }),
      command:
        s.command_mode === 'trajectory'
          ? new Topic({ ros, name: s.topics.joint_trajectory, messageType: MSG_TYPES.joint_trajectory, queue_size: 1 })
          : new Topic({
              ros,
              name: s.topics.forward_position_commands,
              messageType: MSG_TYPES.float64_multi_array,
              queue_size: 1,
            }),
      gripper: new Topic({ ros, name: s.topics.gripper_command, messageType: MSG_TYPES.float64, queue_size: 1 }),
    };
    // now, not on the first command: the controllers' subscriptions connect while we wait for state
    topics.command.advertise();
    topics.gripper.advertise();
    topics.joint_states.subscribe((m) => this.onJointState(m));
    topics.program.subscribe((m) => this.onProgram(m));
    topics.scaling.subscribe((m) => this.onScaling(m));
    return topics;
  }

  private async firstJointState(): Promise<void> {
    const s = this.settings;
    const first = new Promise<void>((resolve) => {
      this.onFirstState = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), s.connect_timeout_ms);
    });
    const late = await Promise.race([first.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      throw new DriverSetupError(
        `connected to ${this.url}, but no usable ${s.topics.joint_states} (joints ${s.joint_names.join(', ')}) ` +
          `arrived within ` +
          `${s.connect_timeout_ms} ms: is the UR driver running, and are the topic and joint names right?`,
      );
    }
  }

  /** Nobody subscribes to the command topic: every command would be lost. rosapi tells; without it, a warning. */
  private async checkCommandSubscribers(): Promise<void> {
    const s = this.settings;
    const topic = s.command_mode === 'trajectory' ? s.topics.joint_trajectory : s.topics.forward_position_commands;
    const answer = await askSubscribers(this.conn!.ros, topic, s.connect_timeout_ms);
    if (answer.kind === 'unavailable') {
      this.opts.log?.warn(
        { topic, why: answer.why },
        'cannot ask rosapi who subscribes to the command topic; make sure its controller is running',
      );
      return;
    }
    if (answer.subscribers.length === 0) {
      throw new DriverSetupError(
        `nobody subscribes to ${topic} on ${this.url}: is its controller loaded, and are these the topic names of ` +
          `this ` +
          `ROS version (--ros-layout ${s.layout === 'ros2' ? 'ros1' : 'ros2'})? Nothing was commanded`,
      );
    }
  }

  private onConnection(e: { type: string; reason?: string; reconnect?: boolean }): void {
    if (e.type === 'disconnected') {
      // never command from a measurement of the old connection: wait for a new one
      this.measured_t_mono_ms = undefined;
      this.faults.disconnects++;
    } else if (e.type === 'connected' && e.reconnect) {
      this.faults.reconnects++;
    }
  }

  private onJointState(msg: unknown): void {
    try {
      this.reader.read(msg, this.measured);
    } catch (err) {
      if (this.faults.bad_states++ % 500 === 0)
        this.opts.log?.warn({ err: (err as Error).message }, 'unusable /joint_states');
      return;
    }
    this.measured_t_mono_ms = monotonicMs();
    this.faults.states_received++;
    this.onFirstState?.();
    this.onFirstState = undefined;
  }

  private onProgram(msg: unknown): void {
    const v = (msg as { data?: unknown }).data;
    if (typeof v !== 'boolean') return;
    if (this.program !== false && !v) this.faults.program_stops++;
    this.program = v;
  }

  private onScaling(msg: unknown): void {
    const v = (msg as { data?: unknown }).data;
    if (typeof v === 'number' && Number.isFinite(v))
      this.scaling = this.settings.speed_scaling_unit === 'percent' ? v / 100 : v;
  }
}
