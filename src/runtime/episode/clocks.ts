// Time as the episode engine sees it. The engine's code is the same on both clocks; what differs is what
// an inference costs and when its chunk lands:
//  - RealClock: the wall clock (monotonic). An inference costs what it took, plus any injected latency,
//    which is slept.
//  - VirtualClock: time moves only when the control loop executes a tick (one period each). While the
//    engine does real work (observing, rendering, inference) the loop waits, so wall time never leaks in;
//    each inference is charged a latency from a seeded model instead, and its chunk is delivered when the
//    loop's time passes that latency: the same run, bit for bit, on any machine under any load.
import { monotonicMs } from '../../util/clock.js';
import { type InjectedLatency, LatencyInjector, LatencyModel } from '../timing/latency-model.js';

export interface EngineClock {
  readonly kind: 'realtime' | 'virtual';
  /** Monotonic ms. */
  now(): number;
  /** Real work during which virtual time must stand still (identity on the real clock). */
  work<T>(p: Promise<T>): Promise<T>;
  /** The latency to charge an inference asked for at `asked_ms` that has just returned. */
  charge(asked_ms: number): number;
  /** Run `fn` at `due_ms` (at once if past); resolves after it ran. */
  deliver(due_ms: number, fn: () => void): Promise<void>;
  /** The virtual clock's latency model is to be measured at start-up (warm-up calls). */
  readonly needsLatencyModel: boolean;
  setLatencyModel(samples_ms: number[]): void;
  /** The model in force, as the flag value that reproduces it; undefined on the real clock. */
  latencyModelSpec(): string | undefined;
}

export class RealClock implements EngineClock {
  readonly kind = 'realtime' as const;
  readonly needsLatencyModel = false;
  private readonly injector: LatencyInjector;

  constructor(injected: InjectedLatency, seed: number) {
    this.injector = new LatencyInjector(injected, seed);
  }

  now(): number {
    return monotonicMs();
  }
  work<T>(p: Promise<T>): Promise<T> {
    return p;
  }
  charge(asked_ms: number): number {
    return monotonicMs() - asked_ms + this.injector.sample_ms();
  }

  async deliver(due_ms: number, fn: () => void): Promise<void> {
    const wait = due_ms - monotonicMs();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    fn();
  }

  setLatencyModel(): void {}
  latencyModelSpec(): undefined {
    return undefined;
  }
}

interface Delivery {
  due_ms: number;
  fn: () => void;
  done: () => void;
}

export class VirtualClock implements EngineClock {
  readonly kind = 'virtual' as const;
  private t_ms = 0;
  private busy = 0;
  private touched = false;
  private readonly due: Delivery[] = [];
  private readonly injector: LatencyInjector;
  private model: LatencyModel | undefined;

  constructor(
    injected: InjectedLatency,
    private readonly seed: number,
    model?: LatencyModel,
  ) {
    this.injector = new LatencyInjector(injected, seed);
    this.model = model;
  }

  get needsLatencyModel(): boolean {
    return this.model === undefined;
  }
  now(): number {
    return this.t_ms;
  }

  work<T>(p: Promise<T>): Promise<T> {
    this.busy++;
    this.touched = true;
    return p.finally(() => {
      this.busy--;
    });
  }

  charge(): number {
    if (!this.model) throw new Error('the virtual clock has no latency model yet (warm-up first)');
    return this.model.sample_ms() + this.injector.sample_ms();
  }

  deliver(due_ms: number, fn: () => void): Promise<void> {
    return new Promise((done) => {
      this.due.push({ due_ms, fn, done });
      this.due.sort((a, b) => a.due_ms - b.due_ms);
    });
  }

  setLatencyModel(samples_ms: number[]): void {
    this.model = new LatencyModel(
      samples_ms.map((x) => Math.round(x * 100) / 100),
      this.seed,
    );
  }

  latencyModelSpec(): string | undefined {
    return this.model?.spec();
  }

  // ---- the control side (inline-control.ts) ----

  /** Whether the engine may still be working: the loop must settle() before its next tick. */
  get unsettled(): boolean {
    return this.busy > 0 || this.touched;
  }

  /** Wait until no real work is in flight and everything it started has run (one macrotask turn at least). */
  async settle(): Promise<void> {
    do {
      this.touched = false;
      await new Promise((r) => setImmediate(r));
    } while (this.busy > 0 || this.touched);
  }

  /** Time moves to `t_ms` (the tick about to execute). */
  advanceTo(t_ms: number): void {
    this.t_ms = t_ms;
  }

  /**
   * Run every delivery due by `t_ms`, in order: the time of the last executed tick, which a chunk landing
   * at that very moment can no longer use (as on the real clock, where that tick has just run).
   */
  fireDue(t_ms: number): void {
    while (this.due.length && this.due[0].due_ms <= t_ms) {
      const d = this.due.shift()!;
      d.fn();
      d.done();
    }
  }

  /** A new episode: time restarts at 0; deliveries still pending belong to the old one and are dropped. */
  reset(): void {
    this.t_ms = 0;
    for (const d of this.due.splice(0)) d.done();
  }
}
