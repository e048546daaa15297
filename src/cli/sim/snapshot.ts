// vla-sim snapshot: one camera image of a freshly reset scene (optionally after some expert ticks),
// written as PNG so a user can look at what the policy will see.
import { stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { encodeRgbPng } from '../../codecs/png.js';
import { intArg, UsageError } from '../common.js';
import { cameraArg, robotArg, TASK_HELP, taskArg } from './args.js';
import { expertEngine } from './expert-engine.js';

export function snapshotCommand(program: Command): void {
  program
    .command('snapshot')
    .description('render one camera image of a scene to PNG')
    .option('--robot <name>', 'ur5 | ur5e | aloha')
    .option('--task <name>', TASK_HELP)
    .option('--camera <name>', 'camera (default: the robot\'s first, "top")')
    .option('--size <px>', 'image width and height in pixels (1..1024)', '224')
    .option('--seed <n>', 'episode seed: object placement', '0')
    .option('--tick <n>', 'run the scripted expert this many ticks first', '0')
    .option('--out <file.png>', 'where to write the RGB image')
    .option('--depth-out <file.png>', 'also write the depth image (grey: near is bright)')
    .addHelpText(
      'after',
      `
Examples:
  vla-sim snapshot --robot ur5e --task pick-place --camera top --size 224 --out scene.png
  vla-sim snapshot --robot ur5 --camera wrist --tick 120 --out wrist.png --depth-out wrist-depth.png
  vla-sim snapshot --robot aloha --camera left_wrist --seed 3 --size 96 --out left.png`,
    )
    .action(async (o: Record<string, string | undefined>) => {
      const robot = robotArg(o.robot);
      const task = taskArg(robot, o.task);
      const camera = cameraArg(robot, o.camera);
      const size = intArg('--size', o.size!, 1, 1024);
      const seed = intArg('--seed', o.seed!, 0);
      const ticks = intArg('--tick', o.tick!, 0, 100_000);
      if (!o.out) throw new UsageError('--out <file.png> is required');
      await checkOutFile('--out', o.out);
      if (o.depthOut) await checkOutFile('--depth-out', o.depthOut);
      const ex = await expertEngine(robot, task);
      const env = ex.driver.env;
      try {
        ex.driver.reset(seed);
        if (ticks > 0) await ex.engine.runEpisode({ seed, max_ticks: ticks });
        const frame = ex.driver.render(camera, size);
        await writePng('--out', o.out, encodeRgbPng(size, size, frame.rgb));
        if (o.depthOut) await writePng('--depth-out', o.depthOut, encodeRgbPng(size, size, depthToGrey(frame.depth_m)));
        process.stdout.write(
          `${o.out}: ${robot} ${task} seed ${seed} tick ${env.tick}, camera ${camera} ${size}x${size}\n`,
        );
      } finally {
        await ex.close();
      }
    });
}

/** An output file whose folder is missing (or is a file) is bad input, found before anything is rendered. */
async function checkOutFile(flag: string, path: string): Promise<void> {
  const dir = dirname(path);
  const st = await stat(dir).catch(() => undefined);
  if (!st) throw new UsageError(`${flag} ${path}: the folder ${dir} does not exist`);
  if (!st.isDirectory()) throw new UsageError(`${flag} ${path}: ${dir} is a file, not a folder`);
  if ((await stat(path).catch(() => undefined))?.isDirectory())
    throw new UsageError(`${flag} ${path}: is a folder; name a .png file`);
}

async function writePng(flag: string, path: string, png: Uint8Array): Promise<void> {
  try {
    await writeFile(path, png);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'ENOENT'
          ? `${dirname(path)} takes no new files`
          : code === 'EROFS'
            ? 'read-only file system'
            : `cannot write it (${code ?? String(err)})`;
    throw new UsageError(`${flag} ${path}: ${why}`);
  }
}

/** Depth as grey levels over the frame's own range (misses black), for looking at, not for measuring. */
function depthToGrey(depth: Float32Array): Uint8Array {
  let lo = Infinity,
    hi = 0;
  for (const d of depth)
    if (Number.isFinite(d)) {
      if (d < lo) lo = d;
      if (d > hi) hi = d;
    }
  const out = new Uint8Array(depth.length * 3);
  const span = hi > lo ? hi - lo : 1;
  depth.forEach((d, i) => {
    const g = Number.isFinite(d) ? Math.round(255 - (200 * (d - lo)) / span) : 0;
    out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = g;
  });
  return out;
}
