// vla-manifest check: what running a model on a robot will do, printed without moving anything; exit 2 when
// vla-run would refuse the model (an error-level problem), 0 otherwise.
import { type FitReport, fitReport } from '../../policy/onnx/manifest-report.js';
import { loadModelManifest } from '../../policy/onnx/onnx-file.js';
import { EXIT, numArg, UsageError } from '../common.js';
import { asUsage, loadGraph, robotArgOptional } from './manifest-args.js';

export interface CheckFlags {
  robot?: string;
  profile?: string;
  hz?: string;
  allowRobotMismatch?: boolean;
  json?: boolean;
}

export const CHECK_HELP = `
Prints which camera feeds which input (size, layout, pixel normalisation), the state and action layouts with the
robot's joint names, the chunk timing and rate, and every problem as "expected X, found Y". Exit 0: vla-run would
load the model (warnings may remain); 2: it would refuse it, or the model or manifest cannot be read.

Examples:
  vla-manifest check act.onnx --robot aloha
  vla-manifest check models/ur5e-pick-place.onnx --robot ur5e --json
  vla-manifest check mine.onnx --robot ur5 --profile my-ur5.json --hz 25`;

export async function checkCommand(model: string, o: CheckFlags): Promise<void> {
  const robot = await robotArgOptional(o.robot, o.profile);
  if (!robot) throw new UsageError('--robot is required (the robot to check the model against: ur5, ur5e, aloha)');
  const loaded = await asUsage(async () => {
    try {
      return await loadModelManifest(model);
    } catch (err) {
      const hint = 'write one with vla-manifest init or vla-manifest import-lerobot';
      if (err instanceof Error && /no manifest/.test(err.message)) err.message += ` (${hint})`;
      throw err;
    }
  });
  const graph = await loadGraph(model);
  const control_hz = o.hz === undefined ? robot.control_hz : numArg('--hz', o.hz, 1, 1000);
  const r = fitReport(model, loaded, graph, {
    robot,
    control_hz,
    allow_robot_mismatch: o.allowRobotMismatch === true,
  });
  process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : text(r));
  if (!r.ok) process.exitCode = EXIT.usage;
}

function text(r: FitReport): string {
  const lines: string[] = [];
  const row = (label: string, value: string): void => void lines.push(`${label.padEnd(9)} ${value}`);
  row('model', `${r.model} (manifest: ${r.manifest_source})`);
  row('policy', `${r.name}, trained at ${r.timing.model_hz} Hz; checked against ${r.robot}`);
  if (r.cameras.length === 0) row('cameras', 'none (the model takes no images)');
  r.cameras.forEach((c, i) => {
    const from = c.profile
      ? `profile ${c.profile.width}x${c.profile.height}${c.profile.source ? ` from ${c.profile.source}` : ''}`
      : 'not in the robot profile';
    row(i === 0 ? 'cameras' : '', `${c.camera} -> '${c.input}' ${c.tensor} ${c.layout}, fed at ${c.width}x${c.height}`);
    row('', `  ${c.pixels}; ${from} (frames of another size are resized, bilinear)`);
  });
  if (r.unused_cameras.length > 0) row(r.cameras.length ? '' : 'cameras', `not used: ${r.unused_cameras.join(', ')}`);
  if (r.state) {
    row('state', `'${r.state.input}' [1, ${r.state.dim}] = ${r.state.joints.join(', ')}`);
    row('', `  (joints in rad, grippers 0 closed .. 1 open); ${r.state.normalization}`);
  } else row('state', 'not fed (the model takes no state input)');
  row(
    'action',
    `'${r.action.output}' [${r.action.shape.join(', ')}] ${r.action.semantics} -> ${r.action.names.join(', ')}`,
  );
  row('', `  ${r.action.normalization}`);
  if (r.action.manifest_names && r.action.manifest_names.join() !== r.action.names.join())
    row('', `  manifest names: ${r.action.manifest_names.join(', ')}`);
  row('timing', r.timing.text);
  row('rate', `model ${r.timing.model_hz} Hz, robot ${r.timing.robot_hz} Hz`);
  if (r.language) row('language', r.language);
  if (r.committed) row('prefix', r.committed);
  if (r.problems.length === 0) row('problems', 'none');
  r.problems.forEach((p, i) => void row(i === 0 ? 'problems' : '', `${p.severity}: ${p.message}`));
  const errors = r.problems.filter((p) => p.severity === 'error').length;
  row(
    'result',
    r.ok
      ? `fits ${r.robot}: vla-run --robot ${r.robot} --policy ${r.model} will load it`
      : `does not fit ${r.robot}: ${errors} error${errors > 1 ? 's' : ''}; vla-run would refuse it (exit 2)`,
  );
  return `${lines.join('\n')}\n`;
}
