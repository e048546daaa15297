// Everything a SAC learner is, as plain arrays and numbers: the networks, the target critics, the optimiser
// moments and step counts, the temperature, the learner's random stream and its update count. A checkpoint
// stores this (checkpoint.ts); restoring it into a fresh learner continues the run exactly.
import type * as TF from '@tensorflow/tfjs';
import { type SacConfig, SacLearner } from './sac-learner.js';

interface AdamValues {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export interface LearnerState {
  config: SacConfig;
  updates: number;
  rng: { state: number; spare_normal: number | null };
  actor: Float32Array[];
  critics: Float32Array[][];
  targets: Float32Array[][];
  log_alpha: number;
  actor_opt: AdamValues;
  critic_opt: AdamValues;
  alpha_opt: AdamValues;
}

export function captureLearner(l: SacLearner): LearnerState {
  return {
    config: {
      ...l.config,
      hidden: [...l.config.hidden],
      ...(l.config.critic_hidden ? { critic_hidden: [...l.config.critic_hidden] } : {}),
    },
    updates: l.updates,
    rng: l.rng.getState(),
    actor: l.actor.values(),
    critics: l.critics.map((q) => q.values()),
    targets: l.targets.map((q) => q.values()),
    log_alpha: l.logAlpha.dataSync()[0],
    actor_opt: l.actorOpt.values(),
    critic_opt: l.criticOpt.values(),
    alpha_opt: l.alphaOpt.values(),
  };
}

/** A learner built from the state's config and set to it. Throws when the arrays do not fit the config. */
export function restoreLearner(tf: typeof TF, s: LearnerState): SacLearner {
  const l = new SacLearner(tf, s.config);
  try {
    l.updates = s.updates;
    l.rng.setState(s.rng);
    l.actor.load(s.actor);
    if (s.critics.length !== l.critics.length || s.targets.length !== l.targets.length)
      throw new Error(
        `expected ${l.critics.length} critics and targets, found ${s.critics.length}/${s.targets.length}`,
      );
    for (let i = 0; i < l.critics.length; i++) l.critics[i].load(s.critics[i]);
    for (let i = 0; i < l.targets.length; i++) l.targets[i].load(s.targets[i]);
    tf.tidy(() => l.logAlpha.assign(tf.scalar(s.log_alpha)));
    l.actorOpt.load(s.actor_opt);
    l.criticOpt.load(s.critic_opt);
    l.alphaOpt.load(s.alpha_opt);
  } catch (err) {
    l.dispose();
    throw err;
  }
  return l;
}
