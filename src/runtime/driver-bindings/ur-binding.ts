// A UR5/UR5e over rosbridge in the control thread. roslib does its WebSocket I/O on the event loop, so
// the loop yields between ticks. The driver's own status (stale /joint_states, program stopped,
// connection lost) is the binding's fault: the loop holds while it lasts and restarts the command stream
// from a fresh measurement when it clears. The world (reset, success, cameras) is read on the main thread.
import { map } from 'rxjs';
import { RosConnectionError, UrDriver } from '../../../drivers/ur/ur-driver.js';
import { monotonicMs } from '../../util/clock.js';
import type { UrDriverConfig } from '../control-protocol.js';
import { DriverUnreachable, type BindingContext, type DriverBinding } from './driver-binding.js';

/** Send times kept for the latency benchmark (~22 min at 50 Hz). */
const SEND_LOG = 1 << 16;

export async function bindUrDriver(cfg: UrDriverConfig, ctx: BindingContext): Promise<DriverBinding> {
  const driver = new UrDriver({ robot: cfg.robot, url: cfg.url, settings: cfg.settings, control_hz: ctx.control_hz, sim: cfg.sim_endpoint });
  try {
    await driver.connect();
  } catch (err) {
    if (err instanceof RosConnectionError) throw new DriverUnreachable(err.message);
    throw err;
  }
  const sent = new Float64Array(SEND_LOG);
  let sentCount = 0, published = driver.commands_published;
  /** The measurement, only if it is fresh and the driver would command from it now. */
  const fresh = () => {
    const s = driver.latestState();
    return s && driver.status === 'ok' && monotonicMs() - s.t_mono_ms <= cfg.settings.stale_state_ms ? s : undefined;
  };
  return {
    driver,
    pacing: 'yielding',
    startEpisode() {
      driver.restartTicks();
      return fresh() ?? `no fresh ${cfg.settings.topics.joint_states} at the start of the episode (driver ${driver.status})`;
    },
    fault: () => (driver.status === 'ok' ? undefined : driver.status),
    measured: fresh,
    done: false,
    success: () => false,
    observationExtras: () => ({}),
    health$: driver.status$.pipe(map((e) => ({ ok: e.status === 'ok', status: e.status, reason: e.reason, t_mono_ms: e.t_mono_ms }))),
    afterTick(t_mono_ms) {
      if (driver.commands_published === published) return;
      published = driver.commands_published;
      sent[sentCount++ % SEND_LOG] = t_mono_ms;
    },
    stats: () => ({
      kind: 'ur', faults: { ...driver.faults },
      command_t_mono_ms: sentCount <= SEND_LOG ? sent.slice(0, sentCount) : Float64Array.from({ length: SEND_LOG }, (_, i) => sent[(sentCount + i) % SEND_LOG]),
    }),
  };
}
