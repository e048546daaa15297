import type { RobotModel } from '../robots/index.js';
import type { TaskName } from '../tasks/task.js';
import { AlohaTransferCubeExpert } from './aloha-transfer-cube.js';
import type { ExpertOptions, FeedbackExpert, ScriptedExpert } from './expert.js';
import { UrPickPlaceExpert } from './ur-pick-place.js';
import { UrPushExpert } from './ur-push.js';
import { UrPushFeedback } from './ur-push-feedback.js';

export type { ExpertObservation, ExpertOptions, FeedbackExpert, ScriptedExpert } from './expert.js';

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

/** The tasks whose expert also exists as state feedback (ur-push-feedback.ts). */
export const FEEDBACK_TASKS: readonly TaskName[] = ['push'];

export function createFeedbackExpert(robot: RobotModel, task: TaskName): FeedbackExpert {
  if (robot.name !== 'aloha' && task === 'push') return new UrPushFeedback(robot.arms[0]);
  throw new Error(
    `no state-feedback expert for ${robot.name} / ${task} (there is one for: ${FEEDBACK_TASKS.join(', ')})`,
  );
}
