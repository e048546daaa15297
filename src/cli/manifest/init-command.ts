// vla-manifest init: a sidecar manifest for an ONNX model, from its graph and the flags. What neither gives
// is refused (exit 2) with one line per missing item and the flag that supplies it.
import { basename } from 'node:path';
import { draftManifest } from '../../policy/onnx/manifest-draft.js';
import type { NormMode } from '../../policy/onnx/norm-stats.js';
import { readStatsFile } from '../../policy/onnx/norm-stats.js';
import { sidecarPath } from '../../policy/onnx/onnx-file.js';
import { choice, intArg, numArg, UsageError } from '../common.js';
import { asUsage, loadGraph, pairsArg, robotArgOptional, sizeArg, writeManifest } from './manifest-args.js';

export interface InitFlags {
  robot?: string;
  profile?: string;
  hz?: string;
  horizon?: string;
  offset?: string;
  camera?: string[];
  state?: string;
  output?: string;
  stats?: string;
  norm?: string;
  imageNorm?: string;
  imageSize?: string;
  layout?: string;
  name?: string;
  out?: string;
  force?: boolean;
  json?: boolean;
}

export const INIT_HELP = `
Infers from the graph: image inputs (rank 4; NCHW when dim 1 is 3, NHWC when dim 3 is 3; size; float32 or uint8),
the state (the float32 [1, n] input), language tokens (int64 [1, n]), the chunk output [1, H, D]. Cameras are
matched by name with --robot (observation.images.top -> top). The rest comes from flags; what is missing is listed
with its flag and nothing is written (exit 2).

Examples:
  vla-manifest init policy.onnx --robot ur5e --hz 50 --norm identity
  vla-manifest init act.onnx --robot aloha --hz 50 --stats meta/stats.json --camera image_0=top
  vla-manifest init model.onnx --robot ur5 --hz 10 --horizon 50 --state qpos --output actions \\
    --stats stats.json --force`;

const NORMS: readonly NormMode[] = ['identity', 'mean_std', 'min_max', 'quantiles', 'quantile10'];

export async function initCommand(model: string, o: InitFlags): Promise<void> {
  const robot = await robotArgOptional(o.robot, o.profile);
  const graph = await loadGraph(model);
  const stats = o.stats ? await asUsage(() => readStatsFile(o.stats!)) : undefined;
  const layout = o.layout === undefined ? undefined : choice('--layout', o.layout, ['NCHW', 'NHWC'] as const);
  const draft = await asUsage(() =>
    draftManifest(graph, {
      name: o.name ?? basename(model).replace(/\.onnx$/i, ''),
      robot,
      control_hz: o.hz === undefined ? undefined : numArg('--hz', o.hz, 0.1, 1000),
      horizon: o.horizon === undefined ? undefined : intArg('--horizon', o.horizon, 1, 100_000),
      offset: o.offset === undefined ? undefined : intArg('--offset', o.offset, 0, 1000),
      cameras: pairsArg('--camera', o.camera),
      image_size: sizeArg('--image-size', o.imageSize),
      layout,
      state_input: o.state,
      output: o.output,
      stats,
      norm: o.norm === undefined ? undefined : choice('--norm', o.norm, NORMS),
      image_norm:
        o.imageNorm === undefined
          ? undefined
          : choice('--image-norm', o.imageNorm, ['unit', 'imagenet', 'stats'] as const),
    }),
  );
  if (!draft.manifest) {
    const lines = draft.missing.map((m) => `  - ${m.what}: ${m.flag}`);
    throw new UsageError(`cannot write a manifest for ${model}; missing:\n${lines.join('\n')}`);
  }
  const out = o.out ?? sidecarPath(model);
  const manifest = await writeManifest(draft.manifest, graph, out, o.force === true, model);
  report(model, out, manifest, draft.notes, o.json === true, robot?.robot);
}

export function report(
  model: string,
  out: string,
  manifest: unknown,
  notes: string[],
  json: boolean,
  robot: string | undefined,
): void {
  const sidecar = sidecarPath(model);
  const elsewhere =
    out !== '-' && out !== sidecar ? `vla-run reads ${sidecar}; move the file there to use it` : undefined;
  if (json) {
    if (out !== '-')
      process.stdout.write(`${JSON.stringify({ model, written: out, manifest, notes, hint: elsewhere })}\n`);
    return;
  }
  const w = out === '-' ? process.stderr : process.stdout;
  if (out !== '-') w.write(`wrote ${out}\n`);
  for (const n of notes) w.write(`  ${n}\n`);
  if (elsewhere) w.write(`note: ${elsewhere}\n`);
  w.write(`next: vla-manifest check ${model} --robot ${robot ?? 'ROBOT'}\n`);
}
