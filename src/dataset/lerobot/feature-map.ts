// Which dataset feature feeds which part of our Episode, decided once per dataset before any episode is read, so a
// dataset that does not fit the robot is refused up front with what differs.
//  - Our own exports: robot, names and cameras come from the `vla/episode` record; exact values from vla.* columns.
//  - Other datasets: the robot is --robot, else info.json's robot_type when it is one of ours; its description
//    (src/robot) gives joint, gripper and action names and cameras. observation.state holds the state in the
//    robot's action layout (per arm its joints, then its gripper: LeRobot's own ALOHA names are ours), action the
//    action; both are matched by name when the dataset names every dimension we need, else by position when the
//    width is the robot's action width. observation.images.<camera> feeds the robot's camera of that name.
//  - `map` (--map FEATURE=NAME) overrides: NAME is a camera of the robot, or state, action or velocity.
import { BUILTIN_ROBOTS, loadRobot, type RobotDescription } from '../../robot/index.js';
import type { LeRobotDataset } from './dataset.js';
import { type FeatureSpec, featureNames, featureWidth, isVideo } from './layout.js';
import { VLA_COLUMNS } from './vla-fields.js';

/** The dataset does not fit what was asked (another robot, a camera it lacks, ...): bad input, exit 2. */
export class DatasetMappingError extends Error {
  override readonly name = 'DatasetMappingError';
}

export const VECTOR_TARGETS = ['state', 'action', 'velocity'] as const;

export interface CameraPlan {
  name: string;
  feature: string;
  width: number;
  height: number;
}

/** Indexes into a dataset vector, one per value we need. */
export interface VectorPlan {
  feature: string;
  index: Int32Array;
}

export interface ReadPlan {
  robot: string;
  control_hz: number;
  joint_names: string[];
  gripper_names: string[];
  action_names: string[];
  cameras: CameraPlan[];
  /** Our own export: read the vla.* columns and the vla/episode record. */
  own: boolean;
  /** Other datasets: where joints then grippers, the action, and the velocities (optional) come from. */
  state?: VectorPlan;
  action?: VectorPlan;
  velocity?: VectorPlan;
}

export interface PlanOptions {
  map?: Readonly<Record<string, string>>;
  robot?: string;
}

export async function planRead(ds: LeRobotDataset, opts: PlanOptions = {}): Promise<ReadPlan> {
  const map = opts.map ?? {};
  const features = ds.info.features;
  for (const key of Object.keys(map)) {
    if (!(key in features)) {
      throw new DatasetMappingError(
        `${ds.root}: --map ${key}=${map[key]}: the dataset has no feature "${key}" (it has ` +
          `${Object.keys(features).join(', ')})`,
      );
    }
  }
  const own = ds.episodes.length > 0 && ds.episodes.every((e) => e.vla) && VLA_COLUMNS.position_rad in features;
  return own ? planOwn(ds, map, opts.robot) : planForeign(ds, map, opts.robot);
}

function planOwn(ds: LeRobotDataset, map: Readonly<Record<string, string>>, robot?: string): ReadPlan {
  const first = ds.episodes[0].vla!;
  const m = first.meta;
  for (const e of ds.episodes) {
    const o = e.vla!.meta;
    const same = (k: 'joint_names' | 'gripper_names' | 'action_names') => o[k].join() === m[k].join();
    if (o.robot !== m.robot || !same('joint_names') || !same('gripper_names') || !same('action_names')) {
      throw new DatasetMappingError(`${ds.root}: episode ${e.index} was recorded on another robot than episode 0`);
    }
  }
  if (robot !== undefined && robot !== m.robot) {
    throw new DatasetMappingError(`${ds.root}: the dataset was recorded on ${m.robot}, not ${robot} (--robot)`);
  }
  for (const [key, target] of Object.entries(map)) {
    if ((VECTOR_TARGETS as readonly string[]).includes(target)) {
      throw new DatasetMappingError(
        `${ds.root}: --map ${key}=${target}: this is a vla-runtime export; its state, ` +
          'action and velocity are read from its own columns',
      );
    }
  }
  const names = new Map(m.cameras.map((c) => [c.name, c]));
  const defaults = Object.entries(first.camera_features).map(([camera, feature]) => [feature, camera] as const);
  const cameras = mapCameras(ds, map, new Map(defaults), [...names.keys()], m.robot).map((c) => ({
    ...c,
    width: names.get(c.name)?.width ?? c.width,
    height: names.get(c.name)?.height ?? c.height,
  }));
  return {
    robot: m.robot,
    control_hz: m.control_hz,
    joint_names: [...m.joint_names],
    gripper_names: [...m.gripper_names],
    action_names: [...m.action_names],
    cameras,
    own: true,
  };
}

