// vla-train: behaviour cloning of a small image + state policy from recorded demonstrations, exported
// to ONNX with its manifest and checked against ONNX Runtime. The models in models/ were made with it.

import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Command } from 'commander';
import { actionNames, robotModel } from '../../sim/robots/index.js';
import { createLogger } from '../telemetry/log.js';
import { progress } from '../telemetry/progress.js';
import { DemoSetError, loadDemoSet } from '../train/demo-set.js';
import { buildOnnx, verifyExport } from '../train/export-onnx.js';
import { lossCurveFiles } from '../train/loss-curve.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions, trainPolicy } from '../train/trainer.js';
import { EXIT, intArg, numArg, runProgram, UsageError } from './common.js';
import { cameraListArg, robotArg, TASK_HELP, taskArg } from './sim/args.js';

/** ONNX Runtime and tfjs must agree this closely on the exported network (normalised outputs). */
export const EXPORT_TOLERANCE = 1e-4;
const d = DEFAULT_TRAIN_OPTIONS;

const program = new Command('vla-train')
  .description(
    'Train a small image + state policy by behaviour cloning on recorded demonstrations (TensorFlow.js, wasm ' +
      'backend) and export it to ONNX.',
  )
  .requiredOption('--robot <name>', 'ur5 | ur5e | aloha: the robot the demonstrations were recorded on')
  .option('--task <name>', TASK_HELP)
  .requiredOption(
    '--demos <dir>',
    'folder of .mcap episodes with camera frames (vla-run --policy expert --clock fast --record DIR)',
  )
  .requiredOption(
    '--out <model.onnx>',
    'where to write the model; <name>.loss.png, <name>.loss.html and <name>.train.json go next to it',
  )
  .option('--cameras <list>', 'cameras the model sees (default: every recorded one)')
  .option('--seed <n>', 'seeds weights, validation split, sample order and augmentation', String(d.seed))
  .option('--epochs <n>', 'passes over the training samples', String(d.epochs))
  .option('--batch <n>', 'samples per optimiser step', String(d.batch_size))
  .option('--lr <x>', 'Adam learning rate at the start (cosine decay to 5%)', String(d.learning_rate))
  .option('--horizon <n>', 'actions per chunk', String(d.horizon))
  .option('--frame-stride <n>', 'train on every n-th tick of each episode', String(d.frame_stride))
  .option('--shift-px <n>', 'random image shifts of up to n pixels (0: no augmentation)', String(d.shift_px))
  .option('--val-fraction <x>', 'episodes held out for the validation loss', String(d.val_fraction))
  .option('--channels <c1,c2>', 'channels of the two convolutions', `${d.c1},${d.c2}`)
  .option('--hidden <n,n,...>', 'hidden layer sizes of the MLP head', d.hidden.join(','))
  .option('--include-failures', 'also train on episodes that did not succeed (failed, or truncated by a time limit)')
  .option(
    '--skip-bad',
    'leave out recordings that cannot be read (truncated, damaged) and say which and why; default: such a file ' +
      'stops the run (exit 2). Interrupted episodes (Ctrl-C, a fault) are always left out and counted',
  )
  .option('--max-steps <n>', 'stop after this many optimiser steps (smoke tests)')
  .option('--name <name>', 'model name in the manifest (default: the output file name)')
  .option('--json', 'print exactly one JSON object on stdout')
  .addHelpText(
    'after',
    `
Examples:
  vla-run --robot ur5e --sim --policy expert --noise 0.5 --episodes 200 --seed 1000 --clock fast \\
    --record demos/ur5e --record-size 64
  vla-train --robot ur5e --task pick-place --demos demos/ur5e --out models/ur5e-pick-place.onnx
  vla-run --robot ur5e --sim --policy models/ur5e-pick-place.onnx --episodes 100 --clock fast

Exit codes: 0 trained and exported, 1 the export check failed, 2 bad usage or demonstrations that do not fit.`,
  )
  .action(main);

