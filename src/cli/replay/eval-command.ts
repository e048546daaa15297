// vla-replay eval: run a policy on recorded observations and compare its chunks with the recorded actions that
// followed (open loop). The policy is loaded and checked as vla-run loads it; the work is src/replay/eval/.
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import type { Command } from 'commander';
import { defaultPolicy } from '../../policy/default-policy.js';
import type { Policy } from '../../policy/policy.js';
import { EpisodeFileError } from '../../recording/index.js';
import { type EvalResult, type EvalSettings, evaluate, readFirstEpisode } from '../../replay/eval/evaluate.js';
import { EvalInputError } from '../../replay/eval/fit.js';
import { formatSummary } from '../../replay/eval/format.js';
import { writeReport } from '../../replay/eval/report-files.js';
import { EpisodeSourceError, type FeatureMap, listEpisodeSources } from '../../replay/sources.js';
import type { RobotDescription } from '../../robot/index.js';
import { BLEND_MODES, type BlendMode } from '../../runtime/action-buffer.js';
import { progress } from '../../telemetry/progress.js';
import { choice, EXIT, intArg, numArg, UsageError } from '../common.js';
import { choosePolicy } from '../run/policy-choice.js';
import { robotDescription } from '../run/robot-args.js';

const DEFAULT_STRIDE = 1;
const DEFAULT_MAX_L1 = 0.05;
const WORST_KEPT = 3;

const EXAMPLES = `
Examples:
  vla-replay eval demos/ --policy models/ur5e-pick-place.onnx
  vla-replay eval demos/ --policy models/ur5e-pick-place.onnx --out report/ --json > eval.json
  vla-replay eval runs/*.mcap --policy zmq://gpu-box:5555 --stride 5 --delay 10
  vla-replay eval datasets/ur5e-pick-place --robot ur5e --map observation.images.top=top --max-l1 0.03,gripper=0.2

What it reports: L1 = |predicted - recorded| per action dimension, in its units (rad; grippers 0 closed..1 open).
  per dimension    over every index of every chunk (mean, p95, max)
  per index        L1 at index 1..H inside the chunk: how fast a prediction drifts from what was done
  executed         only the actions the runtime would have run: its own buffer and trigger with --delay d and
                   --margin (chunk of tick k lands after tick k + d; indices d+1 .. about H - margin execute)
  seams            where a landing chunk replaces the old plan: |new - old| on the ticks they share
  horizon          the largest index whose mean L1 stays <= --max-l1 in every dimension, and the --delay and
                   --margin with which the runtime executes no further than that
Stride: by default every tick is evaluated (--stride ${DEFAULT_STRIDE}): the shipped ur5e model costs ~0.5 ms a
call, so 100 episodes of ~250 ticks take well under 2 minutes on 2 cores. A policy of hundreds of ms per call
(a remote VLA) needs --stride (the progress bar shows the ETA); the schedule still asks for every tick it needs.

Exit codes: 0 done, 2 bad usage or input: a recording of another robot, action layout or rate, a camera the
policy reads missing, an unreadable or truncated file (--keep-going evaluates the rest and lists it).`;

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('run a policy on recorded observations and compare its chunks with what was recorded (open loop)')
    .argument('<episodes...>', 'MCAP files, folders of them, or a LeRobot dataset folder')
    .option(
      '--policy <model.onnx|zmq://host:port|ws://host:port>',
      "default: the shipped model for the recordings' robot and task",
    )
    .option('--stride <n>', 'evaluate every n-th recorded tick', String(DEFAULT_STRIDE))
    .option(
      '--delay <auto|n>',
      "ticks from asking to landing for the schedule (auto: measured, as vla-run's --delay auto)",
      'auto',
    )
    .option('--margin <n>', "the runtime trigger's margin in ticks (as vla-run --margin)", '2')
    .option(
      '--blend <mode>',
      `how the schedule's buffer blends overlapping chunks: ${BLEND_MODES.join(' | ')}`,
      'replace',
    )
    .option(
      '--max-l1 <x[,name=x...]>',
      'threshold of the recommended horizon, per dimension in its units',
      String(DEFAULT_MAX_L1),
    )
    .option('--out <dir>', 'write eval.html, eval.json and PNGs of the key plots to this folder')
    .option('--keep-going', 'leave out episodes that cannot be read (listed in the summary) instead of stopping')
    .option('--allow-robot-mismatch', 'evaluate a model whose manifest names another robot (as vla-run)')
    .option('--limit <n>', 'evaluate only the first n episodes')
    .option('--robot <name>', 'the robot a dataset was recorded on, when it does not say')
    .option('--map <feature=name,...>', 'dataset feature names to camera names (observation.images.cam_high=top)')
    .option('--openpi-map <spec>', 'with a ws:// policy: as vla-run --openpi-map')
    .option('--json', 'print exactly one JSON object on stdout')
    .addHelpText('after', EXAMPLES)
    .action((inputs: string[], o: Record<string, string | boolean | undefined>) => runEval(inputs, o));
}

