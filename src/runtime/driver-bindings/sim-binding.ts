// The embedded MuJoCo sim in the control thread: stepped by send()/hold() on the thread's own clock
// ('external'), so the loop blocks between ticks and never needs its event loop.
import { SimDriver } from '../../../drivers/sim/sim-driver.js';
import type { TaskName } from '../../../sim/tasks/task.js';
import type { SimDriverConfig } from '../control-protocol.js';
import type { BindingContext, DriverBinding } from './driver-binding.js';

export async function bindSimDriver(cfg: SimDriverConfig, ctx: BindingContext): Promise<DriverBinding> {
  const driver = await SimDriver.create({ robot: cfg.robot, task: cfg.task as TaskName | undefined, clock: 'external', physics_hz: cfg.physics_hz, control_hz: ctx.control_hz });
  let latest: import('../../../drivers/driver.js').JointState | undefined;
  driver.state$.subscribe((s) => { latest = s; });
  return {
    driver,
    pacing: 'blocking',
    startEpisode(seed) {
      driver.reset(seed); // emits the reset state
      return latest!;
    },
    fault: () => undefined,
    measured: () => latest,
    get done() { return driver.done; },
    success: () => driver.success(),
    observationExtras: () => ({ snapshot: driver.env.snapshot(), task: driver.taskState() }),
    stats: () => ({ kind: 'sim', faults: {} }),
  };
}
