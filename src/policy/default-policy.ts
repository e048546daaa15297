// What `vla-run` runs when no --policy is given: the demo model shipped in models/ for that robot and
// task (trained by vla-train on scripted demonstrations), or the scripted expert where none ships.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
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

/**
 * Where a model file named in a run's config is on this machine: the path itself when it is there, else the
 * shipped model of the same name (a run started in another folder, or an actor on another machine, still finds
 * models/ur5e-push.onnx); undefined when neither is. Callers check the SHA-256, so a namesake is never mistaken.
 */
export function locateModel(path: string): string | undefined {
  if (existsSync(path)) return path;
  const shipped = `${MODELS_DIR}${basename(path)}`;
  return existsSync(shipped) ? shipped : undefined;
}
