// `vla-finetune head`: teach the base model to report what its features miss. `vla-finetune probe` measures what
// the features place; where they miss something a residual needs (how far the cube is turned), this trains a small
// feature head on the sim's true poses (train/head-trainer.ts) and splices it into a copy of the base model
// (train/head-splice.ts). The copy computes the same actions, bit for bit, and more features.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import type { OnnxManifest } from '../../policy/onnx/manifest.js';
import { applyAffine, normalizer } from '../../policy/onnx/preprocess.js';
import { fileSha256 } from '../../policy/residual/residual-onnx.js';
import type { ProbeCoordinate, ProbeRun } from '../../rl/feature-probe.js';
import { FINETUNE_DEFAULTS } from '../../rl/finetune-config.js';
import { progress } from '../../telemetry/progress.js';
import type { HeadConfig } from '../../train/head-net.js';
import { type HeadCheck, HeadSpliceError, headBaseManifest, spliceHead, verifyHead } from '../../train/head-splice.js';
import {
  DEFAULT_HEAD_TRAIN,
  type HeadSample,
  type HeadTrainOptions,
  type HeadTrainResult,
  headTargets,
  trainHead,
} from '../../train/head-trainer.js';
import { intArg, UsageError } from '../common.js';
import { robotDescription } from '../run/robot-args.js';
import { robotArg, TASK_HELP, taskArg } from '../sim/args.js';
import { collectForCli } from './probe-command.js';

const HEAD_HELP = `
Examples:
  vla-finetune head --robot ur5e --task pick-place --predict cube_yaw
  vla-finetune head --robot ur5e --task push --predict target_x,target_y --camera top --out models/push-target.onnx
  vla-finetune --robot ur5e --task pick-place --sim --base models/ur5e-pick-place.cube_yaw.onnx --run with-yaw

The base model runs alone in the embedded sim on seeds SEED0.. and each chunk's observation is kept with the true
poses. A small network (the base model's kind of convolutions, plus how strongly each channel fires, then an MLP
over those and the state) learns the chosen coordinates from one camera: a yaw as the sine and cosine of 4 x yaw
(a cube looks the same after a quarter turn), a position in m. Its error on held-out episodes is printed beside
that of always guessing the typical value. The head is spliced into a copy of the base model as more features;
ONNX Runtime checks that the copy's actions are the base model's, bit for bit, before anything is written. Train a
residual on the copy (--base) and deploy it with the copy (vla-run --policy). The coordinates: those of
vla-finetune probe. The sim only: a robot has no true poses. Exit codes: 0 written, 2 bad usage or a base model
without features or with a head already.`;

export function headCommand(program: Command): void {
  program
    .command('head')
    .description("train a feature head on the sim's true poses and splice it into a copy of the base model")
    .option('--robot <name>', 'ur5 | ur5e | aloha', 'ur5e')
    .option('--task <name>', TASK_HELP)
    .option('--base <model.onnx>', 'the base policy (default: models/<robot>-<task>.onnx)')
    .option('--predict <names>', 'coordinates to estimate, comma-separated (see vla-finetune probe)', 'cube_yaw')
    .option('--camera <name>', "the camera the head reads (default: the base model's first wrist camera)")
    .option('--episodes <n>', 'episodes of the base model alone to learn from', '2000')
    .option('--seed0 <n>', 'the first seed (training seeds by convention: below 10000)', '5000')
    .option('--steps <n>', 'optimiser steps', String(DEFAULT_HEAD_TRAIN.steps))
    .option('--seed <n>', 'seed of the weights, batches and shifts', '0')
    .option('--out <model.onnx>', 'the copy with the head (default: <base>.<predict>.onnx)')
    .option('--json', 'print one JSON object on stdout')
    .addHelpText('after', HEAD_HELP)
    .action(headAction);
}

interface HeadArgs extends CollectArgs {
  predict: string[];
  options: HeadTrainOptions;
  out: string;
  bytes: Uint8Array;
  manifest: OnnxManifest;
}

function headArgs(o: Record<string, string | boolean | undefined>): HeadArgs {
  const robot = robotArg(o.robot as string);
  const task = taskArg(robot, o.task as string | undefined);
  const base = (o.base as string | undefined) ?? `models/${robot}-${task}.onnx`;
  const predict = (o.predict as string).split(',').filter(Boolean);
  const options = {
    ...DEFAULT_HEAD_TRAIN,
    steps: intArg('--steps', o.steps as string, 1),
    seed: intArg('--seed', o.seed as string, 0),
  };
  let bytes: Uint8Array;
  let manifest: OnnxManifest;
  try {
    bytes = readFileSync(base);
    manifest = headBaseManifest(bytes, base);
  } catch (err) {
    throw new UsageError(`--base ${(err as Error).message}`);
  }
  const cameras = manifest.inputs.images.map((i) => i.camera);
  const camera = (o.camera as string | undefined) ?? cameras.find((c) => c.includes('wrist')) ?? cameras[0];
  if (!cameras.includes(camera)) throw new UsageError(`--camera ${camera}: the base model reads ${cameras.join(', ')}`);
  const episodes = intArg('--episodes', o.episodes as string, 10, 100_000);
  const seed0 = intArg('--seed0', o.seed0 as string, 0);
  // what the head learns from stays off the seeds residuals are evaluated and tested on
  const TRAIN_SEED_LIMIT = FINETUNE_DEFAULTS.train_seed_limit;
  if (seed0 + episodes > TRAIN_SEED_LIMIT)
    throw new UsageError(
      `--seed0 ${seed0} --episodes ${episodes} reach seed ${TRAIN_SEED_LIMIT}: keep to training seeds`,
    );
  return {
    robot,
    task,
    base,
    camera,
    predict,
    options,
    bytes,
    manifest,
    episodes,
    seed0,
    out: (o.out as string | undefined) ?? join(dirname(base), `${basename(base, '.onnx')}.${predict.join('+')}.onnx`),
    json: o.json === true,
  };
}

