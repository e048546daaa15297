// The recorded commands of an episode, by tick, for the RecordedActionsPolicy. A recording's row k holds the
// command the control loop sent at its tick k + 1 (the engine counts ticks from 1; the recorder stores the tick
// of the state the command was computed from), so the engine's tick T plays the row of tick T - 1. A tick the
// recording lacks (a fault tick on a robot, when nothing was written) keeps the command before it, as the
// actuators did. The first rows that repeat the very first command are the runtime holding its start pose until
// the first chunk landed: the replay serves nothing there, so its runtime holds the same pose the same way.
import type { CommandTrack } from '../../policy/recorded-actions.js';
import type { Episode } from '../../recording/index.js';

export class RecordedCommands {
  readonly dim: number;
  /** The recorded tick of the first and last row. */
  readonly first_tick: number;
  readonly last_tick: number;

  constructor(private readonly ep: Episode) {
    this.dim = ep.meta.action_names.length;
    this.first_tick = ep.tick[0];
    this.last_tick = ep.tick[ep.ticks - 1];
  }

  /** The command in force at recorded tick t (the last row at or before it); false before the first row. */
  at(t: number, out: Float64Array): boolean {
    const row = this.rowAtOrBefore(t);
    if (row < 0) return false;
    out.set(this.ep.action.subarray(row * this.dim, (row + 1) * this.dim));
    return true;
  }

  /** Leading rows whose command is bit for bit the first row's: the runtime's startup hold. */
  startupRows(): number {
    const a = this.ep.action;
    const D = this.dim;
    let n = 1;
    for (; n < this.ep.ticks; n++) {
      let same = true;
      for (let i = 0; i < D && same; i++) same = Object.is(a[n * D + i], a[i]);
      if (!same) break;
    }
    return n;
  }

  private rowAtOrBefore(t: number): number {
    const ticks = this.ep.tick;
    let lo = 0;
    let hi = this.ep.ticks - 1;
    if (t < ticks[0]) return -1;
    if (t >= ticks[hi]) return hi;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ticks[mid] <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** The engine's ticks of a replay in the sim: tick T plays recorded tick T - 1, after the startup hold. */
export function simTrack(rec: RecordedCommands, ep: Episode): CommandTrack {
  const startup = rec.startupRows();
  const start_tick = startup < ep.ticks ? ep.tick[startup] + 1 : rec.last_tick + 2;
  return {
    start_tick,
    command: (t, out) => rec.at(t - 1, out),
  };
}
