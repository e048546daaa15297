// The two ROS generations a UR cell may run. Message types and topic names differ between them
// (protocols/ros/messages.ts, calibration/ros-settings.ts); everything else about a cell is the same.
export const ROS_LAYOUTS = ['ros2', 'ros1'] as const;
export type RosLayout = (typeof ROS_LAYOUTS)[number];