async function headAction(o: Record<string, string | boolean | undefined>): Promise<void> {
  const a = headArgs(o);
  // the task's coordinates are known after its first episode: a name it lacks stops the run there
  const targetsOf = (coordinates: ProbeCoordinate[]) => {
    try {
      return headTargets(coordinates, a.predict);
    } catch (err) {
      throw new UsageError(`--predict: ${(err as Error).message}`);
    }
  };
  const collected = await collect(a, targetsOf);
  const targets = targetsOf(collected.coordinates);
  const st = a.manifest.inputs.state as NonNullable<OnnxManifest['inputs']['state']>;
  const norm = normalizer(st.normalization, st.dim);
  const samples: HeadSample[] = collected.samples.map((s) => {
    const state = new Float32Array(st.dim);
    applyAffine(s.state as Float32Array, state, norm, 1, st.dim);
    return { episode: s.episode, image: s.image as Uint8Array, state, truth: s.truth };
  });
  const image_px = a.manifest.inputs.images.find((i) => i.camera === a.camera)?.width ?? 0;
  const config: HeadConfig = {
    image_px,
    camera: a.camera,
    c1: 16,
    c2: 32,
    hidden: [128],
    state_dim: st.dim,
    outputs: targets.outputs,
  };
  const bar = progress('training the head', { unit: 'steps', json: a.json });
  const result = await trainHead(samples, config, targets, a.options, (step, loss) =>
    bar.update(step, a.options.steps, `loss ${loss.toFixed(3)}`),
  ).finally(() => bar.end());
  const report = await writeHeadModel(a, result);
  if (a.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else printHead(a, report);
}

async function writeHeadModel(a: HeadArgs, result: HeadTrainResult) {
  const { robot, task, predict, camera, episodes, seed0, options } = a;
  const training = {
    robot,
    task,
    predict,
    camera,
    episodes,
    seed0,
    ...options,
    held_out: result.held_out,
    train_samples: result.train_samples,
    val_samples: result.val_samples,
  };
  // no wall time in the model: the same command writes the same bytes, so a residual trained on one copy
  // (bound to its SHA-256) accepts a copy made again
  let spliced: Uint8Array;
  let check: HeadCheck;
  try {
    spliced = spliceHead(a.bytes, result.weights, { camera, base_sha256: await fileSha256(a.base), training }, a.base);
    check = await verifyHead(a.bytes, spliced, result.weights);
  } catch (err) {
    if (err instanceof HeadSpliceError) throw new UsageError(err.message);
    throw err;
  }
  // a model file is whole or absent: a run that loads it never sees half of one
  writeFileSync(`${a.out}.tmp`, spliced);
  renameSync(`${a.out}.tmp`, a.out);
  const report = {
    model: a.out,
    base: a.base,
    ...training,
    train_s: Math.round(result.train_s),
    features_dim: check.features_dim,
    export_check: check,
    losses: result.losses,
  };
  writeFileSync(a.out.replace(/\.onnx$/, '.head.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

function printHead(a: HeadArgs, r: Awaited<ReturnType<typeof writeHeadModel>>): void {
  process.stdout.write(
    [
      `${a.out}: ${a.base} plus a ${a.camera} head (${r.features_dim} features; the same actions: ONNX Runtime)`,
      `  held-out episodes (${r.val_samples} chunks): mean error, and always guessing the typical value`,
      ...r.held_out.map(
        (e) =>
          `  ${e.name.padEnd(12)} ${e.mean_error.toFixed(1).padStart(5)} ${e.unit}   guess ${e.guess_error.toFixed(1)}`,
      ),
      `  next: vla-finetune --robot ${a.robot} --task ${a.task} --sim --base ${a.out} --run NAME`,
      '',
    ].join('\n'),
  );
}

interface CollectArgs {
  robot: string;
  task: string;
  base: string;
  camera: string;
  episodes: number;
  seed0: number;
  json: boolean;
}

async function collect(a: CollectArgs, check: (c: ProbeCoordinate[]) => unknown) {
  const run = {
    description: await robotDescription(a.robot, undefined, 50),
    task: a.task as ProbeRun['task'],
    base_path: a.base,
    episodes: a.episodes,
    seed0: a.seed0,
    keep_camera: a.camera,
    onCoordinates: check,
  };
  return collectForCli(run, 'collecting', a.json);
}
