// The base model as vla-finetune's options name it: its chunk length and features, and what they allow.
import { PolicyLoadError } from '../../policy/onnx/manifest.js';
import { loadModelManifest } from '../../policy/onnx/onnx-file.js';
import { headOf, NoHeadError } from '../../rl/privileged-head.js';
import { UsageError } from '../common.js';

/** --start-features needs the base model's features (and no --no-features). */
export function startFeatures(o: Record<string, unknown>, features: number): true {
  if (o.features === false) throw new UsageError('--start-features needs the features --no-features turns off');
  if (features === 0) throw new UsageError('--start-features: the base model has no features output');
  return true;
}

/** --privileged-head needs the sim (it knows the truth) and a base model with a feature head. */
export function privilegedHead(o: Record<string, unknown>, base: string): true {
  if (o.sim !== true) throw new UsageError('--privileged-head: the sim only (a robot does not know the true poses)');
  try {
    headOf(base);
  } catch (err) {
    if (err instanceof NoHeadError) throw new UsageError(`--privileged-head: ${err.message}`);
    throw err;
  }
  return true;
}

/** The base model's chunk length and features size, from its manifest; a file that is no policy is bad input. */
export async function baseModel(path: string): Promise<{ horizon: number; features: number }> {
  try {
    const { manifest } = await loadModelManifest(path);
    return { horizon: manifest.action.horizon, features: manifest.features?.dim ?? 0 };
  } catch (err) {
    if (err instanceof PolicyLoadError) throw new UsageError(`--base ${err.message}`);
    throw err;
  }
}
