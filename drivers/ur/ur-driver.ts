// A UR5/UR5e through rosbridge (roslib): reads /joint_states (mapped by joint name), the robot program
// state and speed scaling; writes joint positions every tick to the forward position controller
// (servoj-like streaming) or, in trajectory mode, one-point trajectories with time_from_start = dt.
// The gripper is commanded on its own topic (std_msgs/Float64, 0 closed .. 1 open).
//
// Faults, and what the driver does about them (limits and rate checks live in the runtime, not here):
//  - no /joint_states for stale_state_ms: hold, status 'stale';
//  - robot program not running: hold, status 'program_stopped';
//  - connection lost: status 'disconnected', the last measurement is forgotten, RosConnection reconnects
//    with back-off; motion resumes only after a /joint_states message has arrived on the new connection;
//  - refused (or silent) at start: connect() throws RosConnectionError and nothing is ever sent.
// Hold = command the measured joint positions, and only from a fresh measurement over an open
// connection; otherwise nothing is sent and the UR's own receive timeout stops the arm.
import { BehaviorSubject, Subject, type Observable, type Subscription } from 'rxjs';
import { Topic } from './roslib.js';
import type { CameraInfo, Driver, JointState, RobotDescription } from '../driver.js';
import { RosConnection, RosConnectionError } from './ros-connection.js';
import { JointStateReader, type MeasuredJoints } from './joint-state-reader.js';
import { float64MultiArray, MSG_TYPES, onePointTrajectory } from './ros-messages.js';
import { defaultRosSettings, type RosSettings, type UrRobotName } from '../../calibration/ros-settings.js';
import { actionNames, robotModel } from '../../sim/robots/index.js';
import { monotonicMs } from '../../src/util/clock.js';
import type { Logger } from '../../src/telemetry/log.js';

export { RosConnectionError };

export type UrDriverStatus = 'connecting' | 'ok' | 'stale' | 'program_stopped' | 'disconnected' | 'closed';

export interface UrStatusEvent {
  status: UrDriverStatus;
  reason: string;
  t_mono_ms: number;
}

export interface UrDriverOptions {
  robot: UrRobotName;
  /** Topics, fault timings, command mode (default: the ROS 2 layout). */
  settings?: RosSettings;
  /** rosbridge URL (default: settings.url). */
  url?: string;
  /** The runtime's tick rate: dt of trajectory mode and describe().control_hz (default 50). */
  control_hz?: number;
  /** Reported by describe(); the driver itself does not read cameras (see drivers/cameras). */
  cameras?: CameraInfo[];
  /** The far end is the simulated endpoint (reported by describe()). */
  sim?: boolean;
  log?: Logger;
}

export interface UrFaultCounters {
  stale_states: number;
  program_stops: number;
  disconnects: number;
  reconnects: number;
  /** send() calls that were turned into a hold because of a fault. */
  held_ticks: number;
  /** /joint_states messages that could not be read (a joint missing, a bad number). */
  bad_states: number;
}

const WATCHDOG_DIVISOR = 4;

export class UrDriver implements Driver {
  readonly state$: Observable<JointState>;
  readonly status$: Observable<UrStatusEvent>;
  readonly faults: UrFaultCounters = { stale_states: 0, program_stops: 0, disconnects: 0, reconnects: 0, held_ticks: 0, bad_states: 0 };
  readonly settings: RosSettings;
  readonly url: string;
  /** Joint commands put on the wire (streamed, trajectory or hold), for send-time bookkeeping. */
  commands_published = 0;
  private readonly states = new Subject<JointState>();
  private readonly statuses: BehaviorSubject<UrStatusEvent>;
  private readonly reader: JointStateReader;
  private readonly measured: MeasuredJoints = { position_rad: new Float64Array(6), velocity_rad_s: new Float64Array(6), gripper: NaN };
  private readonly control_hz: number;
  private conn: RosConnection | undefined;
  private connSub: Subscription | undefined;
  private topics: { joint_states: Topic; program: Topic; scaling: Topic; command: Topic; gripper: Topic } | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  /** Receive time of the last good /joint_states on the current connection; undefined = none yet. */
  private measured_t_mono_ms: number | undefined;
  private gripperCommand: number;
  private tick = 0;
  private program: boolean | undefined;
  private scaling: number | undefined;
  private onFirstState: (() => void) | undefined;

  constructor(private readonly opts: UrDriverOptions) {
    this.settings = opts.settings ?? defaultRosSettings('ros2');
    this.url = opts.url ?? this.settings.url;
    this.control_hz = opts.control_hz ?? 50;
    this.reader = new JointStateReader(this.settings.joint_names, this.settings.gripper_joint);
    this.gripperCommand = robotModel(opts.robot).home_gripper[0];
    this.state$ = this.states.asObservable();
    this.statuses = new BehaviorSubject<UrStatusEvent>({ status: 'disconnected', reason: 'not connected yet', t_mono_ms: monotonicMs() });
    this.status$ = this.statuses.asObservable();
  }

