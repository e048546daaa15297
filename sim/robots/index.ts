// The robots the sim knows, as geometry and physics: their arms, table and cameras. What a robot is to
// the runtime (joint order, limits, home, action layout) is its profile (src/robot); the sim is checked
// against it. The sim's action vector is, per arm in order, the arm's joint targets then its gripper.
import type { CameraSpec, SceneSpec } from '../mjcf.js';
import { alohaArms } from './aloha.js';
import type { ArmSpec } from './arm-spec.js';
import { jointNames } from './arm-spec.js';
import { urArm } from './ur.js';

export const ROBOT_NAMES = ['ur5', 'ur5e', 'aloha'] as const;
export type RobotName = (typeof ROBOT_NAMES)[number];

export interface RobotModel {
  name: RobotName;
  arms: ArmSpec[];
  table: SceneSpec['table'];
  cameras: CameraSpec[];
}

const WOOD: [number, number, number, number] = [0.62, 0.52, 0.4, 1];

function urRobot(name: 'ur5' | 'ur5e'): RobotModel {
  return {
    name,
    arms: [urArm(name)],
    table: { centre_xy: [0.35, 0], half_xy: [0.75, 0.7], rgba: WOOD },
    cameras: [
      // in front of the robot, looking down at the workspace
      { name: 'top', body: 'world', pos: [1.3, 0, 1.2], lookat: [0.38, 0, 0.08], up: [0, 0, 1], fovy_deg: 55 },
      // on the side of the palm, looking past the fingertips
      { name: 'wrist', body: 'gripper', pos: [0.07, 0, 0.04], lookat: [0, 0, 0.24], up: [1, 0, 0], fovy_deg: 75 },
    ],
  };
}

function alohaRobot(): RobotModel {
  return {
    name: 'aloha',
    arms: alohaArms(),
    table: { centre_xy: [0, 0], half_xy: [0.75, 0.45], rgba: WOOD },
    cameras: [
      // high in front of the table: both arms, bases included, and the cube in one square image
      { name: 'top', body: 'world', pos: [0, -0.3, 1.1], lookat: [0, 0.03, 0.05], up: [0, 0, 1], fovy_deg: 60 },
      // above the palm (the side that faces up at home), looking past the fingertips, image upright at home
      {
        name: 'left_wrist',
        body: 'left_gripper',
        pos: [-0.06, 0, 0.03],
        lookat: [0, 0, 0.2],
        up: [-1, 0, 0],
        fovy_deg: 75,
      },
      {
        name: 'right_wrist',
        body: 'right_gripper',
        pos: [-0.06, 0, 0.03],
        lookat: [0, 0, 0.2],
        up: [-1, 0, 0],
        fovy_deg: 75,
      },
    ],
  };
}

export function robotModel(name: RobotName): RobotModel {
  switch (name) {
    case 'ur5':
      return urRobot('ur5');
    case 'ur5e':
      return urRobot('ur5e');
    case 'aloha':
      return alohaRobot();
  }
}

/** Names of the action vector's entries, e.g. ['shoulder_pan_joint', ..., 'gripper']. */
export function actionNames(robot: RobotModel): string[] {
  return robot.arms.flatMap((arm) => [...jointNames(arm), `${arm.prefix}gripper`]);
}
