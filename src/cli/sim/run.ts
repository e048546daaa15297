// vla-sim run: scripted-expert episodes in the embedded simulation, through the sim driver, on the
// real-time or the fast clock, optionally recorded to MCAP (one file per episode).
import { join } from 'node:path';
import type { Command } from 'commander';
import { SimDriver, SIM_CLOCKS } from '../../../drivers/sim/sim-driver.js';
import { createExpert } from '../../../sim/experts/index.js';
import { runExpertOnDriver } from '../../../sim/expert-episode.js';
import { wilson } from '../../util/stats.js';
import { EpisodeWriter } from '../../recording/index.js';
import { createLogger } from '../../telemetry/log.js';
import { choice, intArg, numArg } from '../common.js';
import { progress } from '../../telemetry/progress.js';
import { cameraListArg, robotArg, taskArg, TASK_HELP, physicsHzArg } from './args.js';

export function runCommand(program: Command): void {
  program.command('run')
    .description('run scripted-expert episodes in the simulation (and record them)')
    .option('--robot <name>', 'ur5 | ur5e | aloha')
    .option('--task <name>', TASK_HELP)
    .option('--episodes <n>', 'number of episodes', '1')
    .option('--seed <n>', 'seed of the first episode; episode i uses seed + i', '0')
    .option('--noise <x>', 'expert noise, 0 (clean) .. 2, for imperfect demonstrations', '0')
    .option('--clock <clock>', 'realtime: 50 ticks per second of wall time; fast: as fast as possible', 'realtime')
    .option('--record <dir>', 'write each episode to <dir>/<robot>-<task>-seed<N>.mcap')
    .option('--cameras <list>', 'cameras to record, comma-separated, or "none" (default: all)')
    .option('--camera-size <px>', 'recorded image width and height', '96')
    .option('--physics-hz <hz>', 'physics rate, a whole multiple of the 50 Hz control rate', '500')
    .option('--json', 'print one JSON object on stdout')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const robot = robotArg(o.robot as string | undefined);
      const task = taskArg(robot, o.task as string | undefined);
      const episodes = intArg('--episodes', o.episodes as string, 1, 1_000_000);
      const seed0 = intArg('--seed', o.seed as string, 0);
      const noise = numArg('--noise', o.noise as string, 0, 2);
      const clock = choice('clock', o.clock as string, SIM_CLOCKS);
      const cameras = o.record ? cameraListArg(robot, o.cameras as string | undefined) : [];
      const cameraSize = intArg('--camera-size', o.cameraSize as string, 8, 1024);
      const log = createLogger({ name: 'vla-sim' });

      const physicsHz = physicsHzArg(o.physicsHz as string);
      const driver = await SimDriver.create({ robot, task, clock, camera_size: cameraSize, seed: seed0, physics_hz: physicsHz });
      const expert = createExpert(driver.env.robot, task, driver.env.control_hz, { noise });
      const desc = driver.describe();
      let stop = false;
      const onSignal = () => { stop = true; log.warn('interrupted: finishing the current episode, then stopping'); };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      await driver.connect();
      const results: { seed: number; success: boolean; ticks: number; file?: string }[] = [];
      const bar = progress(`${robot} ${task}`, { unit: 'episodes', json: o.json === true });
      try {
        for (let i = 0; i < episodes && !stop; i++) {
          const seed = seed0 + i;
          const file = o.record ? join(o.record as string, `${robot}-${task}-seed${seed}.mcap`) : undefined;
          const recorder = file ? await EpisodeWriter.open(file, {
            robot, task, seed, control_hz: desc.control_hz, joint_names: desc.joint_names, gripper_names: desc.gripper_names,
            action_names: desc.action_names, cameras: cameras.map((name) => ({ name, width: cameraSize, height: cameraSize })),
            policy: noise > 0 ? `expert(noise=${noise})` : 'expert',
          }) : undefined;
          const r = await runExpertOnDriver(driver, expert, seed, { recorder, cameras, camera_size: cameraSize });
          await recorder?.close({ success: r.success });
          results.push({ ...r, file });
          log.info({ seed, success: r.success, ticks: r.ticks, file }, 'episode done');
          bar.update(i + 1, episodes, `${results.filter((x) => x.success).length} succeeded`);
        }
      } finally {
        bar.end();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await driver.disconnect();
      }
      const successes = results.filter((r) => r.success).length;
      const summary = {
        robot, task, sim: true, policy: 'expert', noise, clock, physics_hz: physicsHz, episodes: results.length, successes,
        success_rate: results.length ? successes / results.length : 0,
        success_ci95: wilson(successes, results.length),
        mean_ticks: results.length ? results.reduce((a, r) => a + r.ticks, 0) / results.length : 0,
        slipped_ticks: driver.slipped_ticks,
        failed_seeds: results.filter((r) => !r.success).map((r) => r.seed),
        recordings: results.flatMap((r) => (r.file ? [r.file] : [])),
      };
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else {
        process.stdout.write(`${robot} ${task} (sim, ${clock} clock, scripted expert${noise ? `, noise ${noise}` : ''}): `
          + `${successes}/${results.length} episodes succeeded (${(100 * summary.success_rate).toFixed(0)}%), mean ${summary.mean_ticks.toFixed(0)} ticks\n`);
        if (summary.recordings.length) process.stdout.write(`recorded ${summary.recordings.length} episode(s) under ${o.record}\n`);
      }
    });
}
