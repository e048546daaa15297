// The robot description: the one place that says what a robot is (joints, limits, home, grippers, action
// layout, cameras), loaded from a robot profile.
export { actionLayout, describeRobot, homeAction, isGripperAction, type CameraSpec, type RobotDescription } from './description.js';
export { BUILTIN_ROBOTS, builtinProfilePath, loadRobot, loadRobotProfile, ProfileError } from './load.js';
export { RobotProfileSchema, type RobotProfile } from './profile-schema.js';
