// What an inference costs in time, besides what it really took:
//  - injected latency (--inject-latency-ms N[:J]): N ms plus a uniform jitter in [-J, +J], never below 0,
//    added on every clock, to rehearse a slower model on the real loop;
//  - on the virtual clock, the latency charged for each call instead of its wall time, so a run repeats
//    bit for bit on any machine under any load: a fixed number of ms, or samples drawn (with the run's
//    seed) from a distribution, by default one measured once at start-up.
import { Rng } from '../../util/rng.js';

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

  constructor(
    readonly spec: InjectedLatency,
    seed = 0,
  ) {
    this.rng = new Rng(seed);
  }

  sample_ms(): number {
    if (this.spec.base_ms === 0 && this.spec.jitter_ms === 0) return 0;
    return Math.max(0, this.spec.base_ms + this.spec.jitter_ms * (2 * this.rng.next() - 1));
  }
}

/** How the virtual clock charges an inference: measured at start-up, a fixed time, or given samples. */
export type LatencyModelSpec = { kind: 'measured' } | { kind: 'fixed'; ms: number } | { kind: 'samples'; ms: number[] };

export const LATENCY_MODEL_HELP =
  'measured (time a few calls at start-up, then draw from them with the seed) | fixed:MS | samples:MS,MS,...';

export function parseLatencyModel(text: string): LatencyModelSpec {
  const t = text.trim();
  if (t === 'measured') return { kind: 'measured' };
  const fixed = /^fixed:(\d+(?:\.\d+)?)$/.exec(t);
  if (fixed) return { kind: 'fixed', ms: Number(fixed[1]) };
  const samples = /^samples:(\d+(?:\.\d+)?(?:,\d+(?:\.\d+)?)*)$/.exec(t);
  if (samples) return { kind: 'samples', ms: samples[1].split(',').map(Number) };
  throw new Error(`--latency-model takes ${LATENCY_MODEL_HELP}, got '${text}'`);
}

/** The latency each call is charged on the virtual clock (before injected latency). */
export class LatencyModel {
  private readonly rng: Rng;

  constructor(
    readonly samples_ms: readonly number[],
    seed: number,
  ) {
    if (samples_ms.length === 0) throw new Error('a latency model needs at least one sample');
    this.rng = new Rng(seed + 0x5eed);
  }

  static fixed(ms: number): LatencyModel {
    return new LatencyModel([ms], 0);
  }

  sample_ms(): number {
    const n = this.samples_ms.length;
    return n === 1 ? this.samples_ms[0] : this.samples_ms[Math.min(n - 1, Math.floor(this.rng.next() * n))];
  }

  /** The flag value that reproduces this model exactly. */
  spec(): string {
    return this.samples_ms.length === 1
      ? `fixed:${round2(this.samples_ms[0])}`
      : `samples:${this.samples_ms.map(round2).join(',')}`;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
