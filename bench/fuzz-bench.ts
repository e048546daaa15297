// The fuzz tests' endpoints with many more cases: `VLA_BENCH_ONLY=fuzz node dist/bench/run.js`.
//   VLA_BENCH_FUZZ_CASES     cases per endpoint (default 20000)
//   VLA_BENCH_FUZZ_SEED      seed (default: the time, printed so a failure can be repeated)
//   VLA_BENCH_FUZZ_TARGETS   comma-separated subset: framer, dynamixel, simlink, rosbridge, vla-serve, openpi, learner
// Each endpoint reports its cases, crashes (0 expected) and what it dropped; one that fails reports its error,
// which names the seed and the case, and the others still run.
import { fuzzDynamixelSerial } from './fuzz-dynamixel.js';
import { fuzzFramer } from './fuzz-framer.js';
import { fuzzLearner } from './fuzz-learner.js';
import { fuzzOpenpi } from './fuzz-openpi.js';
import { fuzzRosbridge } from './fuzz-rosbridge.js';
import { fuzzSimLink } from './fuzz-simlink.js';
import { fuzzVlaServe } from './fuzz-vla-serve.js';

type Target = (o: { cases: number; seed: number; log?: (m: string) => void }) => unknown;

const TARGETS: Record<string, Target> = {
  framer: (o) => fuzzFramer(o),
  dynamixel: fuzzDynamixelSerial,
  simlink: fuzzSimLink,
  rosbridge: fuzzRosbridge,
  'vla-serve': fuzzVlaServe,
  openpi: fuzzOpenpi,
  learner: fuzzLearner,
};

export async function benchmarkFuzz(log: (m: string) => void): Promise<Record<string, unknown>> {
  const cases = Number(process.env.VLA_BENCH_FUZZ_CASES ?? 20_000);
  const seed = Number(process.env.VLA_BENCH_FUZZ_SEED ?? Date.now() % 1_000_000);
  const names = (process.env.VLA_BENCH_FUZZ_TARGETS ?? Object.keys(TARGETS).join(',')).split(',');
  const out: Record<string, unknown> = { seed, cases_per_endpoint: cases };
  let crashes = 0;
  for (const name of names) {
    const target = TARGETS[name];
    if (!target) throw new Error(`VLA_BENCH_FUZZ_TARGETS: no target '${name}' (valid: ${Object.keys(TARGETS)})`);
    log(`fuzz: ${name}, ${cases} cases, seed ${seed}`);
    const t0 = performance.now();
    try {
      const r = (await target({ cases, seed, log })) as { crashes?: number; failures?: string[] };
      crashes += (r.crashes ?? 0) + (r.failures?.length ?? 0);
      out[name] = r;
    } catch (err) {
      crashes++;
      out[name] = { error: (err as Error).message, after_s: Math.round((performance.now() - t0) / 1000) };
    }
  }
  out.crashes = crashes;
  return out;
}
