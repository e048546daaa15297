// vla-manifest: make an ONNX policy runnable by vla-run. `init` drafts the manifest from the graph and flags,
// `import-lerobot` makes it from a LeRobot policy folder, `check` says what running it on a robot will do,
// `schema` prints the manifest's JSON Schema (the file shipped as schema/vla-manifest.schema.json).
import { readFile, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { manifestJsonSchemaText } from '../policy/onnx/manifest-json-schema.js';
import { addFeaturesOutput, checkSameActions } from '../train/add-features.js';
import { runProgram, UsageError } from './common.js';
import { CHECK_HELP, checkCommand } from './manifest/check-command.js';
import { IMPORT_HELP, importCommand } from './manifest/import-command.js';
import { INIT_HELP, initCommand } from './manifest/init-command.js';
import { collect } from './manifest/manifest-args.js';

const ROBOT_HELP = 'ur5 | ur5e | aloha: the robot to run on (cameras, joint names, action size, rate)';
const PROFILE_HELP = 'robot profile file (default calibration/profiles/<robot>.json)';
const OUT_HELP = 'where to write the manifest (default: the sidecar <model>.manifest.json; - prints it)';

const program = new Command('vla-manifest')
  .description(
    'Write and check the manifest that lets vla-run feed an ONNX policy: its inputs (cameras, state), the action ' +
      'chunk it outputs, normalisation and rate. It lives in a sidecar <model>.manifest.json or in the ONNX ' +
      "metadata_props key 'vla_manifest'.",
  )
  .showHelpAfterError('(add --help for usage)')
  .addHelpText(
    'after',
    `
Workflow:
  vla-manifest import-lerobot my_act/ --robot aloha       # a LeRobot policy folder with its model.onnx
  vla-manifest init mine.onnx --robot ur5e --hz 50 --stats stats.json   # any other ONNX policy
  vla-manifest check mine.onnx --robot ur5e               # what will happen; exit 2 if vla-run would refuse it
  vla-run --robot ur5e --sim --policy mine.onnx

Exit codes: 0 done (check: the model fits), 2 bad usage or input (check: the model does not fit), 1 other failures.`,
  );

program
  .command('init')
  .description('draft a manifest from the model graph and flags, and write it as the sidecar')
  .argument('<model.onnx>')
  .option('--robot <name>', ROBOT_HELP)
  .option('--profile <file>', PROFILE_HELP)
  .option('--hz <hz>', 'the control rate the model was trained at (required: the graph does not say)')
  .option('--horizon <n>', 'actions per chunk, when the output [1, H, D] leaves H open')
  .option('--offset <n>', 'actions[0] is for tick obs_tick + offset (default 1)')
  .option('--camera <input=camera>', 'the robot camera feeding an image input (repeat per input)', collect)
  .option('--state <input>', 'the state input, when more than one float32 [1, n] input could be')
  .option('--output <name>', 'the chunk output, when there is more than one')
  .option(
    '--stats <file>',
    'normalisation statistics: LeRobot stats.json / normalizer .safetensors, openpi norm_stats.json',
  )
  .addOption(
    new Option('--norm <mode>', 'state and action normalisation (default mean_std with --stats)').choices([
      'identity',
      'mean_std',
      'min_max',
      'quantiles',
      'quantile10',
    ]),
  )
  .addOption(
    new Option(
      '--image-norm <kind>',
      'float32 images: rgb/255, ImageNet mean/std, or --stats (default: stats if any)',
    ).choices(['unit', 'imagenet', 'stats']),
  )
  .option('--image-size <WxH>', 'size of image inputs whose shape leaves it open')
  .addOption(
    new Option('--layout <layout>', 'layout of image inputs whose shape leaves it open').choices(['NCHW', 'NHWC']),
  )
  .option('--name <name>', 'model name in the manifest (default: the file name)')
  .option('--out <file>', OUT_HELP)
  .option('--force', 'overwrite an existing manifest file')
  .option('--json', 'print one JSON object on stdout')
  .addHelpText('after', INIT_HELP)
  .action(initCommand);

program
  .command('import-lerobot')
  .description("write the sidecar manifest of a LeRobot policy's ONNX export from its policy folder")
  .argument('<policy-folder>')
  .option('--model <file>', 'the exported ONNX model (default <policy-folder>/model.onnx)')
  .option('--robot <name>', ROBOT_HELP)
  .option('--profile <file>', PROFILE_HELP)
  .option('--camera-map <lerobot=robot>', "a LeRobot camera name -> the robot's camera (repeat)", collect)
  .option('--input-map <feature=input>', 'a LeRobot feature -> the ONNX input, when the export renamed it', collect)
  .option('--output <name>', 'the chunk output (default: action, or the one [1, H, D] output)')
  .option(
    '--stats <file>',
    'statistics file (default: stats.json, meta/stats.json or *normalizer_processor.safetensors)',
  )
  .option('--hz <hz>', 'the rate the policy was trained at (default: train_config.json env.fps or info.json fps)')
  .addOption(
    new Option(
      '--image-stats <which>',
      "image mean/std: the dataset's or ImageNet's (default: as LeRobot trained)",
    ).choices(['dataset', 'imagenet']),
  )
  .option('--name <name>', 'model name in the manifest (default <type>-<folder name>)')
  .option('--out <file>', OUT_HELP)
  .option('--force', 'overwrite an existing manifest file')
  .option('--json', 'print one JSON object on stdout')
  .addHelpText('after', IMPORT_HELP)
  .action(importCommand);

program
  .command('check')
  .description('print what running the model on a robot will do, without moving anything')
  .argument('<model.onnx>')
  .option('--robot <name>', `${ROBOT_HELP} (required)`)
  .option('--profile <file>', PROFILE_HELP)
  .option('--hz <hz>', "the control rate the run will use (default: the profile's; as vla-run --hz)")
  .option('--allow-robot-mismatch', 'a manifest naming another robot is a warning, not an error (as in vla-run)')
  .option('--json', 'print one JSON object on stdout')
  .addHelpText('after', CHECK_HELP)
  .action(checkCommand);

program
  .command('add-features')
  .description(
    "add a vla-train model's keypoints as its features output (what a residual policy sees); same weights, the " +
      'same actions (checked in ONNX Runtime before anything is written)',
  )
  .argument('<model.onnx>')
  .option('--out <file>', 'where to write the upgraded model (default: replace the model file)')
  .addHelpText('after', '\nExample:\n  vla-manifest add-features models/ur5e-pick-place.onnx')
  .action(async (model: string, o: { out?: string }) => {
    let bytes: Buffer;
    try {
      bytes = await readFile(model);
    } catch (err) {
      throw new UsageError(`${model}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    let upgraded: Uint8Array;
    try {
      upgraded = addFeaturesOutput(bytes, model);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const dim = await checkSameActions(bytes, upgraded);
    await writeFile(o.out ?? model, upgraded);
    process.stdout.write(`${o.out ?? model}: features output added (${dim} values), actions unchanged\n`);
  });

program
  .command('schema')
  .description("print the manifest's JSON Schema (generated from the runtime's own schema)")
  .option('--out <file>', 'write it to a file instead (the package ships it as schema/vla-manifest.schema.json)')
  .addHelpText(
    'after',
    '\nExample (regenerate the shipped file):\n  vla-manifest schema --out schema/vla-manifest.schema.json',
  )
  .action(async (o: { out?: string }) => {
    const text = manifestJsonSchemaText();
    if (!o.out) return void process.stdout.write(text);
    try {
      await writeFile(o.out, text);
    } catch (err) {
      throw new UsageError(`${o.out}: cannot write (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  });

await runProgram(program, process.argv, 'vla-manifest');
