// A fine-tuning actor's episodes on a robot (or a simulated endpoint) in real time: the engine vla-run uses, with
// the exploring actor as a residual plug-in in its control thread (control-actor.ts). Per episode: arm the actor
// with the job's weights, trust region and exploration seed, run the episode, collect its decisions. While the
// episode runs, the endpoint's task state (simulated endpoints only) is forwarded for the scripted operator.
import type { MessagePort } from 'node:worker_threads';
import type { DenseLayer } from '../../policy/residual/dense-stack.js';
import { inputSize, type ResidualManifest } from '../../policy/residual/residual-manifest.js';
import type { DecisionRecord } from '../../recording/index.js';
import type { EpisodeEngine } from '../../runtime/runtime.js';
import type { EpisodeOutcome, TickRecorder } from '../../runtime/runtime-types.js';
import type { EpisodeJob, EpisodeRunner } from '../rollout-pool.js';
import type { RolloutEpisode } from '../sim-rollouts.js';
import type { CollectedDecisions, FromControlActor, ToControlActor } from './actor-channel.js';
import { type Judgement, type KeyboardOperator, OPERATOR_PAUSE, OPERATOR_STOP } from './keyboard-operator.js';
import type { LeaderFigures } from './leader-takeover.js';

export interface RobotRunnerParts {
  engine: EpisodeEngine;
  /** The main thread's end of the plug-in's channel. */
  port: MessagePort;
  /** The task's episode limit (ticks); undefined: the engine's own (a real robot: until success or a hold). */
  max_ticks: number | undefined;
  /** The endpoint's task state now (simulated endpoints), forwarded to the scripted operator. */
  task_state?: () => unknown;
  /** Hold the emulator's leader arms in a pose (action layout): how the scripted operator takes over with them. */
  hold_leaders?: (pose: readonly number[]) => void;
  /** A line for the person running the session (what the leader arms did in each episode). */
  say?: (line: string) => void;
  /** The residual's manifest: where the base action sits in the inputs, and the bound of u per dimension. */
  manifest: ResidualManifest;
  /** A person who starts and judges each episode (--operator keyboard); `verdict` is the world's success. */
  keyboard?: { operator: KeyboardOperator; verdict: { success: boolean } };
  /** Opens the episode's recording (undefined: none); its close() gets the outcome and the decisions. */
  record?: (seed: number) => Promise<EpisodeRecording | undefined>;
  /** Ends the engine, the policy and the world link. */
  close(): Promise<void>;
}

/** An episode's recording as the runner uses it (src/cli/run/recorder.ts makes them). */
export interface EpisodeRecording {
  tick: TickRecorder;
  close(r: EpisodeOutcome, decisions: readonly DecisionRecord[]): Promise<string | undefined>;
}

/** How often the task state is looked at for forwarding (ms): well inside a residual decision (every few ticks). */
const FORWARD_MS = 5;
/** The control thread answers arm and collect between two ticks; longer means it is gone. */
const REPLY_MS = 5000;
/** How often a stop is repeated while an episode is still being set up (ms). */
const HOLD_REPEAT_MS = 50;
/** While the robot's link is down: how often it is asked whether it is back, and how often that is said (ms). */
const ROBOT_PROBE_MS = 1000;
const ROBOT_SAY_MS = 10_000;

const PAUSED = OPERATOR_PAUSE;
const JUDGED_FAILURE = 'judged a failure by the operator';

/**
 * The outcome as the person judged it: a failure they called (or nobody called in time) is the task's failure,
 * not a fault; a pause is cut short (not scored as a terminal state); a stop stays a stop.
 */
function asJudged(out: EpisodeOutcome, j: Judgement | undefined): EpisodeOutcome {
  const { fault, ...rest } = out;
  if (j === 'success') return { ...rest, success: true };
  if (j === 'paused') return { ...rest, success: false, fault: PAUSED };
  if (j === 'stopped') return out;
  // failure, or the time limit with no call; a robot fault that came first stays a fault
  return fault === undefined || fault === JUDGED_FAILURE ? { ...rest, success: false } : out;
}

/** An episode that was not run: the session was stopped first. */
function stoppedEpisode(seed: number, why: string): RolloutEpisode {
  const none = new Float32Array(0);
  return {
    seed,
    success: false,
    truncated: true,
    ticks: 0,
    fault: why,
    steps: 0,
    inputs: none,
    u: none,
    mean_abs_u: [],
    interventions: [],
  };
}

