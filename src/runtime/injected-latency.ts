// Latency added inside the inference path (--inject-latency-ms N[:J]): N ms plus a uniform jitter in
// [-J, +J], never below 0. For testing, and for users to rehearse a slower model on the real loop.
import { Rng } from '../util/rng.js';

export interface InjectedLatency {
  base_ms: number;
  jitter_ms: number;
}

export function parseInjectedLatency(text: string): InjectedLatency {
  const m = /^(\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))?$/.exec(text.trim());
  if (!m) throw new Error(`--inject-latency-ms takes N or N:JITTER in ms (e.g. 300 or 300:50), got '${text}'`);
  return { base_ms: Number(m[1]), jitter_ms: Number(m[2] ?? 0) };
}

export class LatencyInjector {
  private readonly rng: Rng;

  constructor(readonly spec: InjectedLatency, seed = 0) {
    this.rng = new Rng(seed);
  }

  sample_ms(): number {
    if (this.spec.base_ms === 0 && this.spec.jitter_ms === 0) return 0;
    return Math.max(0, this.spec.base_ms + this.spec.jitter_ms * (2 * this.rng.next() - 1));
  }
}
