// The base model as vla-finetune's options name it: its chunk length and features, and what they allow.
import { policyFit } from '../../policy/load-policy.js';
import { describeManifest, type OnnxManifest, PolicyLoadError } from '../../policy/onnx/manifest.js';
import { loadModelManifest } from '../../policy/onnx/onnx-file.js';
import { fileSha256 } from '../../policy/residual/residual-onnx.js';
import type { FinetuneConfig } from '../../rl/finetune-config.js';
import { headOf, NoHeadError } from '../../rl/privileged-head.js';
import type { RobotDescription } from '../../robot/index.js';
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

/**
 * The base model's chunk length and features size, from its manifest; a file that is no policy, or a policy that
 * does not fit the robot (its layout, cameras or rate), is bad input, refused before a run folder is made.
 */
export async function baseModel(path: string, desc: RobotDescription): Promise<{ horizon: number; features: number }> {
  let manifest: OnnxManifest;
  try {
    ({ manifest } = await loadModelManifest(path));
  } catch (err) {
    if (err instanceof PolicyLoadError) throw new UsageError(`--base ${err.message}`);
    throw err;
  }
  const cameras = desc.cameras.map((c) => c.name);
  const fit = policyFit(describeManifest(manifest), {
    robot: desc,
    control_hz: desc.control_hz,
    cameras,
    square_cameras_only: false,
  });
  if (fit.errors.length) throw new UsageError(`--base ${path} does not fit ${desc.robot}: ${fit.errors.join('; ')}`);
  return { horizon: manifest.action.horizon, features: manifest.features?.dim ?? 0 };
}

/**
 * `vla-finetune export --base COPY`: a residual trained with --privileged-head never saw its copy's head
 * estimates, only the truth they stand for, so it may be bound to another copy of the same base model whose head
 * gives the same outputs (a sharper head made since). The run's own copy must still be there to compare with.
 */
export async function rebindBase(config: FinetuneConfig, copy: string): Promise<FinetuneConfig> {
  if (config.residual.privileged_head !== true)
    throw new UsageError(
      `--base: ${config.run} learnt on its base model's own features; only a --privileged-head run's residual ` +
        'moves to another copy',
    );
  const [was, now] = [config.base.path, copy].map((path) => {
    try {
      return headOf(path);
    } catch (err) {
      if (err instanceof NoHeadError) throw new UsageError(`--base: ${err.message}`);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`--base: ${path} not found`);
      throw err;
    }
  });
  if (await fileSha256(config.base.path).then((sha) => sha !== config.base.sha256))
    throw new UsageError(`--base: ${config.base.path}, the run's own copy, changed since the run started`);
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (now.base_sha256 !== was.base_sha256 || now.base_features_dim !== was.base_features_dim)
    throw new UsageError(`--base: ${copy} is a copy of another base model than ${config.base.path}`);
  if (!same(now.outputs, was.outputs))
    throw new UsageError(
      `--base: ${copy}'s head gives ${now.outputs.join(', ')}; the run's gives ${was.outputs.join(', ')}`,
    );
  return { ...config, base: { ...config.base, path: copy, sha256: await fileSha256(copy) } };
}
