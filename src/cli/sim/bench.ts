// vla-sim bench: simulation throughput, camera cost and expert success (sim/benchmark.ts).
import type { Command } from 'commander';
import { progress } from '../../telemetry/progress.js';
import { intArg } from '../common.js';
import { physicsHzArg, robotArg, TASK_HELP, taskArg } from './args.js';
import { benchmarkSim } from './sim-benchmark.js';

export function benchCommand(program: Command): void {
  program
    .command('bench')
    .description('measure realtime factor (with and without a camera), camera ms per frame and expert success')
    .option('--robot <name>', 'ur5 | ur5e | aloha', 'ur5e')
    .option('--task <name>', TASK_HELP)
    .option('--episodes <n>', 'expert episodes (seeds 0..n-1)', '100')
    .option('--physics-hz <hz>', 'physics rate, a whole multiple of the 50 Hz control rate', '500')
    .option('--passes <n>', 'passes of each measurement, the best reported (fewer: quicker, noisier)', '3')
    .option('--json', 'print one JSON object on stdout')
    .addHelpText(
      'after',
      `
Examples:
  vla-sim bench --robot ur5e --task pick-place --episodes 100 --json
  vla-sim bench --robot aloha --episodes 20 --physics-hz 250`,
    )
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const robot = robotArg(o.robot as string);
      const task = taskArg(robot, o.task as string | undefined);
      const episodes = intArg('--episodes', o.episodes as string, 1, 100_000);
      const bar = progress('bench', { json: o.json === true });
      const physics_hz = physicsHzArg(o.physicsHz as string);
      const r = await benchmarkSim({
        robot,
        task,
        episodes,
        physics_hz,
        passes: intArg('--passes', o.passes as string, 1, 100),
        onProgress: (stage, done, total) => bar.update(done, total, stage),
      });
      bar.end();
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      const lines = [
        `${r.robot} ${r.task}: ${r.episodes} episodes, physics ${r.physics_hz} Hz, control ${r.control_hz} Hz`,
        `  realtime factor          ${r.realtime_factor}  (${r.ticks_per_s} ticks/s; target >= 100)`,
        `  realtime factor, camera  ${r.realtime_factor_camera}  (one 96x96 camera at 10 Hz; target >= 20)`,
        `  camera ms per frame      ${Object.entries(r.camera_ms)
          .map(([k, v]) => `${k}px ${v}`)
          .join(', ')}  (target 224px <= 10)`,
        `  expert success           ${(100 * r.expert_success_rate).toFixed(1)}%  (95% CI ` +
          `${r.expert_success_ci95.map((x) => (100 * x).toFixed(1)).join('-')}%; target >= 95%)`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