export class RobotRunner implements EpisodeRunner {
  /** Why the session was stopped (sticky: no episode starts after it); undefined: it was not. */
  private stopped: string | undefined;
  private running = false;
  private holding: NodeJS.Timeout | undefined;

  constructor(private readonly p: RobotRunnerParts) {
    const hold = p.hold_leaders;
    const say = p.say;
    if (hold || say)
      p.port.on('message', (m: FromControlActor) => {
        if (m.type === 'leader_pose') hold?.(m.pose);
        else if (m.type === 'leader_note') say?.(m.text);
      });
  }

  async episode(job: EpisodeJob, layers: DenseLayer[], bound: number): Promise<RolloutEpisode> {
    if (this.stopped) return stoppedEpisode(job.seed, this.stopped);
    this.running = true;
    try {
      return await this.run(job, layers, bound);
    } finally {
      this.running = false;
      clearInterval(this.holding);
    }
  }

  private async run(job: EpisodeJob, layers: DenseLayer[], bound: number): Promise<RolloutEpisode> {
    const kb = this.p.keyboard;
    if (kb && !(await kb.operator.ready(job.seed))) {
      this.interrupt(OPERATOR_STOP);
      return stoppedEpisode(job.seed, OPERATOR_STOP);
    }
    if (kb) kb.verdict.success = false;
    const values = layers.flatMap((l) => [l.w, l.b]);
    await this.ask({ type: 'arm', seed: job.seed, values, bound, explore_seed: job.explore_seed }, 'armed');
    if (this.stopped) return stoppedEpisode(job.seed, this.stopped);
    const rec = await this.p.record?.(job.seed);
    const forward = this.forwardTaskState();
    let out: EpisodeOutcome = { seed: job.seed, success: false, ticks: 0, fault: 'the episode did not run' };
    let d: CollectedDecisions | undefined;
    // the person's takeover (training episodes only) reaches the control thread between two ticks: the next is theirs
    const post = (m: ToControlActor) => this.p.port.postMessage(m);
    const steer = (u: number[] | 'leaders' | null) => {
      if (u === 'leaders') return post({ type: 'leaders', on: true });
      if (u === null) post({ type: 'leaders', on: false }); // either kind of takeover ends (the other is a no-op)
      post({ type: 'steer', u });
    };
    kb?.operator.watch((j) => this.judged(j), job.explore_seed === null ? undefined : steer);
    try {
      out = await this.p.engine.runEpisode({
        seed: job.seed,
        max_ticks: this.p.max_ticks,
        ...(rec ? { recorder: rec.tick } : {}),
      });
      clearInterval(forward);
      if (kb) out = asJudged(out, kb.operator.finish());
      d = (await this.ask({ type: 'collect' }, 'decisions')) as CollectedDecisions;
      if (d.leaders) this.sayLeaders(job.seed, d.leaders);
    } finally {
      clearInterval(forward);
      kb?.operator.finish(); // a run that threw still stops listening (a later key or detector reaches nobody)
      await rec?.close(out, d ? this.decisionRecords(d) : []);
    }
    const A = this.p.manifest.action_names.length;
    const mean_abs_u = Array.from({ length: A }, (_, j) => {
      let sum = 0;
      for (let i = 0; i < d.steps; i++) sum += Math.abs(d.u[i * A + j]);
      return d.steps > 0 ? sum / d.steps : 0;
    });
    const limit = this.p.max_ticks;
    return {
      seed: job.seed,
      success: out.success,
      // as in the sim (sim-rollouts.ts): a fault ends the episode in a terminal state (robot-episode-end.ts says
      // whether the session goes on); a lost link is no verdict on the policy: cut short, like a pause
      truncated:
        out.fault === PAUSED ||
        out.link_lost === true ||
        (!out.success && out.fault === undefined && limit !== undefined && out.ticks >= limit),
      ticks: out.ticks,
      ...(out.fault ? { fault: out.fault } : {}),
      ...(out.link_lost ? { link_lost: true } : {}),
      steps: d.steps,
      inputs: d.inputs,
      u: d.u,
      mean_abs_u,
      interventions: d.interventions,
      ...(d.labels ? { labels: d.labels } : {}),
    };
  }

