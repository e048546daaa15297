// vla-sim snapshot: one camera image of a freshly reset scene (optionally after some expert ticks),
// written as PNG so a user can look at what the policy will see.
import { writeFile } from 'node:fs/promises';
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
    .action(async (o: Record<string, string | undefined>) => {
      const robot = robotArg(o.robot);
      const task = taskArg(robot, o.task);
      const camera = cameraArg(robot, o.camera);
      const size = intArg('--size', o.size!, 1, 1024);
      const seed = intArg('--seed', o.seed!, 0);
      const ticks = intArg('--tick', o.tick!, 0, 100_000);
      if (!o.out) throw new UsageError('--out <file.png> is required');
      const ex = await expertEngine(robot, task);
      const env = ex.driver.env;
      try {
        ex.driver.reset(seed);
        if (ticks > 0) await ex.engine.runEpisode({ seed, max_ticks: ticks });
        const frame = ex.driver.render(camera, size);
        await writeFile(o.out, encodeRgbPng(size, size, frame.rgb));
        if (o.depthOut) await writeFile(o.depthOut, encodeRgbPng(size, size, depthToGrey(frame.depth_m)));
        process.stdout.write(
          `${o.out}: ${robot} ${task} seed ${seed} tick ${env.tick}, camera ${camera} ${size}x${size}\n`,
        );
      } finally {
        await ex.close();
      }
    });
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
