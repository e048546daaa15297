// Bus errors say which bus (arm) and which motor ID went wrong, so a user can find the cable or servo.
import { describeStatusError } from '../../protocols/dynamixel/control-table.js';

export class DynamixelError extends Error {
  override name = 'DynamixelError';
}

/** The serial port could not be opened (wrong path, permissions, in use). Nothing was sent. */
export class PortOpenError extends DynamixelError {
  override name = 'PortOpenError';
}

/** No (good) reply from one or more IDs after every retry. */
export class DynamixelTimeoutError extends DynamixelError {
  override name = 'DynamixelTimeoutError';
  constructor(
    readonly bus: string,
    readonly ids: number[],
    what: string,
    attempts: number,
    timeout_ms: number,
  ) {
    super(
      `${bus}: no reply from ID${ids.length > 1 ? 's' : ''} ${ids.join(', ')} to ${what} (${attempts} ` +
        `attempt${attempts > 1 ? 's' : ''}, ${timeout_ms} ms each)`,
    );
  }
}

/** A servo answered with an error in its status packet (other than a hardware alert alone). */
export class DynamixelStatusError extends DynamixelError {
  override name = 'DynamixelStatusError';
  constructor(
    readonly bus: string,
    readonly id: number,
    readonly status: number,
    what: string,
  ) {
    super(`${bus}: ID ${id} refused ${what}: ${describeStatusError(status)}`);
  }
}

export class BusClosedError extends DynamixelError {
  override name = 'BusClosedError';
}

/**
 * A per-tick request did not finish by its deadline (the end of its control tick) and was abandoned:
 * nothing it read is used, and its replies, if they still come, are discarded (bus.ts). `ids` empty:
 * every reply came, but was handled only after the deadline (the process stalled): unused all the same.
 */
export class DynamixelDeadlineError extends DynamixelError {
  override name = 'DynamixelDeadlineError';
  constructor(
    readonly bus: string,
    readonly ids: number[],
    what: string,
  ) {
    super(
      ids.length === 0
        ? `${bus}: ${what} finished after the end of its control tick (its reading is discarded)`
        : `${bus}: no reply from ID${ids.length > 1 ? 's' : ''} ${ids.join(', ')} to ${what} within its control tick ` +
            `(abandoned; late replies are discarded)`,
    );
  }
}
