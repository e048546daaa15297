// Where a session's episodes run, from its flags: local actor processes (how many), actors joining over ZeroMQ
// (the bind address, CURVE keys, how long to wait), or the learner's own thread; on a robot, its one actor.
import { availableParallelism } from 'node:os';
import type { FinetuneConfig } from '../../rl/finetune-config.js';
import { intArg, numArg, UsageError } from '../common.js';
import { endpointArg, type PoolFlags } from './actor-command.js';
import { robotActorArgs } from './robot-link-args.js';

/** On 2 cores one actor: a round is learner-bound there, and a second actor competes with the learner. */
export const DEFAULT_ACTORS = Math.max(1, Math.min(2, availableParallelism() - 1));

export function poolFlags(o: Record<string, unknown>, c: FinetuneConfig, runDir: string): PoolFlags {
  const in_process = o.inProcess === true;
  if (in_process && (o.actors !== undefined || o.learnerBind !== 'tcp://127.0.0.1:0' || o.curveSecretKey))
    throw new UsageError('--in-process runs no actors: leave out --actors, --learner-bind and the CURVE flags');
  const robot = c.robot_link;
  if (robot && in_process) throw new UsageError('--in-process: on a robot, episodes run in an actor of their own');
  const actors = o.actors === undefined ? (robot ? 1 : DEFAULT_ACTORS) : intArg('--actors', o.actors as string, 0, 256);
  for (const [key, flag] of [
    ['margin', '--margin'],
    ['robotWait', '--robot-wait'],
  ] as const)
    if (!robot && o[key] !== undefined) throw new UsageError(`${flag} is for a session on a robot`);
  for (const [set, flag] of [
    [robot?.workspace_box, '--workspace-box FILE'],
    [robot?.success_topic, '--success-topic TOPIC'],
  ] as const)
    if (set && actors === 0)
      process.stderr.write(
        `vla-finetune: warning: ${flag.split(' ')[0]} reaches only actors started here; give the actor on the ` +
          `robot host its own (vla-finetune actor ${flag})\n`,
      );
  if (robot && actors > 1)
    throw new UsageError(`--actors ${actors}: one robot, one actor (1, or 0 to start it yourself)`);
  return {
    actors,
    ...(robot
      ? {
          actor_args: [
            ...robotActorArgs(robot, o.margin as string | undefined, runDir),
            ...(o.robotWait !== undefined ? ['--robot-wait', o.robotWait as string] : []),
            ...(c.operator?.kind === 'keyboard' ? ['--keyboard'] : []),
          ],
        }
      : {}),
    in_process,
    bind: endpointArg('--learner-bind', o.learnerBind as string) as string,
    wait_s: numArg('--actor-wait', o.actorWait as string, 0.1, 1e6),
    actor_timeout_s: numArg('--actor-timeout', o.actorTimeout as string, 0.1, 1e6),
    ...(o.curveSecretKey ? { curveSecretKey: o.curveSecretKey as string } : {}),
    ...(o.allowClientKey ? { allowClientKey: o.allowClientKey as string[] } : {}),
  };
}
