// One recorded episode replayed in the embedded sim, on the virtual clock, through the episode engine (buffer,
// safety, control loop) that ran it: its recorded commands open loop (RecordedActionsPolicy, each at its own
// tick), or a policy closed loop from the same start. The sim starts where the recording did (replay-input.ts,
// sim-start.ts); what the replay did is compared with the recording tick by tick (divergence.ts).
import { SimDriver } from '../../../sim/sim-driver.js';
import type { Policy } from '../../policy/policy.js';
import { RecordedActionsPolicy } from '../../policy/recorded-actions.js';
import type { Episode, EpisodeOutcomeName } from '../../recording/index.js';
import { ProfileError } from '../../robot/index.js';
import type { BlendMode } from '../../runtime/action-buffer.js';
import { startVirtual } from '../../runtime/runtime.js';
import type { EpisodeOutcome } from '../../runtime/runtime-types.js';
import { SafetyFilter, safetyLimits } from '../../runtime/safety.js';
import type { InjectedLatency, LatencyModelSpec } from '../../runtime/timing/latency-model.js';
import { directWorld } from '../../world/sim-world.js';
import { type CommandMismatch, commandMismatch, type Divergence, divergence, ReplayTrace } from './divergence.js';
import { RecordedCommands, simTrack } from './recorded-track.js';
import {
  checkRecordedActions,
  checkSimReplay,
  ReplayInputError,
  type ReplayTarget,
  type SimReplaySetup,
} from './replay-input.js';
import { loadReplayPolicy, type ReplayPolicySpec } from './replay-policy.js';
import { patchStart, type StartReport } from './start-patch.js';

/** The runtime of a closed-loop replay, as vla-run's flags set it. */
export interface ReplayRuntime {
  blend: BlendMode;
  fixed_delay_ticks?: number;
  margin_ticks: number;
  max_in_flight: number;
  latency_model: LatencyModelSpec;
  injected: InjectedLatency;
}

export type SimReplayMode = { kind: 'recorded' } | ({ kind: 'policy'; runtime: ReplayRuntime } & ReplayPolicySpec);

export interface SimReplayJob {
  mode: SimReplayMode;
  target: ReplayTarget;
  /** A joint (rad) or gripper (opening) further than this from the recording is reported, with its first tick. */
  threshold: number;
  /** Return the joint trajectories of both runs (for plots). */
  trajectories: boolean;
}

/** Joints (rad) then grippers (opening), per tick, of the recording and of the replay. */
export interface Trajectories {
  names: string[];
  control_hz: number;
  recorded: { tick: number[]; values: number[] };
  replay: { tick: number[]; values: number[] };
}

/** How a run ended: the task's success or time limit, the recording's length reached first, or a fault. */
export type ReplayEnd = 'success' | 'failure' | 'stopped' | 'fault';

type Figures = Record<string, number | boolean>;

export interface EpisodeReplay {
  file: string;
  robot: string;
  task: string;
  seed: number;
  /** The driver the recording was made with (sim, ur, aloha). */
  recorded_on: string;
  mode: 'recorded' | 'policy';
  policy: string;
  start: StartReport;
  /** task_outcome: the sim task's figures when the episode ended (a sim recording's, and the replay's). */
  recorded: { outcome: EpisodeOutcomeName; ticks: number; success_time_s: number | null; task_outcome?: Figures };
  replay: { end: ReplayEnd; ticks: number; success_time_s: number | null; fault?: string; task_outcome?: Figures };
  divergence: Divergence;
  /** Recorded-actions replay: the commands sent against the recorded ones (none may differ in the sim). */
  commands: CommandMismatch | null;
  /** The virtual clock's latency model (--latency-model that repeats the run). */
  latency_model: string | null;
  warnings: string[];
  trajectories?: Trajectories;
}

