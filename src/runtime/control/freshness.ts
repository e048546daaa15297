// The one freshness rule of the runtime: a measurement older than its limit is as good as none. Joint
// states are judged here every tick (a driver only says how its link is; 'stale' is the runtime's
// verdict), and camera frames by the episode engine before an inference.
import type { Health } from '../../../drivers/driver.js';

export const DEFAULT_STALE_STATE_MS = 100;
/** Camera frames arrive at their own rate (10-30 Hz): a frame may be older than a joint state and still current. */
export const DEFAULT_STALE_IMAGE_MS = 250;

export class FreshnessWatch {
  constructor(
    readonly stale_state_ms = DEFAULT_STALE_STATE_MS,
    readonly stale_image_ms = DEFAULT_STALE_IMAGE_MS,
  ) {}

  /** The health of a tick: the driver's, or 'stale' when it is fine but its measurement is too old. */
  judge(health: Health, measured_ms: number, now_ms: number): Health {
    if (health !== 'ok') return health;
    return now_ms - measured_ms > this.stale_state_ms ? 'stale' : 'ok';
  }

  stateIsFresh(measured_ms: number, now_ms: number): boolean {
    return now_ms - measured_ms <= this.stale_state_ms;
  }

  imageIsFresh(taken_ms: number, now_ms: number): boolean {
    return now_ms - taken_ms <= this.stale_image_ms;
  }
}