interface EvalArgs {
  settings: Omit<EvalSettings, 'onProgress'>;
  limit: number | undefined;
  map: FeatureMap | undefined;
}

function parseArgs(o: Record<string, string | boolean | undefined>): EvalArgs {
  const delay = o.delay === 'auto' ? 'auto' : intArg('--delay', String(o.delay), 0, 10_000);
  return {
    settings: {
      stride: intArg('--stride', String(o.stride), 1, 100_000),
      delay,
      margin_ticks: intArg('--margin', String(o.margin), 0, 10_000),
      blend: choice<BlendMode>('--blend', String(o.blend), BLEND_MODES),
      max_l1: maxL1Arg(String(o.maxL1)),
      keep_going: o.keepGoing === true,
      allow_robot_mismatch: o.allowRobotMismatch === true,
      worst_kept: WORST_KEPT,
    },
    limit: o.limit === undefined ? undefined : intArg('--limit', String(o.limit), 1),
    map: o.map === undefined ? undefined : mapArg(String(o.map)),
  };
}

/** `0.05` or `0.05,gripper=0.2`: a default and per-dimension thresholds. */
function maxL1Arg(spec: string): EvalSettings['max_l1'] {
  const out: EvalSettings['max_l1'] = { default: DEFAULT_MAX_L1, by_name: {} };
  for (const part of spec.split(',').map((s) => s.trim())) {
    const eq = part.indexOf('=');
    if (eq < 0) out.default = numArg('--max-l1', part, 0, 1e6);
    else out.by_name[part.slice(0, eq)] = numArg(`--max-l1 ${part.slice(0, eq)}`, part.slice(eq + 1), 0, 1e6);
  }
  return out;
}

function mapArg(spec: string): FeatureMap {
  const map: FeatureMap = {};
  for (const part of spec.split(',')) {
    const [k, v] = part.split('=');
    if (!k || !v) throw new UsageError(`--map: expected feature=name pairs separated by commas, got '${part}'`);
    map[k.trim()] = v.trim();
  }
  return map;
}

async function runEval(inputs: string[], o: Record<string, string | boolean | undefined>): Promise<void> {
  const t0 = performance.now();
  const json = o.json === true;
  const args = parseArgs(o);
  const out_dir = o.out === undefined ? undefined : await outDir(String(o.out));
  const { sources, first, skipped } = await openEpisodes(inputs, o.robot as string | undefined, args);
  const meta = first.episode.meta;
  const robot = await robotDescription(meta.robot, undefined, meta.control_hz);
  const spec = (o.policy as string | undefined) ?? shippedModel(meta.robot, meta.task);
  const policy = await loadPolicy(spec, robot, args, o.openpiMap as string | undefined);
  const bar = progress('evaluating', { unit: 'episodes', json });
  let result: EvalResult;
  const t_eval = performance.now();
  try {
    result = await evaluate(
      { policy, robot, sources, first, skipped },
      { ...args.settings, onProgress: (done, total, note) => bar.update(done, total, note) },
    ).catch(usage);
  } finally {
    bar.end();
    await policy.close();
  }
  const eval_s = (performance.now() - t_eval) / 1000;
  const report = jsonReport(result, { spec, policy, robot, args, sources: sources.length, eval_s });
  const header = { policy: policy.describe().name, robot: robot.robot };
  const s = args.settings;
  const settings = `stride ${s.stride}, delay ${result.delay_ticks}, margin ${s.margin_ticks}, blend ${s.blend}`;
  const files = out_dir
    ? await writeReport(out_dir, result, [...robot.action_names], { ...header, settings }, report)
    : undefined;
  const wall_s = Math.round((performance.now() - t0) / 10) / 100;
  const summary = { ...header, control_hz: robot.control_hz, ...s };
  process.stdout.write(
    json
      ? `${JSON.stringify({ ...report, ...(files ? { files } : {}), wall_s, exit_code: EXIT.ok })}\n`
      : formatSummary(result, summary, files),
  );
  process.exitCode = EXIT.ok;
}

