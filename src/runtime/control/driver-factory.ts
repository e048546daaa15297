// Which driver the control thread builds from its (serializable) configuration, and how its loop must
// wait between ticks: blocking (Atomics.wait, then spin) for the embedded sim, whose write() does all the
// work; yielding to the event loop for drivers whose socket or serial I/O happens there. Drivers are
// imported on demand, so a sim run never loads roslib, nor an ALOHA run the UR code.
import { type Driver, DriverSetupError } from '../../../drivers/driver.js';
import { ProfileError, type RobotDescription } from '../../robot/index.js';
import type { Logger } from '../../telemetry/log.js';
import type { SimWorldSide } from './control-loop.js';
import type { PacingKind } from './pacing.js';
import type {
  AlohaDriverConfig,
  DriverConfig,
  ObservationMessage,
  SimDriverConfig,
  UrDriverConfig,
} from './protocol.js';

export interface BuiltDriver {
  driver: Driver;
  pacing: PacingKind;
  /** When each command went on the wire (network drivers), the last SEND_LOG of them. */
  sendTimes?: () => Float64Array;
  /** The embedded sim: its world lives with the driver, in this thread. */
  sim?: SimWorldSide & { observationExtras(): Pick<ObservationMessage, 'snapshot' | 'privileged'> };
}

export async function buildDriver(
  cfg: DriverConfig,
  description: RobotDescription,
  log?: Logger,
): Promise<BuiltDriver> {
  switch (cfg.kind) {
    case 'sim':
      return buildSim(cfg, description);
    case 'ur':
      return buildUr(cfg, description, log);
    case 'aloha':
      return buildAloha(cfg, description);
  }
}

async function buildSim(cfg: SimDriverConfig, description: RobotDescription): Promise<BuiltDriver> {
  const { SimDriver } = await import('../../../sim/sim-driver.js');
  const driver = await SimDriver.create({
    robot: cfg.robot,
    description,
    task: cfg.task as never,
    physics_hz: cfg.physics_hz,
    control_hz: description.control_hz,
    time: 'wall',
  }).catch((err: unknown) => {
    // a profile the sim model disagrees with is bad input, as for a robot that cannot be set up
    if (err instanceof ProfileError) throw new DriverSetupError(err.message);
    throw err;
  });
  return {
    driver,
    pacing: 'blocking',
    sim: {
      reset: (seed) => driver.reset(seed),
      get done() {
        return driver.done;
      },
      success: () => driver.success(),
      outcome: () => driver.taskOutcome(),
      observationExtras: () => ({ snapshot: driver.snapshot(), privileged: { task: driver.taskState() } }),
    },
  };
}

/** Send times kept for the command-latency benchmark (~22 min at 50 Hz). */
const SEND_LOG = 1 << 16;

async function buildUr(cfg: UrDriverConfig, description: RobotDescription, log?: Logger): Promise<BuiltDriver> {
  const { UrDriver } = await import('../../../drivers/ur/ur-driver.js');
  const driver = new UrDriver({ description, settings: cfg.settings, url: cfg.url, log });
  const sent = new Float64Array(SEND_LOG);
  let count = 0;
  driver.onPublish = (t) => {
    sent[count++ % SEND_LOG] = t;
  };
  const sendTimes = () =>
    count <= SEND_LOG
      ? sent.slice(0, count)
      : Float64Array.from({ length: SEND_LOG }, (_, i) => sent[(count + i) % SEND_LOG]);
  return { driver, pacing: 'yielding', sendTimes };
}

async function buildAloha(cfg: AlohaDriverConfig, description: RobotDescription): Promise<BuiltDriver> {
  const { AlohaSerialDriver } = await import('../../../drivers/aloha/aloha-serial-driver.js');
  const { loadAlohaCalibration } = await import('../../../drivers/aloha/load-calibration.js');
  const calibration = await loadAlohaCalibration(cfg.calibration_paths);
  const leaders = cfg.leaders
    ? { ports: cfg.leaders.ports, calibration: await loadAlohaCalibration(cfg.leaders.calibration_paths, 'leader') }
    : undefined;
  return {
    driver: new AlohaSerialDriver({
      description,
      ports: cfg.ports,
      calibration,
      bus: cfg.bus,
      allow_torque_off: cfg.allow_torque_off,
      ...(leaders ? { leaders } : {}),
    }),
    pacing: 'yielding',
  };
}
