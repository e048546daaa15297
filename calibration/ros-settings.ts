// ROS settings of a UR cell: where the rosbridge server is, which topics the UR ROS driver (or the
// simulated endpoint) uses, and how the UR driver treats faults. The ROS 1 (ur_robot_driver, Noetic) and
// ROS 2 (Universal_Robots_ROS2_Driver) layouts differ in controller and topic names, so both are
// defaults here; a user's JSON overrides any field and is validated with the field that is wrong named.
// Meant as the `ros` section of a UR robot profile.
import { z } from 'zod';
import { ROS_LAYOUTS, type RosLayout } from '../protocols/ros/layout.js';

/** UR controller update rates: e-Series 500 Hz, CB3 125 Hz (the rate of /joint_states). */
export const UR_CONTROLLER_HZ = { ur5e: 500, ur5: 125 } as const;
export type UrRobotName = keyof typeof UR_CONTROLLER_HZ;

const TopicName = z.string().regex(/^\/[A-Za-z0-9_/]*[A-Za-z0-9_]$/, 'a ROS name like /joint_states');

export const RosTopicsSchema = z
  .object({
    joint_states: TopicName,
    /** std_msgs/Float64MultiArray, exactly 6 joint positions (rad): servoj-like streaming. */
    forward_position_commands: TopicName,
    /** trajectory_msgs/JointTrajectory of the (scaled) joint trajectory controller. */
    joint_trajectory: TopicName,
    /** std_msgs/Bool, latched. */
    program_running: TopicName,
    /** std_msgs/Float64, see speed_scaling_unit. */
    speed_scaling: TopicName,
    /** std_msgs/Float64, gripper opening 0 closed .. 1 open (a separate device, like a Robotiq on a UR). */
    gripper_command: TopicName,
    /** Service (std_srvs/Trigger-like, args may carry {seed}): start a new sim episode. */
    reset_service: TopicName,
    /** std_msgs/Bool, latched: the sim task has succeeded this episode. */
    success: TopicName,
    /** std_msgs/String with JSON (object poses, target): privileged, for scripted experts only. */
    task_state: TopicName,
    /** Cameras publish sensor_msgs/CompressedImage on `<camera_prefix>/<name>/image_raw/compressed`. */
    camera_prefix: TopicName,
  })
  .strict();

/** The fields, without the cross-field checks (robot profiles take any subset of them). */
export const RosSettingsBaseSchema = z
  .object({
    layout: z.enum(ROS_LAYOUTS),
    /** rosbridge server, ws://host:port. */
    url: z.string().regex(/^wss?:\/\/[^\s/]+(:\d+)?(\/\S*)?$/, 'a WebSocket URL like ws://127.0.0.1:9090'),
    /** Arm joints in action order; /joint_states is mapped to this order by name. */
    joint_names: z.array(z.string().min(1)).length(6),
    /** Name of the gripper in /joint_states, where the cell publishes it (position = opening 0..1). */
    gripper_joint: z.string().min(1),
    topics: RosTopicsSchema,
    speed_scaling_unit: z.enum(['percent', 'fraction']),
    /** forward_position: stream every tick; trajectory: one-point trajectories with time_from_start = dt. */
    command_mode: z.enum(['forward_position', 'trajectory']),
    /** No /joint_states for this long: hold and report. */
    stale_state_ms: z.number().positive().max(10_000),
    /**
     * rosbridge sends /joint_states at most once per this many ms (its throttle_rate; 0: every message).
     * The e-Series publishes at 500 Hz, ten times the control rate: every message is a JSON parse in the
     * control thread. At 10 ms it parses a fifth as much, and its resident heap was 8 MB smaller (25 -> 17 MB,
     * soak); the newest state is still at most one period plus transit old.
     */
    joint_states_throttle_ms: z.number().int().min(0).max(1000),
    /** Reconnect back-off after the connection is lost: doubles from initial to max. */
    reconnect_initial_ms: z.number().positive(),
    reconnect_max_ms: z.number().positive(),
    /** How long connect() waits for the socket and then for the first /joint_states. */
    connect_timeout_ms: z.number().positive(),
  })
  .strict();

