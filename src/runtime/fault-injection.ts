// The runtime's own fault hooks, for the fault matrix (test/e2e/fault-matrix/) and the soak benchmark. They act
// where the real fault would happen, so what is tested is the runtime's real handling of it. Read once from
// the environment variable VLA_INJECT_FAULTS; unset, nothing here runs (zero cost). Syntax, one place:
//
//   VLA_INJECT_FAULTS='KIND@tick=N[:ms=M],...'              each fault once, at run tick N
//   VLA_INJECT_FAULTS='random:seed=S:every_s=T:kinds=A|B|C'  one fault every T s on average (uniform 0.5 T ..
//                                                           1.5 T apart), its kind drawn from A|B|C; seeded
// KIND (where it acts):
//   nan-chunk, inf-chunk    the policy's chunk carries NaN / +Inf in one action          (policy wrapper)
//   wrong-robot-chunk       the chunk has another robot's action dim (7 <-> 14)           (policy wrapper)
//   latency-spike:ms=M      that inference takes M ms longer (default 900)                (policy wrapper)
//   worker-crash            the ONNX inference thread exits (process.exit in it); another policy throws
//   camera-freeze:ms=M      every camera keeps returning the frame of tick N for M ms (default 1500)
//   control-thread-exit     the real-time control thread exits at tick N (the driver is left as it was)
// Run ticks count every executed tick of the run across episodes (the summary's control.ticks); chunk and
// camera faults fire at the first inference whose observation is at or past their tick. vla-serve arms the
// chunk faults too, on the policies it serves (the faults happen on the server, as a real server's would);
// there, run ticks are the ticks of the observations its clients send.
import { type ActionChunk, type Observation, type Policy, PolicyFailure } from '../policy/policy.js';
import type { WorldLink } from './world-link.js';

export const FAULT_ENV = 'VLA_INJECT_FAULTS';

/** VLA_INJECT_FAULTS does not parse: bad usage, nothing moved. */
export class FaultSpecError extends Error {}

export const FAULT_KINDS = [
  'nan-chunk',
  'inf-chunk',
  'wrong-robot-chunk',
  'latency-spike',
  'worker-crash',
  'camera-freeze',
  'control-thread-exit',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface InjectedFault {
  kind: FaultKind;
  /** Run tick at or after which it fires. */
  tick: number;
  /** How long it lasts (latency-spike, camera-freeze). */
  ms: number;
}

const DEFAULT_MS: Partial<Record<FaultKind, number>> = { 'latency-spike': 900, 'camera-freeze': 1500 };

/** A schedule of faults: the given list, or a seeded random stream extended as run ticks pass. */
export class FaultPlan {
  private readonly events: InjectedFault[] = [];
  private readonly fired = new Set<InjectedFault>();
  private rng = 0;
  private nextTick = 0;

  private constructor(
    readonly spec: string,
    private readonly random?: { every_ticks: number; kinds: FaultKind[] },
    seed = 0,
  ) {
    this.rng = seed >>> 0 || 1;
    if (random) this.nextTick = this.gap();
  }

  /** The plan of VLA_INJECT_FAULTS at `control_hz`, or undefined when unset; a malformed value throws. */
  static fromEnv(control_hz: number, env = process.env[FAULT_ENV]): FaultPlan | undefined {
    if (!env) return undefined;
    return FaultPlan.parse(env, control_hz);
  }

  static parse(spec: string, control_hz: number): FaultPlan {
    const bad = (why: string) => new FaultSpecError(`${FAULT_ENV}='${spec}': ${why}`);
    if (spec.startsWith('random:')) {
      const f = fields(spec.slice('random:'.length).split(':'), bad);
      const every_s = Number(f.every_s);
      if (!(every_s > 0)) throw bad('random needs every_s=SECONDS > 0');
      const kinds = (f.kinds ?? '').split('|').map((k) => kindOf(k, bad));
      const seed = f.seed === undefined ? 0 : Number(f.seed);
      if (!Number.isInteger(seed)) throw bad('seed must be an integer');
      return new FaultPlan(spec, { every_ticks: every_s * control_hz, kinds }, seed);
    }
    const plan = new FaultPlan(spec);
    for (const item of spec.split(',')) {
      const [kind, rest] = item.trim().split('@');
      const f = fields((rest ?? '').split(':'), bad);
      const tick = Number(f.tick);
      if (!Number.isInteger(tick) || tick < 1) throw bad(`'${item}' needs @tick=N (N >= 1)`);
      const k = kindOf(kind, bad);
      const ms = f.ms === undefined ? (DEFAULT_MS[k] ?? 0) : Number(f.ms);
      if (!(ms >= 0)) throw bad(`'${item}': ms must be a number >= 0`);
      plan.events.push({ kind: k, tick, ms });
    }
    return plan;
  }

  /** The first unfired fault among `kinds` due at `run_tick`; it is marked fired. */
  take(kinds: readonly FaultKind[], run_tick: number): InjectedFault | undefined {
    this.extend(run_tick);
    const e = this.events.find((x) => !this.fired.has(x) && x.tick <= run_tick && kinds.includes(x.kind));
    if (e) {
      this.fired.add(e);
      fired(e, run_tick);
    }
    return e;
  }

  /** Whether any fault of these kinds is scheduled (a hook site with none needs no wrapping). */
  has(kinds: readonly FaultKind[]): boolean {
    return this.random
      ? this.random.kinds.some((k) => kinds.includes(k))
      : this.events.some((e) => kinds.includes(e.kind));
  }

  private extend(run_tick: number): void {
    if (!this.random) return;
    while (this.nextTick <= run_tick) {
      const kind = this.random.kinds[Math.floor(this.uniform() * this.random.kinds.length)];
      this.events.push({ kind, tick: this.nextTick, ms: DEFAULT_MS[kind] ?? 0 });
      this.nextTick += this.gap();
    }
  }

  private gap(): number {
    return Math.max(1, Math.round(this.random!.every_ticks * (0.5 + this.uniform())));
  }

  /** xorshift32: small, seeded, the same on every machine. */
  private uniform(): number {
    this.rng ^= this.rng << 13;
    this.rng ^= this.rng >>> 17;
    this.rng ^= this.rng << 5;
    return (this.rng >>> 0) / 2 ** 32;
  }
}

/** Run ticks from the episode ticks one hook site sees (episodes restart theirs at 1); one per site. */
export class RunTicks {
  private base = 0;
  private last = 0;

  of(episode_tick: number): number {
    if (episode_tick < this.last) this.base += this.last;
    this.last = episode_tick;
    return this.base + episode_tick;
  }
}

function fields(parts: string[], bad: (why: string) => Error): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of parts.filter((x) => x !== '')) {
    const [k, v] = p.split('=');
    if (v === undefined) throw bad(`'${p}' is not KEY=VALUE`);
    out[k] = v;
  }
  return out;
}

