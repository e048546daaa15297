// What the vla-manifest subcommands share: flag parsing, loading a robot and a graph as bad input (exit 2)
// when they fail, writing a sidecar that is valid and agrees with the graph (and never overwriting one
// without --force).
import { writeFile } from 'node:fs/promises';
import { type GraphInfo, readGraphInfo } from '../../policy/onnx/graph-info.js';
import {
  checkManifestAgainstGraph,
  type OnnxManifest,
  type OnnxManifestInput,
  PolicyLoadError,
  parseManifest,
} from '../../policy/onnx/manifest.js';
import { BUILTIN_ROBOTS, loadRobot, ProfileError, type RobotDescription } from '../../robot/index.js';
import { choice, UsageError } from '../common.js';

/** commander collector for a repeatable flag. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Repeated `A=B` flags to a map; a key given twice, or a value without '=', is bad usage. */
export function pairsArg(flag: string, values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1) throw new UsageError(`${flag} expects NAME=VALUE, got '${v}'`);
    const key = v.slice(0, eq);
    if (key in out) throw new UsageError(`${flag} ${key}=... is given twice`);
    out[key] = v.slice(eq + 1);
  }
  return out;
}

export function sizeArg(flag: string, value: string | undefined): { width: number; height: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)x(\d+)$/.exec(value);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
    throw new UsageError(`${flag} expects WxH (e.g. 224x224), got '${value}'`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** The robot description (the shipped profile, or --profile), or undefined without --robot. */
export async function robotArgOptional(
  robot: string | undefined,
  profile: string | undefined,
): Promise<RobotDescription | undefined> {
  if (robot === undefined) {
    if (profile !== undefined) throw new UsageError('--profile needs --robot (the robot the profile is for)');
    return undefined;
  }
  if (profile === undefined) choice('robot', robot, BUILTIN_ROBOTS);
  try {
    return await loadRobot(robot, profile);
  } catch (err) {
    if (err instanceof ProfileError) throw new UsageError(err.message);
    throw err;
  }
}

/** A policy-layer refusal (bad model, manifest or statistics) is bad input: exit 2 with its message. */
export async function asUsage<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof PolicyLoadError) throw new UsageError(err.message);
    throw err;
  }
}

export function loadGraph(model: string): Promise<GraphInfo> {
  return asUsage(() => readGraphInfo(model));
}

/**
 * Validate the manifest (zod) and check it against the graph, then write it as 2-space JSON. `out` '-'
 * prints it instead. An existing file is refused unless `force`. Returns the manifest as written.
 */
export async function writeManifest(
  input: OnnxManifestInput,
  graph: GraphInfo,
  out: string,
  force: boolean,
  model: string,
): Promise<OnnxManifest> {
  const manifest = await asUsage(() => parseManifest(JSON.parse(JSON.stringify(input)), `the manifest for ${model}`));
  const problems = checkManifestAgainstGraph(manifest, graph);
  if (problems.length > 0)
    throw new UsageError(`the manifest for ${model} does not match its graph: ${problems.join('; ')}`);
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  if (out === '-') {
    process.stdout.write(text);
    return manifest;
  }
  try {
    await writeFile(out, text, { flag: force ? 'w' : 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${out} exists; not overwritten (--force to replace it)`);
    throw new UsageError(`${out}: cannot write the manifest (${code ?? String(err)})`);
  }
  return manifest;
}
