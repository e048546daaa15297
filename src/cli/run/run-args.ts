// Small argument rules of vla-run, each a usage error (exit 2) when broken.
import { choice, cpuWakeLatencyArg, UsageError } from '../common.js';

export function parseOr<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The cap to hold (µs), or null for none: auto caps every real-time run (a late wake-up is a late tick). */
export function wakeCapArg(spec: string, clock: string): number | null {
  if (spec === 'auto') return clock === 'realtime' ? 0 : null;
  const us = cpuWakeLatencyArg(spec);
  if (us !== null && clock === 'fast')
    throw new UsageError('--cpu-wake-latency-us is for real-time runs; --clock fast keeps no wall time');
  return us;
}

/** Which cameras --record writes: all of `valid`, none, or a comma list of them. */
export function recordCameraList(spec: string, valid: string[]): string[] {
  if (spec === 'none') return [];
  if (spec === 'all') return valid;
  const names = spec
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  for (const n of names) choice('camera', n, valid);
  return names;
}

/** Without something that resets the world there is one episode: --duration long, or until Ctrl-C. */
export function refuseEpisodesWithoutWorld(
  episodes: number,
  duration_s: number | undefined,
  hasWorld: boolean,
  what: string,
): void {
  if (!hasWorld && duration_s === undefined && episodes > 1) {
    throw new UsageError(`--episodes needs ${what}; on a real robot use --duration or stop with Ctrl-C`);
  }
}
