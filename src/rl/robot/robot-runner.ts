// A fine-tuning actor's episodes on a robot (or a simulated endpoint) in real time: the engine vla-run uses, with
// the exploring actor as a residual plug-in in its control thread (control-actor.ts). Per episode: arm the actor
// with the job's weights, trust region and exploration seed, run the episode, collect its decisions. While the
// episode runs, the endpoint's task state (simulated endpoints only) is forwarded for the scripted operator.
import type { MessagePort } from 'node:worker_threads';
import type { DenseLayer } from '../../policy/residual/dense-stack.js';
import type { EpisodeEngine } from '../../runtime/runtime.js';
import type { EpisodeJob, EpisodeRunner } from '../rollout-pool.js';
import type { RolloutEpisode } from '../sim-rollouts.js';
import type { CollectedDecisions, FromControlActor, ToControlActor } from './actor-channel.js';

export interface RobotRunnerParts {
  engine: EpisodeEngine;
  /** The main thread's end of the plug-in's channel. */
  port: MessagePort;
  /** The task's episode limit (ticks); undefined: the engine's own (a real robot: until success or a hold). */
  max_ticks: number | undefined;
  /** The endpoint's task state now (simulated endpoints), forwarded to the scripted operator. */
  task_state?: () => unknown;
  action_dim: number;
  /** Ends the engine, the policy and the world link. */
  close(): Promise<void>;
}

/** How often the task state is looked at for forwarding (ms): well inside a residual decision (every few ticks). */
const FORWARD_MS = 5;
/** The control thread answers arm and collect between two ticks; longer means it is gone. */
const REPLY_MS = 5000;

export class RobotRunner implements EpisodeRunner {
  constructor(private readonly p: RobotRunnerParts) {}

  async episode(job: EpisodeJob, layers: DenseLayer[], bound: number): Promise<RolloutEpisode> {
    const values = layers.flatMap((l) => [l.w, l.b]);
    await this.ask({ type: 'arm', seed: job.seed, values, bound, explore_seed: job.explore_seed }, 'armed');
    const forward = this.forwardTaskState();
    let out: Awaited<ReturnType<EpisodeEngine['runEpisode']>>;
    try {
      out = await this.p.engine.runEpisode({ seed: job.seed, max_ticks: this.p.max_ticks });
    } finally {
      clearInterval(forward);
    }
    const d = (await this.ask({ type: 'collect' }, 'decisions')) as CollectedDecisions;
    const A = this.p.action_dim;
    const mean_abs_u = Array.from({ length: A }, (_, j) => {
      let sum = 0;
      for (let i = 0; i < d.steps; i++) sum += Math.abs(d.u[i * A + j]);
      return d.steps > 0 ? sum / d.steps : 0;
    });
    const limit = this.p.max_ticks;
    return {
      seed: job.seed,
      success: out.success,
      truncated: !out.success && out.fault === undefined && limit !== undefined && out.ticks >= limit,
      ticks: out.ticks,
      ...(out.fault ? { fault: out.fault } : {}),
      steps: d.steps,
      inputs: d.inputs,
      u: d.u,
      mean_abs_u,
      interventions: d.interventions,
      ...(d.labels ? { labels: d.labels } : {}),
    };
  }

  interrupt(why: string): void {
    this.p.engine.hold(why);
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