  /** What the leader arms did in an episode, when they were asked to take over. */
  private sayLeaders(seed: number, l: LeaderFigures): void {
    if (l.engaged === 0 && l.never_engaged === 0) return;
    const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
    this.p.say?.(
      `episode (seed ${seed}): the leader arms had the followers for ${n(l.ticks, 'tick')} ` +
        `in ${n(l.engaged, 'takeover')}` +
        (l.never_engaged ? `; ${n(l.never_engaged, 'takeover')} never engaged (a leader far from its follower)` : '') +
        (l.ended_by_guard ? `; ${l.ended_by_guard} ended by a guard (old reading, follower behind, a hold)` : ''),
    );
  }

  /** The person's judgement, as it comes: success ends the episode through the world, the others hold the robot. */
  private judged(j: Judgement): void {
    const kb = this.p.keyboard as NonNullable<RobotRunnerParts['keyboard']>;
    if (j === 'success') kb.verdict.success = true;
    else if (j === 'stopped') this.interrupt(OPERATOR_STOP);
    else this.p.engine.hold(j === 'paused' ? PAUSED : JUDGED_FAILURE);
  }

  /** The decisions as the recording keeps them: base action, u, the correction it made, takeover, label. */
  private decisionRecords(d: CollectedDecisions): DecisionRecord[] {
    const m = this.p.manifest;
    const A = m.action_names.length;
    const O = inputSize(m);
    let at = 0;
    for (const b of m.inputs) {
      if (b.block === 'base_action') break;
      at += b.size;
    }
    const taken = new Set(d.interventions);
    return Array.from({ length: d.steps }, (_, i) => {
      const u = d.u.subarray(i * A, (i + 1) * A);
      return {
        // the recording's tick rows are the state's tick: a decision for command tick k shapes row k - 1
        tick: d.ticks[i] - 1,
        base_action: d.inputs.subarray(i * O + at, i * O + at + A),
        u,
        correction: Array.from(u, (x, j) => x * m.scale[j]),
        takeover: taken.has(i),
        ...(d.labels ? { label: d.labels.subarray(i * A, (i + 1) * A) } : {}),
      };
    });
  }

  /** Ask the robot every ROBOT_PROBE_MS whether it could start an episode; say so every ROBOT_SAY_MS. */
  async awaitRobot(timeout_ms: number, log: (line: string) => void): Promise<string | undefined> {
    const t0 = performance.now();
    let said = t0;
    for (;;) {
      if (this.stopped) return this.stopped;
      const why = await this.p.engine.robotReady();
      if (why === undefined) return undefined;
      const waited = performance.now() - t0;
      if (waited >= timeout_ms) return `${why} (waited ${(waited / 1000).toFixed(0)} s for the robot)`;
      if (performance.now() - said >= ROBOT_SAY_MS) {
        said = performance.now();
        log(`still waiting for the robot (${(waited / 1000).toFixed(0)} of ${timeout_ms / 1000} s): ${why}`);
      }
      await new Promise((r) => setTimeout(r, ROBOT_PROBE_MS));
    }
  }

  /**
   * The robot holds now and no episode starts after this. A stop that lands while an episode is being set up
   * (its reset, its start) would be cleared by that start: so it is repeated until the episode has ended.
   */
  interrupt(why: string): void {
    this.stopped ??= why;
    this.p.keyboard?.operator.stop(); // a wait for Enter ends too
    this.p.engine.hold(why);
    if (this.running && !this.holding) this.holding = setInterval(() => this.p.engine.hold(why), HOLD_REPEAT_MS);
  }

  close(): Promise<void> {
    this.p.port.close();
    return this.p.close();
  }

  private forwardTaskState(): NodeJS.Timeout | undefined {
    const get = this.p.task_state;
    if (!get) return undefined;
    let last: unknown;
    return setInterval(() => {
      const state = get();
      if (state === undefined || state === last) return;
      last = state;
      this.p.port.postMessage({ type: 'task_state', state } satisfies ToControlActor);
    }, FORWARD_MS);
  }

  private ask(m: ToControlActor, want: FromControlActor['type']): Promise<FromControlActor> {
    const port = this.p.port;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error(`the control thread's actor did not answer '${m.type}'`)),
        REPLY_MS,
      );
      const onMessage = (r: FromControlActor) => {
        if (r.type === 'error') done(new Error(`the control thread's actor: ${r.message}`));
        else if (r.type === want) done(undefined, r);
      };
      const done = (err: Error | undefined, r?: FromControlActor) => {
        clearTimeout(timer);
        port.off('message', onMessage);
        if (err) reject(err);
        else resolve(r as FromControlActor);
      };
      port.on('message', onMessage);
      port.postMessage(m);
    });
  }
}