export const RosSettingsSchema = RosSettingsBaseSchema.refine((s) => s.reconnect_initial_ms <= s.reconnect_max_ms, {
  message: 'reconnect_initial_ms must not exceed reconnect_max_ms',
  path: ['reconnect_initial_ms'],
}).refine((s) => s.joint_states_throttle_ms * 4 <= s.stale_state_ms, {
  // a throttle near stale_state_ms would make every other state look stale and hold the robot
  message: 'joint_states_throttle_ms must be at most a quarter of stale_state_ms',
  path: ['joint_states_throttle_ms'],
});

export type RosTopics = z.infer<typeof RosTopicsSchema>;
export type RosSettings = z.infer<typeof RosSettingsSchema>;

const UR_JOINTS = [
  'shoulder_pan_joint',
  'shoulder_lift_joint',
  'elbow_joint',
  'wrist_1_joint',
  'wrist_2_joint',
  'wrist_3_joint',
];

/** The sim-only parts (reset, success, task state) and the gripper are ours, the same in both layouts. */
const SIM_TOPICS = {
  gripper_command: '/vla_sim/gripper/command',
  reset_service: '/vla_sim/reset',
  success: '/vla_sim/success',
  task_state: '/vla_sim/task_state',
  camera_prefix: '/camera',
};

const TOPICS: Record<RosLayout, RosTopics> = {
  ros2: {
    joint_states: '/joint_states',
    forward_position_commands: '/forward_position_controller/commands',
    joint_trajectory: '/scaled_joint_trajectory_controller/joint_trajectory',
    program_running: '/io_and_status_controller/robot_program_running',
    speed_scaling: '/speed_scaling_state_broadcaster/speed_scaling',
    ...SIM_TOPICS,
  },
  ros1: {
    joint_states: '/joint_states',
    // ros_control group controllers take `command` (singular); this one must be loaded on the robot side
    forward_position_commands: '/joint_group_pos_controller/command',
    joint_trajectory: '/scaled_pos_joint_traj_controller/command',
    program_running: '/ur_hardware_interface/robot_program_running',
    speed_scaling: '/speed_scaling_factor',
    ...SIM_TOPICS,
  },
};

export function defaultRosSettings(layout: RosLayout = 'ros2'): RosSettings {
  return {
    layout,
    url: 'ws://127.0.0.1:9090',
    joint_names: [...UR_JOINTS],
    gripper_joint: 'gripper',
    topics: { ...TOPICS[layout] },
    speed_scaling_unit: layout === 'ros2' ? 'percent' : 'fraction',
    command_mode: 'forward_position',
    stale_state_ms: 100,
    joint_states_throttle_ms: 10,
    reconnect_initial_ms: 100,
    reconnect_max_ms: 2000,
    connect_timeout_ms: 3000,
  };
}

export class RosSettingsError extends Error {}

/**
 * Defaults of `layout` with a user's overrides (a parsed JSON object; `topics` is merged field by field),
 * validated. Throws RosSettingsError naming every wrong field.
 */
export function resolveRosSettings(overrides: unknown = {}, layout?: RosLayout): RosSettings {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw new RosSettingsError('ros settings must be a JSON object');
  }
  const o = overrides as Partial<Record<keyof RosSettings, unknown>>;
  const chosen = layout ?? (o.layout === 'ros1' ? 'ros1' : 'ros2');
  const base = defaultRosSettings(chosen);
  const topics =
    typeof o.topics === 'object' && o.topics !== null ? { ...base.topics, ...o.topics } : (o.topics ?? base.topics);
  const parsed = RosSettingsSchema.safeParse({ ...base, ...o, layout: chosen, topics });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new RosSettingsError(`invalid ros settings: ${issues}`);
  }
  return parsed.data;
}

/** The CompressedImage topic of camera `name`. */
export function cameraTopic(settings: Pick<RosSettings, 'topics'>, name: string): string {
  return `${settings.topics.camera_prefix}/${name}/image_raw/compressed`;
}
