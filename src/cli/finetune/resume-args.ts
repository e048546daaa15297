// `vla-finetune --resume runs/NAME`: the run's own config.json, with only where the robot is now taken from the
// command line (its episodes are the same wherever it moved).
import type { FinetuneConfig } from '../../rl/finetune-config.js';
import { UsageError } from '../common.js';
import { readRunConfig } from './finetune-run.js';
import { robotLinkArg } from './robot-link-args.js';

export async function resumed(
  o: Record<string, unknown>,
): Promise<{ config: FinetuneConfig; runDir: string; resume: true }> {
  for (const flag of ['robot', 'task', 'base', 'run'])
    if (o[flag] !== undefined) throw new UsageError(`--${flag} comes from the run's config.json with --resume`);
  if (o.sim) throw new UsageError('--sim: a resumed run runs where its config.json says');
  const runDir = o.resume as string;
  const config = await readRunConfig(runDir);
  if ((o.rosbridge !== undefined || o.ports !== undefined) && !config.robot_link)
    throw new UsageError(`${runDir} is a run in the embedded sim; it resumes there`);
  // the robot may have moved to another address since; its episodes are the same
  const link = await robotLinkArg(o, config.robot, config.operator?.kind);
  const before = config.robot_link;
  if (before?.leader_ports && link?.ports && !link.leader_ports)
    throw new UsageError(
      `${runDir} takes over through the leader arms (--leader-ports ${before.leader_ports}); with new --ports, ` +
        'give --leader-ports too',
    );
  const robot_link = link
    ? {
        ...link,
        workspace_box: link.workspace_box ?? before?.workspace_box,
        success_topic: link.success_topic ?? before?.success_topic,
      }
    : before;
  return { config: { ...config, ...(robot_link ? { robot_link } : {}) }, runDir, resume: true };
}
