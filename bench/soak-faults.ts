// Faults the soak throws at a running path from outside the runtime, at seeded random times: a scheduler
// that fires one every `every_s` on average (0.5 .. 1.5 x apart) until stopped, and keeps what each did.

import { monotonicMs } from '../src/util/clock.js';
import { Rng } from '../src/util/rng.js';

export interface FaultEvent {
  kind: string;
  /** Seconds since the path started. */
  at_s: number;
  /** How long the fault lasted (ms). */
  length_ms: number;
  /** From the fault's start to the first command the robot got after it (ms); null where not observable. */
  recovery_ms: number | null;
  /** Where the robot side came back at a known time (an endpoint restart): from then to the first command (ms). */
  resume_after_ready_ms?: number | null;
  error?: string;
}

/** One fault: does it and says what happened (recovery_ms may be filled in later by the path). */
export type FaultAction = (rng: Rng) => Promise<Omit<FaultEvent, 'at_s'>>;

export class FaultScheduler {
  readonly events: FaultEvent[] = [];
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly done: Promise<void>;

  constructor(
    seed: number,
    every_s: number,
    private readonly actions: Record<string, FaultAction>,
    private readonly t0_ms = monotonicMs(),
  ) {
    this.done = this.loop(new Rng(seed), every_s);
  }

  async stop(): Promise<FaultEvent[]> {
    this.stopped = true;
    this.wake?.();
    await this.done;
    return this.events;
  }

  private async loop(rng: Rng, every_s: number): Promise<void> {
    const kinds = Object.keys(this.actions);
    if (kinds.length === 0) return;
    for (;;) {
      await new Promise<void>((r) => {
        const timer = setTimeout(r, rng.uniform(0.5, 1.5) * every_s * 1000);
        this.wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      if (this.stopped) return;
      const kind = kinds[Math.floor(rng.next() * kinds.length)];
      const at_s = Math.round((monotonicMs() - this.t0_ms) / 100) / 10;
      const done = await this.actions[kind](rng).catch((err: Error) => ({
        kind,
        length_ms: 0,
        recovery_ms: null,
        error: err.message, // the fault could not be thrown (the soak's own trouble): said, not hidden
      }));
      this.events.push({ at_s, ...done });
    }
  }
}
