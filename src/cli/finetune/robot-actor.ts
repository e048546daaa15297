// The robot side of an on-robot fine-tuning session: a rollout actor whose episodes run on a UR through rosbridge in
// real time (vla-run's engine and UrDriver), with the exploring actor in the control thread (rl/robot). For now the
// far end must be the simulated endpoint (`vla-sim serve`): episodes are reset and judged by it and the scripted
// operator reads its task state. A real cell needs a person at the keyboard to reset and judge, which this
// release does not have yet; it is refused before anything moves.
import { MessageChannel } from 'node:worker_threads';
import { createTask, taskTickLimit } from '../../../sim/tasks/index.js';
import type { CheckedSetup, RunnerFactory } from '../../rl/actor-worker.js';
import type { ControlActorInit } from '../../rl/robot/actor-channel.js';
import { RobotRunner } from '../../rl/robot/robot-runner.js';
import type { EpisodeRunner } from '../../rl/rollout-pool.js';
import type { Logger } from '../../telemetry/log.js';
import { startRosRun } from '../run/ros-runner.js';

const CONTROL_ACTOR = new URL('../../rl/robot/control-actor.js', import.meta.url).href;

/** Episodes on the UR at `url` (rosbridge); `margin_ticks` as vla-run --margin; `log` gets the runtime's lines. */
export function rosRunner(url: string, o: { margin_ticks: number }, log: Logger): RunnerFactory {
  return async (c: CheckedSetup): Promise<EpisodeRunner | string> => {
    const max_ticks = taskTickLimit(createTask(c.task), c.description.control_hz);
    const { port1, port2 } = new MessageChannel();
    const init: ControlActorInit = {
      manifest: c.manifest,
      sizes: c.actor_sizes,
      // a hold and its resume re-evaluate at once: room for twice the decisions of an episode at the limit
      max_decisions: 2 * Math.ceil(max_ticks / c.manifest.every_ticks) + 16,
      ...(c.operator ? { operator: { settings: c.operator, robot: c.description.robot, task: c.task } } : {}),
    };
    let run: Awaited<ReturnType<typeof startRosRun>>;
    try {
      run = await startRosRun({
        description: c.description,
        url,
        task: c.task,
        policy: c.base_path,
        noise: 0,
        cameras: [],
        opts: {
          blend: 'replace',
          margin_ticks: o.margin_ticks,
          injected: { base_ms: 0, jitter_ms: 0 },
          seed: c.seed,
          residual_plugin: { module: CONTROL_ACTOR, init, port: port2 },
        },
        log,
      });
    } catch (err) {
      port1.close();
      return `cannot start the ${c.description.robot} at ${url}: ${(err as Error).message}`;
    }
    const close = async () => {
      await run.engine.stop();
      await run.policy.close();
    };
    if (!run.sim_endpoint) {
      await close();
      port1.close();
      return (
        `${url} is a real ${c.description.robot}, not the simulated endpoint: on-robot sessions need a person to ` +
        'reset and judge each episode (--operator keyboard), which this release does not have yet; nothing moved'
      );
    }
    return new RobotRunner({
      engine: run.engine,
      port: port1,
      max_ticks,
      ...(run.task_state ? { task_state: run.task_state } : {}),
      action_dim: c.description.action_names.length,
      close,
    });
  };
}
