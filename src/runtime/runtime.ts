// Assembling a runtime: an episode engine on a clock, with its control loop and its world.
//  - real time: the control loop runs in its own thread with the driver (sim, UR over ROS, ALOHA over
//    serial); the engine runs here on the wall clock;
//  - virtual: the embedded sim steps in this thread, time moves one tick at a time, and every inference
//    is charged a latency from a seeded model (repeatable on any machine).
import type { SimDriver } from '../../sim/sim-driver.js';
import type { Policy } from '../policy/policy.js';
import { frozenResidual } from '../policy/residual/frozen-residual.js';
import type { ResidualCorrection } from '../policy/residual/residual-corrector.js';
import type { RobotDescription } from '../robot/index.js';
import { DEFAULT_STALE_STATE_MS } from './control/freshness.js';
import { InlineControl } from './control/inline-control.js';
import type { DriverConfig } from './control/protocol.js';
import { ThreadedControl } from './control/threaded-control.js';
import { RealClock, VirtualClock } from './episode/clocks.js';
import { EpisodeEngine } from './episode/engine.js';
import { announcePlan, FaultPlan, injectPolicyFaults, injectWorldFaults } from './fault-injection.js';
import type { RuntimeOptions } from './runtime-types.js';
import { type InjectedLatency, LatencyModel, type LatencyModelSpec } from './timing/latency-model.js';
import type { WorldLink } from './world-link.js';

export { EpisodeEngine };

export interface ClockOptions {
  /** Latency added to every inference (--inject-latency-ms). */
  injected: InjectedLatency;
  /** Seed of the injected jitter and of the virtual clock's latency model. */
  seed: number;
}

const DEFAULT_FAULT_TIMEOUT_MS = 5000;

/**
 * The control loop in its own thread with the driver `driver` builds; the world (cameras, episodes) as
 * the main thread sees it comes from `world`, given the driver's own description. Throws DriverSetupError
 * when the robot cannot be set up (nothing was commanded).
 */
export async function startRealtime(
  driver: DriverConfig,
  description: RobotDescription,
  policy: Policy,
  world: (desc: RobotDescription) => Promise<WorldLink> | WorldLink,
  opts: RuntimeOptions & ClockOptions & { spin_ms?: number },
): Promise<EpisodeEngine> {
  // before the control thread starts: a malformed plan is refused with nothing set up
  const plan = FaultPlan.fromEnv(description.control_hz);
  const control = await ThreadedControl.start(driver, description, {
    // a UR cell's ROS settings name how old its state may be (they know how often it comes: the throttle)
    stale_state_ms:
      opts.stale_state_ms ?? (driver.kind === 'ur' ? driver.settings.stale_state_ms : DEFAULT_STALE_STATE_MS),
    fault_timeout_ms: opts.fault_timeout_ms ?? DEFAULT_FAULT_TIMEOUT_MS,
    max_step_rad: opts.max_step_rad,
    workspace_box: opts.workspace_box,
    spin_ms: opts.spin_ms,
    residual: opts.residual,
    residual_plugin: opts.residual_plugin,
    features: policy.describe().features_dim,
  });
  let link: WorldLink;
  try {
    link = await world(control.description);
  } catch (err) {
    await control.stop();
    throw err;
  }
  announcePlan(plan);
  const clock = new RealClock(opts.injected, opts.seed);
  return new EpisodeEngine(control, injectPolicyFaults(policy, plan), injectWorldFaults(link, plan), clock, opts);
}

/**
 * The embedded sim on the virtual clock, in this thread. `residual_correction` (the fine-tuner's exploring actor)
 * takes the place of a trained `residual` file.
 */
export function startVirtual(
  sim: SimDriver,
  policy: Policy,
  world: WorldLink,
  opts: RuntimeOptions & ClockOptions & { latency_model: LatencyModelSpec; residual_correction?: ResidualCorrection },
): EpisodeEngine {
  const plan = FaultPlan.fromEnv(sim.description.control_hz);
  const m = opts.latency_model;
  const model =
    m.kind === 'fixed'
      ? LatencyModel.fixed(m.ms)
      : m.kind === 'samples'
        ? new LatencyModel(m.ms, opts.seed)
        : undefined;
  const clock = new VirtualClock(opts.injected, opts.seed, model);
  const features = policy.describe().features_dim ?? 0;
  const control = new InlineControl(sim, clock, {
    stale_state_ms: opts.stale_state_ms ?? DEFAULT_STALE_STATE_MS,
    fault_timeout_ms: opts.fault_timeout_ms ?? DEFAULT_FAULT_TIMEOUT_MS,
    max_step_rad: opts.max_step_rad,
    workspace_box: opts.workspace_box,
    residual:
      opts.residual_correction ??
      (opts.residual ? frozenResidual(sim.description, opts.residual, features) : undefined),
    features,
  });
  announcePlan(plan);
  return new EpisodeEngine(control, injectPolicyFaults(policy, plan), injectWorldFaults(world, plan), clock, opts);
}
