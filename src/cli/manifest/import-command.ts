// vla-manifest import-lerobot: the sidecar manifest of a LeRobot policy's ONNX export, from the policy folder
// (config.json, statistics, train_config.json / info.json for the rate) and the graph.
import { basename, join, resolve } from 'node:path';
import { readLeRobotFolder } from '../../policy/onnx/lerobot-folder.js';
import { importLeRobot } from '../../policy/onnx/lerobot-import.js';
import { sidecarPath } from '../../policy/onnx/onnx-file.js';
import { choice, numArg } from '../common.js';
import { report } from './init-command.js';
import { asUsage, loadGraph, pairsArg, robotArgOptional, writeManifest } from './manifest-args.js';

export interface ImportFlags {
  model?: string;
  robot?: string;
  profile?: string;
  cameraMap?: string[];
  inputMap?: string[];
  output?: string;
  stats?: string;
  hz?: string;
  imageStats?: string;
  name?: string;
  out?: string;
  force?: boolean;
  json?: boolean;
}

export const IMPORT_HELP = `
Reads from the folder: config.json (input_features / output_features, normalization_mapping, chunk_size,
n_action_steps; or the older input_shapes / *_normalization_modes), the statistics (stats.json or meta/stats.json as
the dataset has them, or the *_normalizer_processor.safetensors the policy saved), the rate (train_config.json
env.fps or info.json fps), action names (info.json), and model.onnx. observation.images.<cam> is fed by the robot's
camera <cam> (--camera-map when the names differ), observation.state by the joint state, action is the chunk.

Examples:
  vla-manifest import-lerobot outputs/train/act_aloha/checkpoints/last/pretrained_model --robot aloha
  vla-manifest import-lerobot act/ --robot aloha --camera-map cam_high=top --camera-map cam_left_wrist=left_wrist
  vla-manifest import-lerobot act/ --model act/act.onnx --stats meta/stats.json --hz 50 --out -`;

export async function importCommand(dir: string, o: ImportFlags): Promise<void> {
  const robot = await robotArgOptional(o.robot, o.profile);
  const model = o.model ?? join(dir, 'model.onnx');
  const folder = await asUsage(() => readLeRobotFolder(dir, o.stats));
  const graph = await loadGraph(model);
  const imported = await asUsage(() =>
    importLeRobot(folder, graph, {
      name: o.name ?? `${folder.policy_type ?? 'lerobot'}-${basename(resolve(dir))}`,
      robot,
      camera_map: pairsArg('--camera-map', o.cameraMap),
      input_map: pairsArg('--input-map', o.inputMap),
      output: o.output,
      hz: o.hz === undefined ? undefined : numArg('--hz', o.hz, 0.1, 1000),
      image_stats:
        o.imageStats === undefined
          ? undefined
          : choice('--image-stats', o.imageStats, ['dataset', 'imagenet'] as const),
    }),
  );
  const notes = [`statistics: ${folder.stats_source ?? 'none (every feature is identity)'}`, ...imported.notes];
  const out = o.out ?? sidecarPath(model);
  const manifest = await writeManifest(imported.manifest, graph, out, o.force === true, model);
  report(model, out, manifest, notes, o.json === true, robot?.robot);
}
