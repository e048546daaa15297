// What vla-run drives, whichever robot: episodes one after another, a hold on Ctrl-C, and the report.
import type { SimDriver } from '../../../drivers/sim/sim-driver.js';
import type { Policy } from '../../policy/policy.js';
import { VirtualClockRuntime } from '../../runtime/virtual-clock.js';
import { RealtimeRuntime, DriverUnreachable } from '../../runtime/realtime.js';
import { createTask, type TaskName } from '../../../sim/tasks/index.js';
import { UsageError } from '../common.js';
import type { EpisodeOutcome, RuntimeOptions, RuntimeReport, TickRecorder } from '../../runtime/runtime-types.js';

export interface Runner {
  /** `ticks_left`: the --duration budget still open (undefined: none). */
  episode(seed: number, ticks_left: number | undefined, recorder?: TickRecorder): Promise<EpisodeOutcome>;
  hold(reason: string): void;
  stop(): Promise<RuntimeReport>;
}

/** The embedded sim: on the virtual clock in this thread, or in real time with the control thread. */
export async function simRunner(clock: string, probe: SimDriver, policy: Policy, opts: RuntimeOptions,
  sim: { robot: 'ur5' | 'ur5e' | 'aloha'; task: string; physics_hz: number; hz: number }): Promise<Runner> {
  if (clock === 'fast') {
    const rt = new VirtualClockRuntime(probe, policy, opts);
    return {
      episode: (seed, max_ticks, recorder) => rt.runEpisode(seed, recorder, max_ticks),
      hold: (reason) => rt.hold(reason),
      stop: async () => { const rep = rt.report(); await probe.disconnect(); return rep; },
    };
  }
  await probe.disconnect();
  const rt = await RealtimeRuntime.start({ kind: 'sim', robot: sim.robot, task: sim.task, physics_hz: sim.physics_hz, control_hz: sim.hz }, policy, { ...opts, control_hz: sim.hz });
  return {
    episode: (seed, max_ticks, recorder) => rt.runEpisode(seed, recorder, max_ticks),
    hold: (reason) => rt.hold(reason),
    stop: () => rt.stop(),
  };
}

/**
 * A real robot (or its protocol simulator) in real time: a robot that cannot be reached is bad input
 * (exit 2) before anything moves; an episode lasts at most the task's limit and the --duration left.
 */
export async function robotRunner(start: () => Promise<RealtimeRuntime>, task: TaskName | undefined): Promise<Runner> {
  let rt: RealtimeRuntime;
  try {
    rt = await start();
  } catch (err) {
    if (err instanceof DriverUnreachable) throw new UsageError(`${err.message}; nothing was commanded`);
    throw err;
  }
  const max_ticks = task ? createTask(task).max_ticks : undefined;
  return {
    episode: (seed, ticks_left, recorder) => rt.runEpisode(seed, recorder, minDefined(max_ticks, ticks_left)),
    hold: (reason) => rt.hold(reason),
    stop: () => rt.stop(),
  };
}

/** The smaller of two tick budgets, either of which may be absent. */
export function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
