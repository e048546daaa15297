// The run's report: what the control loop measured (its statistics, when its thread could still give them) and
// what the engine counted itself.
import type { LoopStats } from '../control/protocol.js';
import { newControlCounters } from '../control/ticker.js';
import type { RuntimeReport } from '../runtime-types.js';

/** The engine's own part of the report. */
export type EngineFigures = Omit<
  RuntimeReport,
  'control' | 'overruns' | 'missed_ticks' | 'jitter_ms' | 'safety' | 'driver' | 'control_gc' | 'residual'
> & {
  rejected_chunks: number;
  holds: number;
  /** Ticks the engine saw published: the count kept when a dead control thread took its statistics with it. */
  ticks_seen: number;
};

export function runtimeReport(stats: LoopStats | undefined, e: EngineFigures): RuntimeReport {
  const { rejected_chunks, holds, ticks_seen, ...rest } = e;
  return {
    ...rest,
    control: stats?.counters ?? { ...newControlCounters(), ticks: ticks_seen },
    overruns: stats?.overruns ?? 0,
    missed_ticks: stats?.missed_ticks,
    jitter_ms: stats?.jitter_ms ?? [],
    safety: { clamped_actions: stats?.clamped_actions ?? 0, box_holds: stats?.box_holds ?? 0, rejected_chunks, holds },
    driver: {
      ...(stats?.faults ?? { holds: 0, holds_by_health: {}, longest_hold_ms: 0 }),
      counters: stats?.driver ?? {},
      command_t_mono_ms: stats?.command_t_mono_ms,
    },
    control_gc: stats?.gc,
    residual: stats?.residual,
  };
}
