// What `vla-run` runs when no --policy is given: the demo model shipped in models/ for that robot and
// task (trained by vla-train on scripted demonstrations), or the scripted expert where none ships.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The models/ folder of this package (from dist/src/policy/ or src/policy/ alike). */
export const MODELS_DIR = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../../models/' : '../../models/', import.meta.url),
);

export function shippedModelPath(robot: string, task: string): string {
  return `${MODELS_DIR}${robot}-${task}.onnx`;
}

/** The shipped model's path when there is one, else 'expert'. */
export function defaultPolicy(robot: string, task: string): string {
  const path = shippedModelPath(robot, task);
  return existsSync(path) ? path : 'expert';
}
