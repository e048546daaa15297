// The robot side of an on-robot fine-tuning session: a rollout actor whose episodes run on a UR through rosbridge
// or on the ALOHA arms over serial, in real time (vla-run's engine and drivers), with the exploring actor in the
// control thread (rl/robot). Episodes are reset and judged by the simulated endpoint (`vla-sim serve`, `vla-sim
// dynamixel` with its sim link; the scripted operator reads their task state), or by a person at the keyboard
// (--operator keyboard), who is what a real cell needs: a real robot without one is refused before anything moves.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import type { AlohaSide } from '../../../protocols/aloha/motor-map.js';
import { createTask, taskTickLimit } from '../../../sim/tasks/index.js';
import { correctionNames } from '../../policy/residual/correction-frame.js';
import type { CheckedSetup, RunnerFactory } from '../../rl/actor-worker.js';
import type { ControlActorInit } from '../../rl/robot/actor-channel.js';
import { KeyboardOperator, type KeySource } from '../../rl/robot/keyboard-operator.js';
import { type EpisodeRecording, RobotRunner } from '../../rl/robot/robot-runner.js';
import type { EpisodeRunner } from '../../rl/rollout-pool.js';
import type { ClockOptions } from '../../runtime/runtime.js';
import type { RuntimeOptions } from '../../runtime/runtime-types.js';
import type { WorkspaceBox } from '../../runtime/safety.js';
import type { WorldLink } from '../../runtime/world-link.js';
import type { Logger } from '../../telemetry/log.js';
import { SuccessTopic } from '../../world/success-topic.js';
import { UsageError } from '../common.js';
import { startAlohaRun } from '../run/aloha-runner.js';
import { checkRecordTarget, openRecorder, type RecordingPlan } from '../run/recorder.js';
import { type RobotRun, startRosRun } from '../run/ros-runner.js';
import { readWorkspaceBox } from './workspace-box.js';

/**
 * Every episode to its own MCAP file in `dir`, episode-NNNNNN-seedS.mcap, numbered on from the files there (a
 * resumed session adds to them; training seeds repeat, so the seed alone would overwrite).
 */
async function episodeFiles(dir: string, c: CheckedSetup): Promise<(seed: number) => Promise<EpisodeRecording>> {
  const existing = await readdir(dir).catch(() => [] as string[]);
  let n = Math.max(0, ...existing.map((f) => Number(/^episode-(\d+)-seed\d+\.mcap$/.exec(f)?.[1] ?? 0)));
  // one plan for the session: only its first file's problems are the user's to fix (exit 2, before any motion);
  // a later one (a full disk) stops the recording, never the robot (recorder.ts)
  const plan: RecordingPlan = {
    target: dir,
    many: false,
    robot: c.description,
    task: c.task,
    policy: c.base_path,
    cameras: [],
    camera_size: 0,
    driver: c.description.robot === 'aloha' ? 'aloha' : 'ur',
    rl_decisions: true,
  };
  const fileOf = (i: number, seed: number) => join(dir, `episode-${String(i).padStart(6, '0')}-seed${seed}.mcap`);
  await checkRecordTarget({ ...plan, target: fileOf(n + 1, 0) }, 0);
  return async (seed) => {
    plan.target = fileOf(++n, seed);
    const rec = await openRecorder(plan, seed);
    return { tick: rec.tick, close: (r, decisions) => rec.close(r, decisions) };
  };
}

/** The keyboard operator's prompts: on the terminal the person watches (stderr, never mixed with --json). */
const say = (line: string) => process.stderr.write(`vla-finetune: ${line}\n`);

const CONTROL_ACTOR = new URL('../../rl/robot/control-actor.js', import.meta.url).href;

export interface RobotActorOptions {
  /** As vla-run --margin. */
  margin_ticks: number;
  /** A folder for every episode's MCAP file (ticks and the residual's decisions); none: not recorded. */
  record?: string;
  /** A workspace box file (workspace-box.ts: joints, flange) the safety filter holds every command to. */
  workspace_box?: string;
  /** A person starts and judges each episode (--operator keyboard); then a real robot may be used. */
  keyboard?: KeySource;
  /** With `keyboard`: a detector's std_msgs/Bool topic that says success in place of the `s` key. */
  success_topic?: { url: string; topic: string };
}

