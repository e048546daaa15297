// Privileged training inputs: in the sim, a residual can learn from the true values of what the base model's
// feature head (vla-finetune head) estimates, and be deployed with the head's estimates in their place. Learning
// on the estimate itself (off by about 7 degrees for the cube's turn) proved worse than learning on the truth and
// running on the estimate (README: the rh and ly runs). This wrapper writes the truth into the head's features.
import { readFileSync } from 'node:fs';
import type { SimDriver } from '../../sim/sim-driver.js';
import type { Policy } from '../policy/policy.js';
import { type HeadMetadata, readHeadMetadata } from '../train/head-splice.js';
import { headTargets } from '../train/head-trainer.js';
import { truthOf } from './feature-probe.js';

/** The base model has no feature head: there is nothing to replace with the truth. */
export class NoHeadError extends Error {}

/** The head a base model file carries; throws NoHeadError when it has none. */
export function headOf(basePath: string): HeadMetadata {
  const head = readHeadMetadata(new Uint8Array(readFileSync(basePath)));
  if (!head) throw new NoHeadError(`${basePath} has no feature head (vla-finetune head writes a copy with one)`);
  return head;
}

/** The coordinate an output estimates: cube_yaw_sin4 -> cube_yaw, target_x_m -> target_x. */
const coordinateOf = (output: string): string => output.replace(/_(sin4|cos4|m)$/, '');

/**
 * The base policy with the head's features replaced by their true values, encoded as the head was trained
 * (head-trainer.ts), read from the sim when the observation goes in.
 */
export function withTrueHeadFeatures(base: Policy, driver: SimDriver, head: HeadMetadata): Policy {
  const wanted = [...new Set(head.outputs.map(coordinateOf))];
  let encode: ((truth: number[]) => number[]) | undefined;
  return {
    describe: () => base.describe(),
    close: () => base.close(),
    async infer(obs) {
      const truth = truthOf(driver.taskState());
      const out = await base.infer(obs);
      if (!out.features) return out;
      encode ??= headTargets(
        truth.names.map((name, i) => ({ name, unit: truth.units[i] })),
        wanted,
      ).encode;
      const features = out.features.slice();
      features.set(encode(truth.values), head.base_features_dim);
      return { ...out, features };
    },
  };
}