  describe(): RobotDescription {
    const model = robotModel(this.opts.robot);
    const links = model.arms[0].links;
    return {
      robot: this.opts.robot,
      sim: this.opts.sim ?? false,
      joint_names: links.map((l) => l.joint),
      gripper_names: ['gripper'],
      action_names: actionNames(model),
      position_limits_rad: links.map((l) => [...l.range_rad] as [number, number]),
      velocity_limits_rad_s: links.map((l) => l.max_velocity_rad_s),
      control_hz: this.control_hz,
      cameras: this.opts.cameras ?? [],
    };
  }

  get status(): UrDriverStatus { return this.statuses.value.status; }
  /** Robot program state as last published (undefined: the topic has said nothing, taken as running). */
  get programRunning(): boolean | undefined { return this.program; }
  /** Speed scaling as a fraction (1 = full speed), undefined until published. */
  get speedScaling(): number | undefined { return this.scaling; }
  /** The connection, e.g. to read ROS camera topics over the same socket. */
  get connection(): RosConnection | undefined { return this.conn; }

  /** The freshest measurement (as received; t_mono_ms = receive time), or undefined after a connection loss. */
  latestState(): JointState | undefined {
    if (this.measured_t_mono_ms === undefined) return undefined;
    return {
      tick: this.tick,
      t_mono_ms: this.measured_t_mono_ms,
      position_rad: Float64Array.from(this.measured.position_rad),
      velocity_rad_s: Float64Array.from(this.measured.velocity_rad_s),
      gripper: Float64Array.of(Number.isNaN(this.measured.gripper) ? this.gripperCommand : this.measured.gripper),
    };
  }

  /** Connect and wait for the first /joint_states; throws RosConnectionError (nothing sent) when either fails. */
  async connect(): Promise<void> {
    if (this.conn) return;
    const s = this.settings;
    this.setStatus('connecting', `connecting to ${this.url}`);
    let conn: RosConnection;
    try {
      conn = await RosConnection.open({
        url: this.url, connect_timeout_ms: s.connect_timeout_ms, reconnect_initial_ms: s.reconnect_initial_ms, reconnect_max_ms: s.reconnect_max_ms, log: this.opts.log,
      });
    } catch (err) {
      this.setStatus('disconnected', (err as Error).message);
      throw err;
    }
    const ros = conn.ros;
    const trajectory = s.command_mode === 'trajectory';
    this.topics = {
      joint_states: new Topic({ ros, name: s.topics.joint_states, messageType: MSG_TYPES.joint_state }),
      program: new Topic({ ros, name: s.topics.program_running, messageType: MSG_TYPES.bool }),
      scaling: new Topic({ ros, name: s.topics.speed_scaling, messageType: MSG_TYPES.float64 }),
      command: trajectory
        ? new Topic({ ros, name: s.topics.joint_trajectory, messageType: MSG_TYPES.joint_trajectory, queue_size: 1 })
        : new Topic({ ros, name: s.topics.forward_position_commands, messageType: MSG_TYPES.float64_multi_array, queue_size: 1 }),
      gripper: new Topic({ ros, name: s.topics.gripper_command, messageType: MSG_TYPES.float64, queue_size: 1 }),
    };
    const first = new Promise<void>((resolve) => { this.onFirstState = resolve; });
    this.topics.joint_states.subscribe((m) => this.onJointState(m));
    this.topics.program.subscribe((m) => this.onProgram(m));
    this.topics.scaling.subscribe((m) => this.onScaling(m));
    this.conn = conn;
    this.connSub = conn.events$.subscribe((e) => {
      if (e.type === 'disconnected') {
        // never command from a measurement of the old connection: wait for a new one
        this.measured_t_mono_ms = undefined;
        this.faults.disconnects++;
        this.setStatus('disconnected', `connection to ${this.url} lost: ${e.reason}`);
      } else if (e.type === 'connected') {
        if (e.reconnect) this.faults.reconnects++;
        this.setStatus('connecting', 'reconnected; waiting for a fresh /joint_states');
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), s.connect_timeout_ms); });
    const late = await Promise.race([first.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      await this.disconnect();
      throw new RosConnectionError(`connected to ${this.url}, but no usable ${s.topics.joint_states} (joints ${s.joint_names.join(', ')}) arrived within ${s.connect_timeout_ms} ms: is the UR driver running, and are the topic and joint names right?`);
    }
    this.watchdog = setInterval(() => this.evaluate(monotonicMs()), s.stale_state_ms / WATCHDOG_DIVISOR);
    this.watchdog.unref();
    this.emitState();
  }

