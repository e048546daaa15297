// Starting the real-time runtime from the command line: a driver that cannot set the robot up (refused
// connection, bad calibration, a port that will not open, a profile the sim disagrees with) is the user's
// to fix, exit 2, and nothing was commanded.
import { DriverSetupError } from '../../../drivers/driver.js';
import { FaultSpecError } from '../../runtime/fault-injection.js';
import { type EpisodeEngine, startRealtime } from '../../runtime/runtime.js';
import { UsageError } from '../common.js';

export function startOnRobot(...args: Parameters<typeof startRealtime>): Promise<EpisodeEngine> {
  return startRealtime(...args).catch((err: unknown) => {
    if (err instanceof DriverSetupError || err instanceof FaultSpecError)
      throw new UsageError(`${err.message}; nothing was commanded`);
    throw err;
  });
}
