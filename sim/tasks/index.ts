import type { RobotName } from '../robots/index.js';
import { PickPlaceTask } from './pick-place.js';
import { PushTask } from './push.js';
import type { Task, TaskName } from './task.js';
import { TransferCubeTask } from './transfer-cube.js';

export {
  isTaskName,
  TASK_NAMES,
  type Task,
  type TaskName,
  type TaskState,
  type TaskWorld,
  taskTickLimit,
} from './task.js';

/** Tasks per robot; the first is the default. */
export const TASKS_BY_ROBOT: Record<RobotName, readonly TaskName[]> = {
  ur5: ['pick-place', 'push'],
  ur5e: ['pick-place', 'push'],
  aloha: ['transfer-cube'],
};

export function createTask(name: TaskName): Task {
  switch (name) {
    case 'pick-place':
      return new PickPlaceTask();
    case 'push':
      return new PushTask();
    case 'transfer-cube':
      return new TransferCubeTask();
  }
}
