// Where a session's episodes run, from its flags: local actor processes (how many), actors joining over ZeroMQ
// (the bind address, CURVE keys, how long to wait), or the learner's own thread; on a robot, its one actor.
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import type { FinetuneConfig } from '../../rl/finetune-config.js';
import { intArg, numArg, UsageError } from '../common.js';
import { endpointArg, type PoolFlags } from './actor-command.js';
import { robotActorArgs } from './robot-link-args.js';

// Local actor processes by default: the learner needs a core of its own. Measured on 2 cores (`rl` benchmark, and
// 10-round runs): rounds are learner-bound, so a second actor only competes with it (rounds as fast, or slower),
// while one actor beside the learner beats episodes in the learner's thread by ~8%; 2 actors from 3 cores.
export const DEFAULT_ACTORS = Math.max(1, Math.min(2, availableParallelism() - 1));

const collect = (value: string, prev: string[] = []): string[] => [...prev, value];

/** The learner's options for where episodes run: local actor processes, remote actors, CURVE keys. */
export function poolOptions(cmd: Command): Command {
  return cmd
    .option(
      '--actors <n>',
      `rollout actor processes started on this machine (default ${DEFAULT_ACTORS} here: 1 on 2 cores, 2 from 3 ` +
        'cores); 0: only actors that join from other machines (vla-finetune actor --learner tcp://HOST:PORT)',
    )
    .option('--in-process', "episodes in the learner's own thread between its updates: no actor processes, no sockets")
    .option('--learner-bind <endpoint>', 'where actors connect (port 0: any free port)', 'tcp://127.0.0.1:0')
    .option('--actor-wait <s>', 'episodes waiting and no actor ready this long: the run stops (exit 1)', '120')
    .option('--actor-timeout <s>', 'an actor silent this long is lost; its episodes run on the others', '15')
    .option('--curve-secret-key <file>', "encrypt the actors' link with CurveZMQ: the learner's NAME.key_secret")
    .option('--allow-client-key <file|dir>', 'with --curve-secret-key: an actor public key let in (repeat)', collect);
}

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
