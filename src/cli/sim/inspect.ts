// vla-sim inspect: what a recorded episode holds, or what is wrong with the file.
import type { Command } from 'commander';
import { EpisodeFileError, readEpisode, recoveredLine } from '../../recording/index.js';
import { UsageError } from '../common.js';
import { figureText } from '../run/summary.js';

export function inspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('summarise a recorded episode (.mcap)')
    .argument('<file>', 'episode file written by vla-sim run --record or vla-run --record')
    .option('--json', 'print one JSON object on stdout')
    .addHelpText(
      'after',
      `
Examples:
  vla-sim inspect demos/aloha-transfer-cube-seed0.mcap
  vla-sim inspect run.mcap --json          {"outcome": "interrupted", "fault": ..., "ticks": ..., ...}
  vla-sim inspect killed.mcap              a file whose writer did not finish (killed, power cut, full disk):
                                           "recovered: ... N complete ticks of episode seed S up to tick T"
                                           (--json: "recovered": {"complete_ticks", "last_tick", "reason"})

Exit 2 with one line naming the problem for a file that is missing, damaged, not an episode, or cut short
before its first complete tick.`,
    )
    .action(async (file: string, o: { json?: boolean }) => {
      let ep: Awaited<ReturnType<typeof readEpisode>>;
      try {
        ep = await readEpisode(file, { frames: false });
      } catch (err) {
        // a bad file is bad input: one clear line, exit 2
        if (err instanceof EpisodeFileError) throw new UsageError(err.message);
        throw err;
      }
      const summary = {
        file,
        robot: ep.meta.robot,
        task: ep.meta.task,
        seed: ep.meta.seed,
        format_version: ep.format_version,
        success: ep.success,
        outcome: ep.outcome,
        ...(ep.fault !== undefined ? { fault: ep.fault } : {}),
        ...(ep.task_outcome !== undefined ? { task_outcome: ep.task_outcome } : {}),
        ticks: ep.ticks,
        duration_s: ep.ticks / ep.meta.control_hz,
        tick_clock: ep.meta.tick_clock ?? null,
        control_hz: ep.meta.control_hz,
        policy: ep.meta.policy ?? null,
        action_names: ep.meta.action_names,
        cameras: ep.meta.cameras,
        recovered: ep.recovered ?? null,
      };
      if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        process.stdout.write(
          `${file}: ${summary.robot} ${summary.task} seed ${summary.seed}, ${summary.ticks} ticks ` +
            `(${summary.duration_s.toFixed(1)} s at ${summary.control_hz} Hz), ` +
            `${ep.fault?.startsWith(ep.outcome) ? ep.fault : `${ep.outcome}${ep.fault ? ` (${ep.fault})` : ''}`}, ` +
            `format ${ep.format_version}\n`,
        );
        process.stdout.write(`  actions: ${summary.action_names.join(', ')}\n`);
        process.stdout.write(
          `  cameras: ${summary.cameras.map((c) => `${c.name} ${c.width}x${c.height}`).join(', ') || 'none'}\n`,
        );
        if (ep.task_outcome)
          process.stdout.write(
            `  ended: ${Object.entries(ep.task_outcome)
              .map(([k, v]) => figureText(k, v))
              .join(', ')}\n`,
          );
        if (ep.recovered) process.stdout.write(`  ${recoveredLine(ep)}\n`);
      }
    });
}