/** The report folder, made before any work: one that cannot be written is bad usage, not a late failure. */
async function outDir(path: string): Promise<string> {
  try {
    await mkdir(path, { recursive: true });
    await access(path, constants.W_OK);
  } catch (err) {
    throw new UsageError(`--out ${path}: cannot write there (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return path;
}

async function openEpisodes(inputs: string[], robot: string | undefined, args: EvalArgs) {
  let sources = await listEpisodeSources(inputs, { map: args.map, robot }).catch((err: unknown) => {
    // a dataset whose metadata cannot be read is named by an EpisodeFileError: bad input as well
    throw err instanceof EpisodeSourceError || err instanceof EpisodeFileError ? new UsageError(err.message) : err;
  });
  if (args.limit !== undefined) sources = sources.slice(0, args.limit);
  const { first, skipped } = await readFirstEpisode(sources, args.settings.keep_going).catch(usage);
  return { sources, first, skipped };
}

/** As vla-run loads it: a model or a server that does not fit the recordings' robot is refused (exit 2). */
async function loadPolicy(
  spec: string,
  robot: RobotDescription,
  args: EvalArgs,
  openpi_map: string | undefined,
): Promise<Policy> {
  const { policy, warnings } = await choosePolicy({
    spec,
    robot,
    sim_task: null,
    noise: 0,
    control_hz: robot.control_hz,
    cameras: robot.cameras.map((c) => c.name),
    square_cameras_only: false,
    no_sim_hint:
      'vla-replay eval runs a model or a policy server on recorded frames; the scripted expert needs the sim',
    allow_robot_mismatch: args.settings.allow_robot_mismatch,
    fixed_delay_ticks: args.settings.delay === 'auto' ? undefined : args.settings.delay,
    remote: { openpi_map },
  });
  for (const w of warnings) process.stderr.write(`vla-replay eval: warning: ${w}\n`);
  return policy;
}

function shippedModel(robot: string, task: string): string {
  const spec = defaultPolicy(robot, task);
  if (spec === 'expert')
    throw new UsageError(`no model ships for ${robot} ${task}: give one with --policy model.onnx|zmq://...|ws://...`);
  return spec;
}

const usage = (err: unknown): never => {
  throw err instanceof EvalInputError ? new UsageError(err.message) : err;
};

interface JsonContext {
  spec: string;
  policy: Policy;
  robot: RobotDescription;
  args: EvalArgs;
  sources: number;
  /** Wall time of the evaluation itself (reading, inference, metrics), for the throughput. */
  eval_s: number;
}

/** The --json object (also eval.json in --out). */
function jsonReport(r: EvalResult, c: JsonContext) {
  const d = c.policy.describe();
  const { fan: _fan, delay_ticks, delay_source, ...rest } = r;
  const s = c.args.settings;
  return {
    command: 'vla-replay eval',
    policy: {
      spec: c.spec,
      name: d.name,
      kind: d.kind,
      horizon: d.horizon,
      action_offset: d.action_offset,
      cameras: d.cameras.map((x) => `${x.name} ${x.width}x${x.height}`),
    },
    robot: c.robot.robot,
    control_hz: c.robot.control_hz,
    settings: {
      stride: s.stride,
      stride_default: DEFAULT_STRIDE,
      delay_ticks,
      delay_source,
      margin_ticks: s.margin_ticks,
      blend: s.blend,
      keep_going: s.keep_going,
    },
    episodes: { listed: c.sources, evaluated: r.overall.episodes, skipped: r.skipped.length },
    ...rest,
    // throughput of the whole evaluation (reading and metrics included), not of the policy alone
    inference: { ...r.inference, eval_s: round2(c.eval_s), inferences_per_s: round2(r.inference.calls / c.eval_s) },
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