/** How a robot is started for a session: the runtime options and world wrapper come from the runner. */
export type RobotStart = (
  c: CheckedSetup,
  opts: RuntimeOptions & ClockOptions,
  wrap_world: ((w: WorldLink) => WorldLink) | undefined,
) => Promise<RobotRun>;

/** A UR through rosbridge at `url` (vla-run --rosbridge). */
/** A robot to start, where it is (for messages), and whether it has leader arms (takeovers hand it to them). */
export type RobotSite = RobotStart & { where: string; leaders?: boolean };

export function rosStart(url: string, log: Logger): RobotSite {
  const start: RobotStart = (c, opts, wrap_world) =>
    startRosRun({
      description: c.description,
      url,
      task: c.task,
      policy: c.base_path,
      noise: 0,
      cameras: [],
      opts,
      log,
      ...(wrap_world ? { wrap_world } : {}),
    });
  return Object.assign(start, { where: url });
}

/** The ALOHA arms over serial (vla-run --ports): the emulator's with its sim link, or a real rig's. */
export function alohaStart(
  a: {
    ports: Record<AlohaSide, string>;
    leader_ports?: Record<AlohaSide, string>;
    sim_link?: string;
    calibration_dir?: string;
    allow_torque_off: boolean;
  },
  log: Logger,
): RobotSite {
  const start: RobotStart = (c, opts, wrap_world) =>
    startAlohaRun({
      description: c.description,
      ports: a.ports,
      ...(a.leader_ports ? { leader_ports: a.leader_ports } : {}),
      sim_link: a.sim_link,
      calibration_dir: a.calibration_dir,
      task: c.task,
      policy: c.base_path,
      noise: 0,
      allow_torque_off: a.allow_torque_off,
      cameras: [],
      opts,
      log,
      ...(wrap_world ? { wrap_world } : {}),
    });
  return Object.assign(start, {
    where: `left=${a.ports.left},right=${a.ports.right}`,
    leaders: a.leader_ports !== undefined,
  });
}

/** What the control thread builds the exploring actor from (and the scripted operator, where there is one). */
function controlActorInit(c: CheckedSetup, max_ticks: number, leaders: boolean): ControlActorInit {
  return {
    manifest: c.manifest,
    sizes: c.actor_sizes,
    // a hold and its resume re-evaluate at once: room for twice the decisions of an episode at the limit
    max_decisions: 2 * Math.ceil(max_ticks / c.manifest.every_ticks) + 16,
    ...(c.operator ? { operator: { settings: c.operator, robot: c.description.robot, task: c.task } } : {}),
    ...(leaders ? { leaders } : {}),
  };
}

/**
 * Why nobody can reset and judge this robot's episodes (undefined: someone can): a real robot needs a person at
 * the keyboard, and the scripted operator reads a simulated one's task state.
 */
function whoJudges(run: RobotRun, c: CheckedSetup, o: RobotActorOptions, where: string): string | undefined {
  if (run.sim_endpoint) return undefined;
  const real = `${where} is a real ${c.description.robot}`;
  if (c.operator) return `${real}: the scripted operator reads a simulated one's task state (use --operator keyboard)`;
  if (!o.keyboard) return `${real}: a person must reset and judge each episode there (--operator keyboard)`;
  return undefined;
}

/**
 * What a session adds to the robot, made before it starts (a string: refused, nothing moved): the workspace
 * box, and the detector's success topic, subscribed on a connection of its own.
 */
async function sessionParts(
  o: RobotActorOptions,
  c: CheckedSetup,
): Promise<{ workspace_box?: WorkspaceBox; success?: SuccessTopic } | string> {
  let workspace_box: WorkspaceBox | undefined;
  try {
    workspace_box = o.workspace_box ? await readWorkspaceBox(o.workspace_box, c.description) : undefined;
  } catch (err) {
    return (err as Error).message;
  }
  const box = workspace_box ? { workspace_box } : {};
  const t = o.success_topic;
  if (!t) return box;
  try {
    return { ...box, success: await SuccessTopic.open({ ...t, onLink: say }) };
  } catch (err) {
    return `the success topic ${t.topic} at ${t.url}: ${(err as Error).message}; nothing moved`;
  }
}

