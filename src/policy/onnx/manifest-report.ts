// What running a model on a robot will do, worked out without moving anything (vla-manifest check): which
// camera feeds which input at what size and layout, the state and action layouts with their joint names,
// normalisation, chunk timing and rate, and every problem as "expected X, found Y" (errors stop vla-run).
import type { RobotDescription } from '../../robot/index.js';
import type { GraphInfo } from './graph-info.js';
import {
  checkManifestAgainstGraph,
  checkPolicyFitsRobot,
  describeManifest,
  type FitProblem,
  imageDims,
  type NormStatsT,
  type OnnxManifest,
} from './manifest.js';
import { describeNorm } from './norm-stats.js';

export interface CameraFeed {
  camera: string;
  input: string;
  tensor: string;
  width: number;
  height: number;
  layout: 'NCHW' | 'NHWC';
  /** The robot profile's camera (its nominal size and device), when it has one by that name. */
  profile: { width: number; height: number; source: string | undefined } | null;
  pixels: string;
}

export interface FitReport {
  model: string;
  manifest_source: string;
  name: string;
  robot: string;
  ok: boolean;
  cameras: CameraFeed[];
  /** Robot cameras the model does not look at. */
  unused_cameras: string[];
  state: { input: string; dim: number; joints: string[]; normalization: string } | null;
  action: {
    output: string;
    shape: number[];
    semantics: string;
    names: string[];
    manifest_names: string[] | null;
    normalization: string;
  };
  timing: {
    model_hz: number;
    robot_hz: number;
    horizon: number;
    offset: number;
    chunk_ms: number;
    text: string;
  };
  language: string | null;
  committed: string | null;
  problems: FitProblem[];
}

export interface FitTarget {
  robot: RobotDescription;
  /** The control rate the run would use (the profile's, or vla-run --hz). */
  control_hz: number;
  allow_robot_mismatch: boolean;
}

export function fitReport(
  model: string,
  loaded: { manifest: OnnxManifest; source: string },
  graph: GraphInfo,
  t: FitTarget,
): FitReport {
  const m = loaded.manifest;
  const { robot } = t;
  const problems: FitProblem[] = checkManifestAgainstGraph(m, graph).map((message) => ({
    severity: 'error',
    message: `graph: ${message}`,
  }));
  problems.push(
    ...checkPolicyFitsRobot(
      describeManifest(m),
      {
        name: robot.robot,
        action_dim: robot.action_names.length,
        state_dim: robot.action_names.length,
        cameras: robot.cameras.map((c) => c.name),
        control_hz: t.control_hz,
      },
      { allow_robot_mismatch: t.allow_robot_mismatch },
    ),
  );
  const warn = (message: string): void => void problems.push({ severity: 'warning', message });
  const cameras = m.inputs.images.map((img): CameraFeed => {
    const p = robot.cameras.find((c) => c.name === img.camera);
    if (img.width !== img.height)
      warn(`camera '${img.camera}': ${img.width}x${img.height}; vla-run --sim refuses it (square images only)`);
    return {
      camera: img.camera,
      input: img.input,
      tensor: `${img.dtype} [${imageDims(img).join(', ')}]`,
      width: img.width,
      height: img.height,
      layout: img.layout,
      profile: p ? { width: p.width, height: p.height, source: p.source } : null,
      pixels: pixelText(img),
    };
  });
  const { state } = m.inputs;
  if (state) normWarnings(state.normalization, `state normalisation ('${state.input}')`, robot.action_names, warn);
  normWarnings(m.action.normalization, 'action normalisation', robot.action_names, warn);
  if (m.action.names && m.action.names.length === robot.action_names.length) {
    const diff = m.action.names.flatMap((n, i) => (n === robot.action_names[i] ? [] : [i]));
    if (diff.length > 0)
      warn(
        `action names: expected ${diff.map((i) => `[${i}] ${robot.action_names[i]}`).join(', ')} (robot ` +
          `${robot.robot}), found ${diff.map((i) => m.action.names![i]).join(', ')} (manifest): check the order`,
      );
  }
  const language = m.inputs.language
    ? `'${m.inputs.language.input}' (${m.inputs.language.kind}): fed zeros, the runtime has no tokenizer yet`
    : null;
  if (language) warn(`language input ${language}: the model runs without its instruction`);
  const c = m.inputs.committed;
  const chunk_ms = (m.action.horizon / t.control_hz) * 1000;
  const first = m.action.offset;
  return {
    model,
    manifest_source: loaded.source,
    name: m.name,
    robot: robot.robot,
    ok: !problems.some((p) => p.severity === 'error'),
    cameras,
    unused_cameras: robot.cameras.map((x) => x.name).filter((n) => !m.inputs.images.some((i) => i.camera === n)),
    state: state
      ? {
          input: state.input,
          dim: state.dim,
          joints: [...robot.action_names],
          normalization: describeNorm(state.normalization),
        }
      : null,
    action: {
      output: m.output.name,
      shape: [...m.output.shape],
      semantics: m.action.semantics,
      names: [...robot.action_names],
      manifest_names: m.action.names ?? null,
      normalization: describeNorm(m.action.normalization),
    },
    timing: {
      model_hz: m.control_hz,
      robot_hz: t.control_hz,
      horizon: m.action.horizon,
      offset: first,
      chunk_ms,
      text:
        `a chunk from the observation of tick k holds the actions for ticks k+${first} .. ` +
        `k+${first + m.action.horizon - 1} (${Math.round(chunk_ms)} ms at ${t.control_hz} Hz)`,
    },
    language,
    committed: c
      ? `'${c.input}' [1, ${c.max_length}, ${m.action.dim}]${c.length_input ? ` + length '${c.length_input}'` : ''}: ` +
        `the actions already committed for the next ticks (${c.normalized ? 'normalised' : 'raw'})`
      : null,
    problems,
  };
}

function pixelText(img: OnnxManifest['inputs']['images'][number]): string {
  if (img.dtype === 'uint8') return 'raw RGB bytes 0..255';
  const n = img.normalize;
  if (!n) return 'rgb / 255 (0..1)';
  const list = (xs: number[]): string => xs.map((x) => Number(x.toPrecision(4))).join(', ');
  const scale = Math.abs(n.scale - 1 / 255) < 1e-12 ? 'rgb / 255' : `rgb * ${n.scale}`;
  return `(${scale} - [${list(n.mean)}]) / [${list(n.std)}]`;
}

function normWarnings(n: NormStatsT, what: string, names: readonly string[], warn: (m: string) => void): void {
  const len = n.kind === 'mean_std' ? n.std.length : n.kind === 'min_max' ? n.min.length : 0;
  const label = (i: number): string => (names.length === len ? names[i] : `[${i}]`);
  if (n.kind === 'mean_std') {
    const tiny = n.std.flatMap((s, i) => (s < 1e-6 ? [i] : []));
    if (tiny.length > 0 && tiny.length < n.std.length)
      warn(
        `${what}: std is ~0 for ${tiny.map(label).join(', ')}: those values barely varied in the training data ` +
          '(an input there is divided by eps; an action there stays at its mean)',
      );
  } else if (n.kind === 'min_max') {
    const flat = n.min.flatMap((lo, i) => (n.max[i] - lo < 1e-6 ? [i] : []));
    if (flat.length > 0)
      warn(`${what}: min = max for ${flat.map(label).join(', ')} (an action there stays at that value)`);
  }
}
