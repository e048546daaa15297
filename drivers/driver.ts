// The contract between the runtime and a robot. A driver only reads state and writes commands, like a
// ros2_control hardware interface: limits, timing, buffering and safety live in the runtime above it,
// in one place for every robot.
import type { Observable } from 'rxjs';

export interface JointState {
  /** Control tick this state was measured at (ticks since connect or the last reset). */
  tick: number;
  /** Monotonic time of the measurement (ms; src/util/clock.ts, the same in every thread). */
  t_mono_ms: number;
  /** Arm joints in action order (rad). */
  position_rad: Float64Array;
  velocity_rad_s: Float64Array;
  /** One per gripper, 0 closed .. 1 open. */
  gripper: Float64Array;
}

export interface CameraInfo {
  name: string;
  width: number;
  height: number;
}

export interface RobotDescription {
  robot: string;
  /** True for the embedded simulation and the protocol simulators. */
  sim: boolean;
  joint_names: string[];
  gripper_names: string[];
  /** The action vector: per arm its joint targets (rad) then its gripper (0 closed .. 1 open). */
  action_names: string[];
  position_limits_rad: [number, number][];
  velocity_limits_rad_s: number[];
  control_hz: number;
  cameras: CameraInfo[];
}

export interface Driver {
  describe(): RobotDescription;
  connect(): Promise<void>;
  /** Joint state, once per control tick. */
  readonly state$: Observable<JointState>;
  /** Command one action (layout of describe().action_names); called once per tick. */
  send(action: Float64Array): void;
  /**
   * Stop where the robot is: command the measured joint positions; grippers keep their last command
   * (a gripper squeezing an object measures part-open, and that opening as a goal would drop it).
   */
  hold(): void;
  disconnect(): Promise<void>;
}
