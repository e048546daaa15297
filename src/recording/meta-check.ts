// Checks on what an EpisodeWriter is given before anything is written: a bad meta or a tick whose arrays do not
// match it would only surface when the file is read back, far from the code that made it.
import type { EpisodeMeta } from './episode-writer.js';
import { copyReplayMeta } from './replay-meta.js';
import { CAMERA_NAME_RE, isStringArray, TICK_CLOCKS } from './schemas.js';

export function checkLength(
  values: ArrayLike<number>,
  expected: number,
  field: string,
  namesField: string,
  fail: (what: string) => never,
): void {
  const n = values?.length;
  if (typeof n !== 'number') fail(`${field} is missing`);
  if (n !== expected) fail(`${field} has ${n} values but meta.${namesField} has ${expected}`);
}

/** Validates the meta up front (a bad one would only surface when reading back) and takes a private copy. */
export function copyMeta(meta: EpisodeMeta, path: string): EpisodeMeta {
  const fail = (what: string): never => {
    throw new TypeError(`${path}: invalid episode meta: ${what}`);
  };
  if (typeof meta !== 'object' || meta === null) fail('meta must be an object');
  if (typeof meta.robot !== 'string') fail('robot must be a string');
  if (typeof meta.task !== 'string') fail('task must be a string');
  if (typeof meta.seed !== 'number' || !Number.isFinite(meta.seed)) fail('seed must be a finite number');
  if (typeof meta.control_hz !== 'number' || !(meta.control_hz > 0) || !Number.isFinite(meta.control_hz))
    fail('control_hz must be a positive number');
  for (const key of ['joint_names', 'gripper_names', 'action_names'] as const) {
    if (!isStringArray(meta[key])) fail(`${key} must be an array of strings`);
  }
  if (meta.policy !== undefined && typeof meta.policy !== 'string') fail('policy must be a string when given');
  if (meta.tick_clock !== undefined && !TICK_CLOCKS.includes(meta.tick_clock))
    fail(`tick_clock must be one of ${TICK_CLOCKS.join(', ')}`);
  if (!Array.isArray(meta.cameras)) fail('cameras must be an array');
  const names = new Set<string>();
  for (const c of meta.cameras) {
    if (typeof c?.name !== 'string' || !CAMERA_NAME_RE.test(c.name))
      fail(`camera name ${JSON.stringify(c?.name)} must match ${CAMERA_NAME_RE}`);
    if (!Number.isSafeInteger(c.width) || c.width <= 0 || !Number.isSafeInteger(c.height) || c.height <= 0) {
      fail(`camera "${c.name}" needs positive integer width and height`);
    }
    if (names.has(c.name)) fail(`camera "${c.name}" is listed twice`);
    names.add(c.name);
  }
  const copy: EpisodeMeta = {
    robot: meta.robot,
    task: meta.task,
    seed: meta.seed,
    control_hz: meta.control_hz,
    joint_names: [...meta.joint_names],
    gripper_names: [...meta.gripper_names],
    action_names: [...meta.action_names],
    cameras: meta.cameras.map(({ name, width, height }) => ({ name, width, height })),
  };
  if (meta.policy !== undefined) copy.policy = meta.policy;
  if (meta.tick_clock !== undefined) copy.tick_clock = meta.tick_clock;
  return Object.assign(copy, copyReplayMeta(meta, fail));
}