  send(action: Float64Array): void {
    if (action.length !== 7) throw new Error(`action has ${action.length} values, ${this.opts.robot} expects 7 (6 joints + gripper)`);
    this.tick++;
    if (this.evaluate(monotonicMs()) === 'ok') {
      this.publishJoints(action.subarray(0, 6));
      this.gripperCommand = Math.min(1, Math.max(0, action[6]));
      this.topics!.gripper.publish({ data: this.gripperCommand });
    } else {
      this.faults.held_ticks++;
      this.publishHold();
    }
    this.emitState();
  }

  hold(): void {
    this.tick++;
    this.evaluate(monotonicMs());
    this.publishHold();
    this.emitState();
  }

  /** A new episode: ticks count from 0 again (the JointState contract: since connect or the last reset). */
  restartTicks(): void {
    this.tick = 0;
  }

  async disconnect(): Promise<void> {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.connSub?.unsubscribe();
    if (this.topics) for (const t of [this.topics.joint_states, this.topics.program, this.topics.scaling]) t.unsubscribe();
    await this.conn?.close();
    this.conn = undefined;
    this.topics = undefined;
    this.measured_t_mono_ms = undefined;
    this.setStatus('closed', 'disconnected by the caller');
    this.states.complete();
    this.statuses.complete();
  }

  /** The status now, reported on status$ when it changes. */
  private evaluate(now: number): UrDriverStatus {
    const st = this.status;
    if (st === 'closed' || !this.conn) return st;
    if (!this.conn.connected) return st === 'disconnected' ? st : this.setStatus('disconnected', 'connection lost');
    if (this.measured_t_mono_ms === undefined) return st === 'connecting' ? st : this.setStatus('connecting', 'waiting for /joint_states');
    const age = now - this.measured_t_mono_ms;
    if (age > this.settings.stale_state_ms) {
      if (st !== 'stale') this.faults.stale_states++;
      return st === 'stale' ? st : this.setStatus('stale', `no ${this.settings.topics.joint_states} for ${age.toFixed(0)} ms`);
    }
    if (this.program === false) {
      if (st !== 'program_stopped') this.faults.program_stops++;
      return st === 'program_stopped' ? st : this.setStatus('program_stopped', 'the robot program is not running');
    }
    return st === 'ok' ? st : this.setStatus('ok', 'fresh state');
  }

  private setStatus(status: UrDriverStatus, reason: string): UrDriverStatus {
    if (this.statuses.closed) return status;
    if (status !== 'ok') this.opts.log?.warn({ status, reason }, 'UR driver holds');
    else this.opts.log?.info({ reason }, 'UR driver ready');
    this.statuses.next({ status, reason, t_mono_ms: monotonicMs() });
    return status;
  }

  /** Command the measured position, but only from a fresh measurement over an open connection. */
  private publishHold(): void {
    const t = this.measured_t_mono_ms;
    if (t === undefined || monotonicMs() - t > this.settings.stale_state_ms) return;
    this.publishJoints(this.measured.position_rad);
  }

  private publishJoints(q: Float64Array): void {
    // roslib would queue a message sent while disconnected and deliver it, stale, after a reconnect
    if (!this.conn?.connected || !this.topics) return;
    const s = this.settings;
    this.topics.command.publish(s.command_mode === 'trajectory'
      ? onePointTrajectory(s.layout, s.joint_names, q, 1 / this.control_hz)
      : float64MultiArray(q));
    this.commands_published++;
  }

  private onJointState(msg: unknown): void {
    try {
      this.reader.read(msg, this.measured);
    } catch (err) {
      if (this.faults.bad_states++ % 500 === 0) this.opts.log?.warn({ err: (err as Error).message }, 'unusable /joint_states');
      return;
    }
    this.measured_t_mono_ms = monotonicMs();
    if (this.onFirstState) {
      this.onFirstState();
      this.onFirstState = undefined;
    }
    if (this.status !== 'ok') this.evaluate(this.measured_t_mono_ms);
  }

  private onProgram(msg: unknown): void {
    const v = (msg as { data?: unknown }).data;
    if (typeof v === 'boolean') this.program = v;
    this.evaluate(monotonicMs());
  }

  private onScaling(msg: unknown): void {
    const v = (msg as { data?: unknown }).data;
    if (typeof v === 'number' && Number.isFinite(v)) this.scaling = this.settings.speed_scaling_unit === 'percent' ? v / 100 : v;
  }

  private emitState(): void {
    const s = this.latestState();
    if (s) this.states.next(s);
  }
}
