// The `--ports left=PATH,right=PATH` argument shared by the ALOHA command line tools.
import { ALOHA_ARM_SIDES, type AlohaSide } from '../../protocols/aloha/motor-map.js';

/** Bad --ports value; command line tools turn it into a usage error (exit 2). */
export class PortsArgError extends Error {
  override name = 'PortsArgError';
}

/** `left=/dev/ttyUSB0,right=/dev/ttyUSB1` -> { left, right }; at least one arm, each at most once. */
export function parseArmPorts(value: string | undefined): Partial<Record<AlohaSide, string>> {
  if (!value) throw new PortsArgError('--ports is required, e.g. --ports left=/dev/ttyUSB0,right=/dev/ttyUSB1');
  const ports: Partial<Record<AlohaSide, string>> = {};
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const side = part.slice(0, eq).trim();
    if (eq <= 0 || eq === part.length - 1)
      throw new PortsArgError(`--ports: '${part}' is not ARM=PATH (arms: ${ALOHA_ARM_SIDES.join(', ')})`);
    if (!(ALOHA_ARM_SIDES as readonly string[]).includes(side))
      throw new PortsArgError(`--ports: unknown arm '${side}' (valid: ${ALOHA_ARM_SIDES.join(', ')})`);
    if (ports[side as AlohaSide]) throw new PortsArgError(`--ports names the ${side} arm twice`);
    ports[side as AlohaSide] = part.slice(eq + 1).trim();
  }
  return ports;
}