export async function replayInSim(ep: Episode, job: SimReplayJob): Promise<EpisodeReplay> {
  const setup = await checkSimReplay(ep, job.target);
  if (job.mode.kind === 'recorded') checkRecordedActions(ep);
  const driver = await simDriver(setup, ep);
  const warnings = [...setup.warnings];
  let start: StartReport;
  let policy: Policy;
  try {
    start = await patchStart(driver, ep, setup.start, warnings);
    policy = await replayPolicy(ep, job, setup, warnings);
  } catch (err) {
    await driver.close();
    throw err;
  }
  const engine = startVirtual(driver, policy, directWorld(driver), engineOptions(ep, job));
  const d = setup.description;
  const trace = new ReplayTrace(d.joint_names.length, d.gripper_names.length, d.action_names.length);
  const task_limit = driver.env.max_ticks;
  let outcome: EpisodeOutcome;
  let latency_model: string | null;
  try {
    // open loop the replay stops where the recording did; closed loop the task's own limit ends it
    const max_ticks = job.mode.kind === 'recorded' ? ep.tick[ep.ticks - 1] + 1 : undefined;
    outcome = await engine.runEpisode({ seed: ep.meta.seed, max_ticks, recorder: trace });
  } finally {
    latency_model = (await engine.stop()).latency_model;
    await policy.close();
  }
  const hz = d.control_hz;
  return {
    file: ep.path,
    robot: ep.meta.robot,
    task: ep.meta.task,
    seed: ep.meta.seed,
    recorded_on: ep.meta.driver ?? 'unknown',
    mode: job.mode.kind,
    policy: policy.describe().name,
    start,
    recorded: {
      outcome: ep.outcome,
      ticks: ep.ticks,
      success_time_s: ep.outcome === 'success' ? (ep.tick[ep.ticks - 1] + 1) / hz : null,
      ...(ep.task_outcome ? { task_outcome: ep.task_outcome } : {}),
    },
    replay: {
      end: replayEnd(outcome, task_limit),
      ticks: outcome.ticks,
      success_time_s: outcome.success ? outcome.ticks / hz : null,
      ...(outcome.fault ? { fault: outcome.fault } : {}),
      ...(outcome.task_outcome ? { task_outcome: outcome.task_outcome } : {}),
    },
    divergence: divergence(ep, trace, job.threshold),
    commands: job.mode.kind === 'recorded' ? commandMismatch(ep, trace) : null,
    latency_model,
    warnings,
    ...(job.trajectories ? { trajectories: trajectories(ep, trace) } : {}),
  };
}

async function simDriver(setup: SimReplaySetup, ep: Episode): Promise<SimDriver> {
  try {
    return await SimDriver.create({
      robot: setup.robot,
      task: setup.task,
      description: setup.description,
      physics_hz: setup.physics_hz,
      control_hz: setup.description.control_hz,
      time: 'virtual',
    });
  } catch (err) {
    if (err instanceof ProfileError) throw new ReplayInputError(`${ep.path}: ${err.message}`);
    throw err;
  }
}

async function replayPolicy(ep: Episode, job: SimReplayJob, setup: SimReplaySetup, warnings: string[]) {
  const d = setup.description;
  if (job.mode.kind === 'recorded') {
    const rec = new RecordedCommands(ep);
    // a filter of its own (the control loop's counts what it clamps): the same limits, the same arithmetic
    const filter = new SafetyFilter(safetyLimits(d));
    return new RecordedActionsPolicy({
      name: 'recorded-actions',
      dim: d.action_names.length,
      control_hz: d.control_hz,
      track: () => simTrack(rec, ep),
      limit: (target, last, out) => {
        filter.limit(target, last, out);
      },
    });
  }
  const loaded = await loadReplayPolicy(job.mode, d, setup.task, ep.meta.expert_noise);
  warnings.push(...loaded.warnings);
  return loaded.policy;
}

function engineOptions(ep: Episode, job: SimReplayJob) {
  const seed = ep.meta.seed;
  if (job.mode.kind === 'policy') {
    const r = job.mode.runtime;
    return { ...r, seed, blend: r.blend };
  }
  // every chunk lands the tick it is asked for, as the scripted experts' do: nothing but the recording decides
  return {
    blend: 'replace' as const,
    margin_ticks: 2,
    injected: { base_ms: 0, jitter_ms: 0 },
    seed,
    latency_model: { kind: 'fixed' as const, ms: 0 },
  };
}

function replayEnd(o: EpisodeOutcome, task_limit: number): ReplayEnd {
  if (o.fault) return 'fault';
  if (o.success) return 'success';
  return o.ticks >= task_limit ? 'failure' : 'stopped';
}

function trajectories(ep: Episode, trace: ReplayTrace): Trajectories {
  const { joint_names, gripper_names } = ep.meta;
  const J = joint_names.length;
  const G = gripper_names.length;
  const values: number[] = [];
  for (let r = 0; r < ep.ticks; r++) {
    for (let j = 0; j < J; j++) values.push(ep.position_rad[r * J + j]);
    for (let g = 0; g < G; g++) values.push(ep.gripper[r * G + g]);
  }
  return {
    names: [...joint_names, ...gripper_names],
    control_hz: ep.meta.control_hz,
    recorded: { tick: Array.from(ep.tick), values },
    replay: { tick: trace.ticks, values: trace.state },
  };
}
