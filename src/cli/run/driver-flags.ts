// Which driver vla-run drives, from its flags: exactly one of --sim, --rosbridge (UR) and --ports (ALOHA),
// and each driver's own flags only with it, so a usage error names the flag the user needs.
import { PortsArgError, parseArmPorts } from '../../../drivers/aloha/ports-arg.js';
import { UsageError } from '../common.js';

/** Exactly one driver, and each driver's flags only with it and with a robot it can drive. */
export function checkDriverFlags(robot: string, o: Record<string, unknown>): void {
  const chosen = [
    o.sim && '--sim',
    o.rosbridge !== undefined && '--rosbridge',
    o.ports !== undefined && '--ports',
  ].filter(Boolean);
  if (chosen.length > 1)
    throw new UsageError(
      `choose one driver, not ${chosen.join(' and ')}: --sim (the embedded simulation), --rosbridge (a UR over ROS) ` +
        `or --ports (ALOHA over serial)`,
    );
  if (o.rosbridge !== undefined && robot === 'aloha')
    throw new UsageError('--rosbridge drives a UR5 or UR5e; ALOHA runs over serial: --ports left=PATH,right=PATH');
  if (o.ports !== undefined && robot !== 'aloha')
    throw new UsageError(`--ports drives ALOHA's serial arms; a ${robot} runs over ROS: --rosbridge ws://host:9090`);
  for (const flag of ['simLink', 'calibration'] as const) {
    if (o[flag] !== undefined && o.ports === undefined)
      throw new UsageError(`--${flag === 'simLink' ? 'sim-link' : flag} goes with --ports (ALOHA over serial)`);
  }
  if (chosen.length === 0) {
    const live =
      robot === 'aloha'
        ? '--ports left=PATH,right=PATH to drive the ALOHA arms over serial'
        : '--rosbridge ws://host:9090 to drive a UR over ROS';
    throw new UsageError(
      `no driver chosen for ${robot}: add --sim to run the simulated cell, or ${live} (a real robot is never ` +
        `commanded unless you name it)`,
    );
  }
}

/** --ports for vla-run: both follower arms (the action drives both). */
export function alohaPorts(value: string): { left: string; right: string } {
  let parsed: ReturnType<typeof parseArmPorts>;
  try {
    parsed = parseArmPorts(value);
  } catch (err) {
    if (err instanceof PortsArgError) throw new UsageError(err.message);
    throw err;
  }
  if (!parsed.left || !parsed.right)
    throw new UsageError(
      `--ports needs both follower arms (the policy drives both): left=PATH,right=PATH, got '${value}'`,
    );
  return { left: parsed.left, right: parsed.right };
}