async function main(o: Record<string, string | boolean | undefined>): Promise<void> {
  const robot = robotArg(o.robot as string);
  const task = taskArg(robot, o.task as string | undefined);
  const out = o.out as string;
  if (!out.endsWith('.onnx')) throw new UsageError(`--out must name an .onnx file, got '${out}'`);
  const [c1, c2] = listArg('--channels', o.channels as string, 2);
  const opts: TrainOptions = {
    seed: intArg('--seed', o.seed as string, 0),
    epochs: intArg('--epochs', o.epochs as string, 1, 10_000),
    batch_size: intArg('--batch', o.batch as string, 1, 4096),
    learning_rate: numArg('--lr', o.lr as string, 1e-7, 1),
    horizon: intArg('--horizon', o.horizon as string, 1, 1000),
    frame_stride: intArg('--frame-stride', o.frameStride as string, 1, 1000),
    shift_px: intArg('--shift-px', o.shiftPx as string, 0, 16),
    val_fraction: numArg('--val-fraction', o.valFraction as string, 0, 0.9),
    c1,
    c2,
    hidden: listArg('--hidden', o.hidden as string),
    max_steps: o.maxSteps === undefined ? undefined : intArg('--max-steps', o.maxSteps as string, 1),
  };
  const log = createLogger({ name: 'vla-train' });
  const model = robotModel(robot);
  const loading = progress('reading demonstrations', { unit: 'files', json: o.json === true });
  let set: Awaited<ReturnType<typeof loadDemoSet>>;
  try {
    set = await loadDemoSet(o.demos as string, {
      robot,
      task,
      action_names: actionNames(model),
      include_failures: o.includeFailures === true,
      skip_bad: o.skipBad === true,
      cameras: o.cameras === undefined ? undefined : cameraListArg(robot, o.cameras as string),
      onEpisode: (i, n) => loading.update(i, n),
    });
  } catch (err) {
    if (err instanceof DemoSetError) throw new UsageError(err.message);
    throw err;
  } finally {
    loading.end();
  }
  const known = model.cameras.map((c) => c.name);
  const foreign = set.cameras.filter((c) => !known.includes(c.name));
  if (foreign.length)
    throw new UsageError(
      `${set.dir}: cameras ${foreign.map((c) => c.name).join(', ')} are not cameras of ${robot} (${known.join(', ')})`,
    );
  const frames = set.episodes.reduce((n, e) => n + e.ticks, 0);
  for (const bad of set.skipped_bad) log.warn(`--skip-bad: left out ${bad.path}: ${bad.reason}`);
  if (set.skipped_interrupted > 0)
    log.warn(`left out ${set.skipped_interrupted} interrupted episode(s): the robot was stopped (Ctrl-C or a fault)`);
  log.info(
    {
      episodes: set.episodes.length,
      outcomes: set.outcomes,
      skipped_failures: set.skipped_failures,
      skipped_interrupted: set.skipped_interrupted,
      skipped_unreadable: set.skipped_bad.length,
      frames,
      cameras: set.cameras.map((c) => `${c.name} ${c.width}x${c.height}`),
    },
    'demonstrations loaded',
  );

  const bar = progress('training', { unit: 'steps', json: o.json === true });
  let result: Awaited<ReturnType<typeof trainPolicy>>;
  try {
    result = await trainPolicy(
      set,
      opts,
      (p) => {
        bar.update(
          p.step,
          p.steps,
          `epoch ${p.epoch} loss ` +
            `${p.loss.toFixed(4)}${p.val_loss === undefined ? '' : ` val ${p.val_loss.toFixed(4)}`}`,
        );
      },
      (epoch) => log.info(epoch, 'epoch done'),
    );
  } catch (err) {
    if (err instanceof DemoSetError) throw new UsageError(err.message);
    throw err;
  } finally {
    bar.end();
  }

  const name = (o.name as string | undefined) ?? basename(out, '.onnx');
  const training = {
    tool: 'vla-train',
    demos: set.dir,
    episodes: set.episodes.length,
    train_episodes: result.train_episodes.length,
    val_episodes: result.val_episodes.length,
    train_samples: result.train_samples,
    options: opts,
    steps: result.steps,
    train_s: round(result.train_s, 1),
    final_train_loss: result.history.at(-1)?.train_loss,
    final_val_loss: result.history.at(-1)?.val_loss,
  };
  const cameras = set.cameras.map((c) => c.name);
  const { bytes, manifest } = buildOnnx(result.weights, result.stats, {
    name,
    robot,
    control_hz: set.control_hz,
    cameras,
    action_names: set.action_names,
    training,
  });
  const check = await verifyExport(bytes, result.weights, result.stats, { cameras, action_names: set.action_names });
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, bytes);
  const base = out.replace(/\.onnx$/, '');
  const note =
    `${robot} ${task}: ${set.episodes.length} demonstrations (${result.val_episodes.length} held out), ` +
    `${result.steps} steps in ${result.train_s.toFixed(0)} s, seed ${opts.seed}`;
  const curve = await lossCurveFiles(`${name}: behaviour cloning loss`, result.step_losses, result.history, note);
  await writeFile(`${base}.loss.png`, curve.png);
  await writeFile(`${base}.loss.html`, curve.html);
  const report = {
    model: out,
    size_bytes: bytes.length,
    robot,
    task,
    ...training,
    history: result.history,
    step_losses: result.step_losses.map((l) => round4(l)),
    export_check: { ...check, tolerance: EXPORT_TOLERANCE, ok: check.max_abs_diff <= EXPORT_TOLERANCE },
    manifest,
  };
  await writeFile(`${base}.train.json`, `${JSON.stringify(report, null, 2)}\n`);
  const summary = {
    model: out,
    size_bytes: bytes.length,
    robot,
    task,
    episodes: set.episodes.length,
    skipped: {
      failures: set.skipped_failures,
      interrupted: set.skipped_interrupted,
      unreadable: set.skipped_bad.length,
      unreadable_files: set.skipped_bad,
    },
    train_samples: result.train_samples,
    steps: result.steps,
    train_s: round(result.train_s, 1),
    final_train_loss: round4(training.final_train_loss),
    final_val_loss: round4(training.final_val_loss),
    export_check: report.export_check,
    loss_curve: `${base}.loss.png`,
    loss_report: `${base}.loss.html`,
  };
  if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    process.stdout.write(
      `${out}: ${(bytes.length / 1e6).toFixed(2)} MB, ${robot} ${task}, trained on ${set.episodes.length} ` +
        `demonstrations ` +
        `(${result.train_samples} samples) for ${result.steps} steps in ${(result.train_s / 60).toFixed(1)} min\n` +
        `  loss: train ${summary.final_train_loss} validation ${summary.final_val_loss ?? '-'}; curve in ` +
        `${summary.loss_curve} and ${summary.loss_report}\n` +
        `  export check: ONNX Runtime vs tfjs max |diff| ${check.max_abs_diff.toExponential(2)} over ${check.trials} ` +
        `random inputs (tolerance ${EXPORT_TOLERANCE})\n` +
        skippedLine(summary.skipped),
    );
  }
  if (!report.export_check.ok) {
    log.error(
      `the exported model differs from the trained network by ${check.max_abs_diff} (> ${EXPORT_TOLERANCE}); do not ` +
        `use it`,
    );
    process.exitCode = EXIT.check_failed;
  }
}

function skippedLine(s: { failures: number; interrupted: number; unreadable_files: { path: string }[] }): string {
  const parts = [
    s.failures ? `${s.failures} failed or truncated` : '',
    s.interrupted ? `${s.interrupted} interrupted` : '',
    s.unreadable_files.length
      ? `${s.unreadable_files.length} unreadable (${s.unreadable_files.map((f) => basename(f.path)).join(', ')})`
      : '',
  ].filter(Boolean);
  return parts.length ? `  left out: ${parts.join(', ')}\n` : '';
}

function listArg(what: string, value: string, length?: number): number[] {
  const xs = value.split(',').map((v) => intArg(what, v.trim(), 1, 4096));
  if (length !== undefined && xs.length !== length)
    throw new UsageError(`${what} takes ${length} comma-separated integers, got '${value}'`);
  return xs;
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));
const round4 = (x: number | undefined) => (x === undefined ? undefined : round(x, 4));

await runProgram(program, process.argv, 'vla-train');
