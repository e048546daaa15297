// Scripted-expert episodes on the virtual clock: the episode engine, its control loop and the embedded sim
// in this thread, each chunk landing the tick it is asked for (fixed:0: the expert needs no time). What
// vla-sim run --clock fast, snapshot and bench use, so demonstrations and benchmarks run on the very loop
// that drives a robot.

import { ExpertPolicy } from '../../../sim/experts/expert-policy.js';
import { type RobotName, robotModel } from '../../../sim/robots/index.js';
import { SimDriver } from '../../../sim/sim-driver.js';
import type { TaskName } from '../../../sim/tasks/index.js';
import { type EpisodeEngine, startVirtual } from '../../runtime/runtime.js';
import { directWorld } from '../../world/sim-world.js';

export interface ExpertEngine {
  engine: EpisodeEngine;
  driver: SimDriver;
  close(): Promise<void>;
}

export async function expertEngine(
  robot: RobotName,
  task: TaskName,
  opts: { physics_hz?: number; noise?: number } = {},
): Promise<ExpertEngine> {
  const driver = await SimDriver.create({ robot, task, physics_hz: opts.physics_hz, time: 'virtual' });
  const policy = new ExpertPolicy(robotModel(robot), driver.description, task, { noise: opts.noise });
  const engine = startVirtual(driver, policy, directWorld(driver), {
    blend: 'replace',
    margin_ticks: 2,
    injected: { base_ms: 0, jitter_ms: 0 },
    seed: 0,
    latency_model: { kind: 'fixed', ms: 0 },
  });
  return {
    engine,
    driver,
    async close() {
      await engine.stop(); // closes the sim too
    },
  };
}
