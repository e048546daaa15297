import type { RobotModel } from '../robots/index.js';
import type { TaskName } from '../tasks/task.js';
import { AlohaTransferCubeExpert } from './aloha-transfer-cube.js';
import type { ExpertOptions, ScriptedExpert } from './expert.js';
import { UrPickPlaceExpert } from './ur-pick-place.js';
import { UrPushExpert } from './ur-push.js';

export type { ExpertObservation, ExpertOptions, ScriptedExpert } from './expert.js';

export function createExpert(
  robot: RobotModel,
  task: TaskName,
  control_hz: number,
  opts: ExpertOptions = {},
): ScriptedExpert {
  const key = `${robot.name === 'aloha' ? 'aloha' : 'ur'}/${task}`;
  switch (key) {
    case 'ur/pick-place':
      return new UrPickPlaceExpert(robot.arms[0], control_hz, opts);
    case 'aloha/transfer-cube':
      return new AlohaTransferCubeExpert(robot, control_hz, opts);
    case 'ur/push':
      return new UrPushExpert(robot.arms[0], control_hz, opts);
    default:
      throw new Error(`no scripted expert for ${robot.name} / ${task}`);
  }
}