/** The person at the keyboard: judges each episode (or a detector says success), and may take the arm over. */
function keyboardOperator(
  keys: KeySource,
  c: CheckedSetup,
  success: SuccessTopic | undefined,
  leaders: boolean,
): KeyboardOperator {
  return new KeyboardOperator(keys, say, {
    ...(success ? { success } : {}),
    action_names: correctionNames(c.description, c.manifest.frame),
    leaders,
  });
}

/** Episodes on the robot `start` sets up, in real time, with the exploring actor in its control thread. */
export function robotRunner(start: RobotSite, o: RobotActorOptions): RunnerFactory {
  return async (c: CheckedSetup): Promise<EpisodeRunner | string> => {
    const max_ticks = taskTickLimit(createTask(c.task), c.description.control_hz);
    const { port1, port2 } = new MessageChannel();
    const parts = await sessionParts(o, c);
    if (typeof parts === 'string') {
      port1.close();
      return parts;
    }
    // with a person at the keyboard, their judgement is the episode's success (the sim's is not consulted)
    const verdict = { success: false };
    const plugin = { module: CONTROL_ACTOR, init: controlActorInit(c, max_ticks, start.leaders === true), port: port2 };
    const run = await startRobot(start, o, c, { ...parts, plugin, verdict });
    if (typeof run === 'string') {
      port1.close();
      return run;
    }
    const close = closeRobot(run, parts);
    let record: Awaited<ReturnType<typeof episodeFiles>> | undefined;
    try {
      const who = whoJudges(run, c, o, start.where);
      if (who) throw new UsageError(who);
      record = o.record ? await episodeFiles(o.record, c) : undefined;
    } catch (err) {
      await close();
      port1.close();
      if (err instanceof UsageError) return `${err.message}; nothing moved`;
      throw err;
    }
    return new RobotRunner({
      engine: run.engine,
      port: port1,
      max_ticks,
      ...(run.task_state ? { task_state: run.task_state } : {}),
      ...(run.hold_leaders ? { hold_leaders: run.hold_leaders } : {}),
      say,
      manifest: c.manifest,
      ...(o.keyboard
        ? { keyboard: { operator: keyboardOperator(o.keyboard, c, parts.success, start.leaders === true), verdict } }
        : {}),
      ...(record ? { record } : {}),
      close,
    });
  };
}

type SessionParts = Exclude<Awaited<ReturnType<typeof sessionParts>>, string>;

/** The robot with the exploring actor plugged into its control thread; a string: refused (the user's to fix). */
async function startRobot(
  start: RobotSite,
  o: RobotActorOptions,
  c: CheckedSetup,
  p: SessionParts & { plugin: NonNullable<RuntimeOptions['residual_plugin']>; verdict: { success: boolean } },
): Promise<RobotRun | string> {
  const opts = {
    blend: 'replace' as const,
    margin_ticks: o.margin_ticks,
    injected: { base_ms: 0, jitter_ms: 0 },
    seed: c.seed,
    residual_plugin: p.plugin,
    ...(p.workspace_box ? { workspace_box: p.workspace_box } : {}),
  };
  try {
    return await start(c, opts, o.keyboard ? (w) => ({ ...w, success: () => p.verdict.success }) : undefined);
  } catch (err) {
    await p.success?.close();
    // refused (unreachable, bad settings, a model that does not fit): the user's to fix; anything else is a fault
    if (!(err instanceof UsageError)) throw err;
    return `cannot start the ${c.description.robot} at ${start.where}: ${err.message}`;
  }
}

/** Ends the robot's engine, its policy and the detector's connection; says what the workspace box held. */
function closeRobot(run: RobotRun, p: SessionParts): () => Promise<void> {
  return async () => {
    try {
      const held = (await run.engine.stop()).safety.box_holds;
      if (p.workspace_box?.flange_m) say(`the workspace box held ${held} command(s) at its edge in this session`);
    } finally {
      await run.policy.close();
      await p.success?.close();
    }
  };
}