function kindOf(k: string | undefined, bad: (why: string) => Error): FaultKind {
  if (!FAULT_KINDS.includes(k as FaultKind)) throw bad(`unknown fault '${k}' (one of ${FAULT_KINDS.join(', ')})`);
  return k as FaultKind;
}

const CHUNK_KINDS: readonly FaultKind[] = [
  'nan-chunk',
  'inf-chunk',
  'wrong-robot-chunk',
  'latency-spike',
  'worker-crash',
];

/** The policy with the plan's chunk faults injected at its calls; the policy itself when none is planned. */
export function injectPolicyFaults(policy: Policy, plan: FaultPlan | undefined): Policy {
  if (!plan?.has(CHUNK_KINDS)) return policy;
  const run = new RunTicks();
  const infer = async (obs: Observation): Promise<ActionChunk> => {
    const f = plan.take(CHUNK_KINDS, run.of(obs.tick));
    if (f?.kind === 'latency-spike') await new Promise((r) => setTimeout(r, f.ms));
    if (f?.kind === 'worker-crash') crashWorker(policy, f);
    const chunk = await policy.infer(obs);
    return f ? corrupt(chunk, f.kind) : chunk;
  };
  return {
    describe: () => policy.describe(),
    infer,
    close: () => policy.close(),
    ...(policy.reset ? { reset: (seed: number) => policy.reset?.(seed) } : {}),
    ...(policy.counters ? { counters: () => policy.counters?.() ?? {} } : {}),
  };
}

function crashWorker(policy: Policy, f: InjectedFault): void {
  const onnx = policy as Policy & { crashWorkerForTest?(how: 'exit'): void };
  // the request that follows finds the thread gone, as after a real crash
  if (onnx.crashWorkerForTest) onnx.crashWorkerForTest('exit');
  else throw new PolicyFailure(`the inference worker crashed (injected worker-crash at tick ${f.tick})`);
}

function corrupt(chunk: ActionChunk, kind: FaultKind): ActionChunk {
  if (kind === 'nan-chunk' || kind === 'inf-chunk') {
    const actions = Float32Array.from(chunk.actions);
    // a joint of a row in the middle: the first rows may be dropped as stale, this one is not
    actions[Math.floor(chunk.horizon / 2) * chunk.dim] = kind === 'nan-chunk' ? Number.NaN : Number.POSITIVE_INFINITY;
    return { ...chunk, actions };
  }
  if (kind === 'wrong-robot-chunk') {
    const dim = chunk.dim === 14 ? 7 : 14;
    return { ...chunk, dim, actions: new Float32Array(chunk.horizon * dim) };
  }
  return chunk;
}

/** The world with every camera frozen on its frame for camera-freeze's span; the world itself when none is planned. */
export function injectWorldFaults(world: WorldLink, plan: FaultPlan | undefined): WorldLink {
  if (!plan?.has(['camera-freeze'])) return world;
  const run = new RunTicks();
  let frozen: { until_ms: number; images: ReturnType<WorldLink['view']>['images'] } | undefined;
  const view: WorldLink['view'] = (m, want) => {
    const v = world.view(m, want);
    const f = plan.take(['camera-freeze'], run.of(m.tick));
    // copies: a source may refill its image objects in place
    if (f) frozen = { until_ms: m.t_mono_ms + f.ms, images: v.images.map((i) => ({ ...i })) };
    if (!frozen) return v;
    if (m.t_mono_ms >= frozen.until_ms) {
      frozen = undefined;
      return v;
    }
    // the same frames again, with the time they were taken: what a camera that stopped delivering gives
    return { ...v, images: frozen.images };
  };
  return {
    view,
    close: () => world.close(),
    ...(world.reset ? { reset: (seed: number) => world.reset?.(seed) ?? Promise.resolve() } : {}),
    ...(world.success ? { success: () => world.success?.() ?? false } : {}),
  };
}

/** Print the armed plan once, on stderr (a run with injected faults must never pass for a clean one). */
export function announcePlan(plan: FaultPlan | undefined): void {
  if (plan) process.stderr.write(`${FAULT_ENV}: injecting faults: ${plan.spec}\n`);
}

/** One stderr line per fault fired, with the run tick: the soak and the matrix line outcomes up with it. */
function fired(f: InjectedFault, run_tick: number): void {
  process.stderr.write(`${FAULT_ENV}: ${f.kind} fired at run tick ${run_tick}${f.ms ? ` for ${f.ms} ms` : ''}\n`);
}