async function planForeign(
  ds: LeRobotDataset,
  map: Readonly<Record<string, string>>,
  robot?: string,
): Promise<ReadPlan> {
  const type = ds.info.robot_type ?? undefined;
  const ours = (BUILTIN_ROBOTS as readonly string[]).includes(type ?? '');
  if (robot !== undefined && ours && type !== robot) {
    throw new DatasetMappingError(
      `${ds.root}: the dataset was recorded on ${type} (robot_type), not ${robot} (--robot)`,
    );
  }
  const name = robot ?? type;
  if (name === undefined || !(BUILTIN_ROBOTS as readonly string[]).includes(name)) {
    throw new DatasetMappingError(
      `${ds.root}: robot_type ${JSON.stringify(type ?? null)} is not a robot of ours (${BUILTIN_ROBOTS.join(', ')}); ` +
        'say which robot recorded it with --robot',
    );
  }
  const desc = await loadRobot(name);
  const target = (t: string) => Object.entries(map).find(([, v]) => v === t)?.[0];
  const vector = (t: string, fallback: string) => target(t) ?? (fallback in ds.info.features ? fallback : undefined);
  const stateKey = vector('state', 'observation.state');
  const actionKey = vector('action', 'action');
  if (!stateKey || !actionKey) {
    throw new DatasetMappingError(
      `${ds.root}: no ${stateKey ? 'action' : 'observation.state'} feature; say which feature holds it with ` +
        `--map FEATURE=${stateKey ? 'action' : 'state'} (features: ${Object.keys(ds.info.features).join(', ')})`,
    );
  }
  const velocityKey = vector('velocity', 'observation.velocity');
  const layout = (j: number) => desc.action_source.indexOf(j);
  const stateTargets = [...desc.joint_names, ...desc.gripper_names];
  const statePositions = [
    ...desc.joint_names.map((_, j) => layout(j)),
    ...desc.gripper_names.map((_, g) => layout(-1 - g)),
  ];
  const cameraNames = desc.cameras.map((c) => c.name);
  const defaults = new Map(cameraNames.map((c) => [`observation.images.${c}`, c] as const));
  return {
    robot: desc.robot,
    control_hz: ds.info.fps,
    joint_names: [...desc.joint_names],
    gripper_names: [...desc.gripper_names],
    action_names: [...desc.action_names],
    cameras: mapCameras(ds, map, defaults, cameraNames, desc.robot),
    own: false,
    state: vectorPlan(ds, stateKey, stateTargets, statePositions, desc),
    action: vectorPlan(
      ds,
      actionKey,
      desc.action_names,
      desc.action_names.map((_, i) => i),
      desc,
    ),
    ...(velocityKey
      ? {
          velocity: vectorPlan(
            ds,
            velocityKey,
            desc.joint_names,
            desc.joint_names.map((_, j) => layout(j)),
            desc,
          ),
        }
      : {}),
  };
}

/**
 * Indexes of `targets` in the dataset vector: by name when the dataset names them all, else by position in the
 * robot's action layout (`positions`) when the vector is as wide as the robot's action, else in order when it is as
 * wide as the targets (velocities of the joints only).
 */
function vectorPlan(
  ds: LeRobotDataset,
  feature: string,
  targets: readonly string[],
  positions: readonly number[],
  desc: RobotDescription,
): VectorPlan {
  const spec = ds.info.features[feature];
  if (isVideo(spec) || spec.dtype === 'image' || spec.dtype === 'string') {
    throw new DatasetMappingError(`${ds.root}: ${feature} is a ${spec.dtype} feature, not a vector`);
  }
  const names = featureNames(spec);
  const width = featureWidth(spec);
  if (names && targets.every((t) => names.includes(t)))
    return { feature, index: Int32Array.from(targets, (t) => names.indexOf(t)) };
  if (width === desc.action_names.length) return { feature, index: Int32Array.from(positions) };
  // velocities of the joints alone, in joint order
  if (width === targets.length) return { feature, index: Int32Array.from(targets, (_, i) => i) };
  throw new DatasetMappingError(
    `${ds.root}: ${feature} has ${width} values (${names?.join(', ') ?? 'unnamed'}); ${desc.robot} has ` +
      `${desc.action_names.length} (${desc.action_names.join(', ')})`,
  );
}

function mapCameras(
  ds: LeRobotDataset,
  map: Readonly<Record<string, string>>,
  defaults: ReadonlyMap<string, string>,
  cameras: readonly string[],
  robot: string,
): CameraPlan[] {
  const out: CameraPlan[] = [];
  const explicit = Object.entries(map).filter(([, v]) => !(VECTOR_TARGETS as readonly string[]).includes(v));
  for (const [feature, camera] of explicit) {
    if (!cameras.includes(camera)) {
      throw new DatasetMappingError(
        `--map ${feature}=${camera}: ${camera} is not a camera of ${robot} (${cameras.join(', ')}), nor ` +
          VECTOR_TARGETS.join(', '),
      );
    }
    if (!isVideo(ds.info.features[feature])) {
      throw new DatasetMappingError(`${ds.root}: --map ${feature}=${camera}: ${feature} is not a video feature`);
    }
  }
  const mapped = new Map<string, string>(explicit);
  for (const [feature, camera] of defaults) {
    const taken = [...mapped.values()].includes(camera);
    if (!mapped.has(feature) && !taken && feature in ds.info.features && isVideo(ds.info.features[feature]))
      mapped.set(feature, camera);
  }
  const seen = new Map<string, string>();
  for (const [feature, camera] of mapped) {
    const other = seen.get(camera);
    if (other) throw new DatasetMappingError(`${ds.root}: both ${other} and ${feature} are mapped to camera ${camera}`);
    seen.set(camera, feature);
    out.push({ name: camera, feature, ...frameSize(ds.info.features[feature]) });
  }
  return out.sort((a, b) => cameras.indexOf(a.name) - cameras.indexOf(b.name));
}

/** A video feature's frame size: shape (h, w, c) as LeRobot writes it, or by its names when they say otherwise. */
function frameSize(spec: FeatureSpec): { width: number; height: number } {
  const info = spec.info ?? {};
  if (typeof info['video.width'] === 'number' && typeof info['video.height'] === 'number')
    return { width: info['video.width'], height: info['video.height'] };
  const names = featureNames(spec);
  const at = (n: string, fallback: number) => ((names?.indexOf(n) ?? -1) >= 0 ? names!.indexOf(n) : fallback);
  return { height: spec.shape[at('height', 0)], width: spec.shape[at('width', 1)] };
}
