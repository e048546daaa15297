// --warm-start-episodes: the imitation warm start (rl/warm-start.ts). Before the first round the scripted operator
// holds the arm through this many episodes and the actor is fitted to its corrections; the rounds go on from there.
import type { Command } from 'commander';
import type { FinetuneConfig } from '../../rl/finetune-config.js';
import { intArg, numArg, UsageError } from '../common.js';

const DEFAULT_EPOCHS = 30;
const DEFAULT_LR = 1e-3;

const EPISODES_HELP =
  'sim, --operator scripted: before the first round, this many episodes the operator holds throughout, every ' +
  'decision labelled, and the actor fitted to them (thousands take minutes: a residual that sees the base ' +
  "model's features needs many scenes to generalise; e.g. 6000)";

/** Adds the warm start's options to the session command. */
export function warmStartOptions(cmd: Command): Command {
  return cmd
    .option('--warm-start-episodes <n>', EPISODES_HELP)
    .option('--warm-start-epochs <n>', 'passes over the warm start episodes when fitting', String(DEFAULT_EPOCHS))
    .option('--warm-start-lr <x>', "the fit's learning rate at its start (falls along a half cosine)", `${DEFAULT_LR}`);
}

/**
 * The config's warm_start, or nothing without --warm-start-episodes; a UsageError where it cannot run. Unless
 * --bound-ramp-rounds was given (`ramp_given`), the trust region starts whole: the fitted actor's corrections are
 * the operator's, which the demonstrations cover, and a ramp would shrink them to a fifth in the first rounds.
 */
export function warmStartArg(
  o: Record<string, unknown>,
  c: Pick<FinetuneConfig, 'operator' | 'robot_link' | 'train_seed_limit' | 'schedule'>,
  ramp_given: boolean,
): Pick<FinetuneConfig, 'warm_start' | 'schedule'> | Record<string, never> {
  if (o.warmStartEpisodes === undefined) return {};
  if (c.robot_link)
    throw new UsageError('--warm-start-episodes runs thousands of episodes: in the embedded sim only (--sim)');
  if (c.operator?.kind !== 'scripted')
    throw new UsageError(
      '--warm-start-episodes needs --operator scripted: the scripted operator holds the arm in them',
    );
  return {
    warm_start: {
      episodes: intArg('--warm-start-episodes', o.warmStartEpisodes as string, 1, c.train_seed_limit),
      epochs: intArg('--warm-start-epochs', o.warmStartEpochs as string, 1, 10_000),
      lr: numArg('--warm-start-lr', o.warmStartLr as string, 1e-7, 1),
    },
    schedule: ramp_given ? c.schedule : { ...c.schedule, bound_ramp_rounds: 0 },
  };
}
