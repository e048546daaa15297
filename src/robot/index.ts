// The robot description: the one place that says what a robot is (joints, limits, home, grippers, action
// layout, cameras), loaded from a robot profile.
export {
  actionLayout,
  type CameraSpec,
  describeRobot,
  homeAction,
  isGripperAction,
  type RobotDescription,
} from './description.js';
export { DhChain, type DhParameters } from './dh-chain.js';
export { BUILTIN_ROBOTS, builtinProfilePath, loadRobot, loadRobotProfile, ProfileError } from './load.js';
export { type RobotProfile, RobotProfileSchema } from './profile-schema.js';
