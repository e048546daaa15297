// The soak: vla-run for a long time on each robot path with faults thrown at it at seeded random times,
// then one JSON of what held: ticks, missed ticks by cause (host stall vs the runtime's own), underruns,
// stale actions executed (--policy tick-stamp: every action says its tick, the honest check), holds by
// cause, commands out of limits (where the endpoint sees them), memory and descriptors per minute, and the
// recovery after each fault. Faults: the runtime's hooks (VLA_INJECT_FAULTS random: latency spikes, frozen
// cameras) during the long run; endpoint restarts and stale /joint_states (UR), CRC bursts, dropped replies
// and silent servos (ALOHA) from outside; then short runs with a fault that must stop the robot (NaN chunk,
// a crashed inference worker, a chunk for another robot): exit 1 naming it.
//   VLA_BENCH_SOAK_SIM_S / _UR_S / _DXL_S   seconds per path (default 3600 / 1800 / 1800; 0 skips it)
//   VLA_BENCH_SOAK_PARALLEL=1              run the three paths at once (default: one after another)
//   VLA_BENCH_SOAK_SEED (7), VLA_BENCH_SOAK_FAULT_EVERY_S (60: external faults, and the hooks' every_s)
//   VLA_BENCH_SOAK_STATS_S (60: --stats-every), VLA_BENCH_SOAK_WARMUP_S (120), VLA_BENCH_SOAK_GROWTH_MB (8)
//   VLA_BENCH_SOAK_POLICY  tick-stamp (default: the stale check) | model (the demo ONNX model: realism, no check)
import { monotonicMs } from '../src/util/clock.js';
import { DxlSoakEmulator } from './soak-dxl.js';
import { type FaultAction, type FaultEvent, FaultScheduler } from './soak-faults.js';
import { type Check, check, loopTotals, memoryReport } from './soak-report.js';
import { type SoakRun, soakRun } from './soak-run.js';
import { UrSoakEndpoint } from './soak-ur.js';

const env = (k: string, d: number) => Number(process.env[`VLA_BENCH_SOAK_${k}`] ?? d);
const HOOK_KINDS = 'latency-spike|camera-freeze';
const FATAL_KINDS = ['nan-chunk', 'worker-crash', 'wrong-robot-chunk'] as const;
/** The fatal runs: this long, the fault at this run tick. */
const FATAL_RUN_S = 6;
const FATAL_TICK = 100;
/** A long run stopped by a fault is followed by another if at least this much time is left (s). */
const MIN_RUN_S = 10;

interface Settings {
  seed: number;
  fault_every_s: number;
  stats_every_s: number;
  warmup_s: number;
  growth_mb: number;
  policy: 'tick-stamp' | 'model';
  log: (m: string) => void;
}

/** How a path reaches its robot: the flags, the faults from outside, and what to do at the end. */
interface Path {
  name: 'sim' | 'ur' | 'dxl';
  args: string[];
  faults: Record<string, FaultAction>;
  /** Commands checked on the robot's side (UR endpoint), or why there is no such check. */
  finish(): Promise<{ out_of_limits: number | null; over_step: number | null; commands: number | null; note?: string }>;
}

export async function benchmarkSoak(log: (m: string) => void): Promise<Record<string, unknown>> {
  const s: Settings = {
    seed: env('SEED', 7),
    fault_every_s: env('FAULT_EVERY_S', 60),
    stats_every_s: env('STATS_S', 60),
    warmup_s: env('WARMUP_S', 120),
    growth_mb: env('GROWTH_MB', 8),
    policy: process.env.VLA_BENCH_SOAK_POLICY === 'model' ? 'model' : 'tick-stamp',
    log,
  };
  const plan = { sim: env('SIM_S', 3600), ur: env('UR_S', 1800), dxl: env('DXL_S', 1800) };
  const parallel = process.env.VLA_BENCH_SOAK_PARALLEL === '1';
  const jobs = (Object.entries(plan) as [Path['name'], number][]).filter(([, secs]) => secs > 0);
  const results: Record<string, unknown> = {};
  const one = async ([name, secs]: [Path['name'], number]) => {
    results[name] = await soakPath(name, secs, s).catch((err: Error) => ({ error: err.message, pass: false }));
  };
  if (parallel) await Promise.all(jobs.map(one));
  else for (const j of jobs) await one(j);
  const pass = Object.values(results).every((r) => (r as { pass?: boolean }).pass === true);
  return {
    settings: { ...s, log: undefined, durations_s: plan, parallel, hook_kinds: HOOK_KINDS },
    policy: s.policy === 'tick-stamp' ? 'tick-stamp (diagnostic: the stale check counts)' : 'demo ONNX model',
    paths: results,
    pass,
  };
}

async function openPath(name: Path['name'], s: Settings): Promise<Path> {
  const policy = s.policy === 'tick-stamp' ? ['--policy', 'tick-stamp'] : [];
  if (name === 'sim') {
    const none = { out_of_limits: null, over_step: null, commands: null };
    const note = 'the embedded sim has no outside observer: the safety filter counts (clamped_actions)';
    return { name, args: ['--robot', 'ur5e', '--sim', ...policy], faults: {}, finish: async () => ({ ...none, note }) };
  }
  if (name === 'ur') {
    const ep = await UrSoakEndpoint.start();
    // an endpoint restart takes its process start (MuJoCo compile) on top of the down time
    const args = ['--robot', 'ur5e', '--rosbridge', ep.url, '--fault-timeout', '15', ...policy];
    return { name, args, faults: ep.faults(), finish: () => ep.stop() };
  }
  const emu = await DxlSoakEmulator.start();
  const args = ['--robot', 'aloha', '--ports', emu.portsArg, '--sim-link', emu.sim_link, ...policy];
  const finish = async () => {
    const counts = await emu.goalCounts();
    await emu.stop();
    const note = "out-of-limit goals as the servos refused them; the step per tick: the safety filter's count";
    return { ...counts, over_step: null, note };
  };
  return { name, args, faults: emu.faults(), finish };
}

async function soakPath(name: Path['name'], secs: number, s: Settings): Promise<Record<string, unknown>> {
  const path = await openPath(name, s);
  const t0 = monotonicMs();
  s.log(`soak ${name}: ${secs} s, faults every ~${s.fault_every_s} s, policy ${s.policy}`);
  const progress = setInterval(
    () => s.log(`soak ${name}: ${Math.round((monotonicMs() - t0) / 1000)} / ${secs} s`),
    60_000,
  );
  let runs: SoakRun[];
  let external: FaultEvent[];
  const scheduler = new FaultScheduler(s.seed + 1, s.fault_every_s, path.faults);
  try {
    runs = await longRuns(path, secs, t0, s);
  } finally {
    external = await scheduler.stop();
    clearInterval(progress);
  }
  const fatal = [];
  for (const kind of FATAL_KINDS) fatal.push(await fatalRun(path, kind, s));
  const robotSide = await path.finish();
  return pathResult(runs, t0, external, fatal, robotSide, s);
}

/**
 * The long run: one vla-run for the whole time, with the runtime's random fault hooks. A run a fault stopped
 * (exit 1) is counted as an unplanned stop and followed by a new one for the time left, so that one stop does
 * not end the soak; any other exit ends it.
 */
async function longRuns(path: Path, secs: number, t0: number, s: Settings): Promise<SoakRun[]> {
  const runs: SoakRun[] = [];
  for (;;) {
    const left_s = Math.round(secs - (monotonicMs() - t0) / 1000);
    if (runs.length > 0 && left_s < MIN_RUN_S) return runs;
    const r = await soakRun({
      args: path.args,
      duration_s: Math.max(left_s, MIN_RUN_S),
      stats_every_s: s.stats_every_s,
      faults: `random:seed=${s.seed + runs.length}:every_s=${s.fault_every_s}:kinds=${HOOK_KINDS}`,
    });
    runs.push(r);
    if (r.exit_code !== 1) return runs;
    s.log(`soak ${path.name}: the run stopped (exit 1: ${r.summary?.fault ?? 'no summary'}); a new one goes on`);
  }
}

/** A short run with a fault that must stop the robot: exit 1, the summary naming the cause, nothing stale. */
async function fatalRun(path: Path, kind: string, s: Settings) {
  const r = await soakRun({
    args: path.args,
    duration_s: FATAL_RUN_S,
    stats_every_s: 60,
    faults: `${kind}@tick=${FATAL_TICK}`,
  });
  const fault = r.summary?.fault ?? null;
  const ok = r.exit_code === 1 && fault !== null && (r.summary?.buffer?.stale_actions_executed ?? 0) === 0;
  s.log(`soak ${path.name}: ${kind} -> exit ${r.exit_code}, ${fault ?? 'no fault in the summary'}`);
  return { kind, exit_code: r.exit_code, fault, ticks: r.summary?.control?.ticks ?? null, pass: ok };
}

function pathResult(
  runs: SoakRun[],
  t0: number,
  external: FaultEvent[],
  fatal: { kind: string; pass: boolean }[],
  robotSide: Awaited<ReturnType<Path['finish']>>,
  s: Settings,
): Record<string, unknown> {
  const t = loopTotals(runs);
  const longest = runs.reduce((a, b) =>
    b.ended_t_mono_ms - b.started_t_mono_ms > a.ended_t_mono_ms - a.started_t_mono_ms ? b : a,
  );
  const mem = memoryReport(longest.stats, s.warmup_s);
  const retained = mem.retained_rss_growth_mb ?? mem.rss_growth_mb;
  const recoveries = external.map((e) => e.recovery_ms).filter((x): x is number => x !== null);
  const resumes = external.map((e) => e.resume_after_ready_ms ?? null).filter((x): x is number => x !== null);
  const stops = runs
    .filter((r) => r.exit_code !== 0)
    .map((r) => ({
      at_s: Math.round((r.ended_t_mono_ms - t0) / 1000),
      exit_code: r.exit_code,
      signal: r.signal,
      hung: r.hung,
      fault: r.summary?.fault ?? (r.summary as { error?: string } | undefined)?.error ?? null,
      stderr_tail: r.stderr_tail.slice(-5),
    }));
  const checks: Record<string, Check> = {
    no_unplanned_stop: check(
      stops.length === 0,
      stops.length,
      'the long run exits 0 once: every fault held and resumed',
    ),
    runtime_missed_ticks: check(
      t.missed.reported && t.missed.runtime === 0,
      t.missed.reported ? t.missed.runtime : 'not reported by vla-run',
      '0 missed ticks caused by the runtime (CPU contention and host stalls are listed apart)',
    ),
    stale_actions_executed: check(
      t.stale_actions_executed === 0 || s.policy === 'model',
      t.stale_actions_executed,
      '0 (tick-stamp policy; null with the model: not checked)',
    ),
    out_of_limit_commands: check(
      (robotSide.out_of_limits ?? 0) === 0 && (robotSide.over_step ?? 0) === 0,
      robotSide.out_of_limits === null ? null : robotSide.out_of_limits + (robotSide.over_step ?? 0),
      '0 commands outside the joint limits or above the max step, as the endpoint received them',
    ),
    memory_flat: check(
      retained === null || retained <= s.growth_mb,
      retained,
      `RSS growth of the longest run after ${s.warmup_s} s warm-up <= ${s.growth_mb} MB, sampled after a full GC ` +
        'of the main thread (retained; plain RSS growth is reported beside it) (null: too short to say)',
    ),
    fatal_faults_stop: check(
      fatal.every((f) => f.pass),
      fatal
        .filter((f) => !f.pass)
        .map((f) => f.kind)
        .join(',') || 'all',
      'a NaN chunk, a crashed worker, a wrong-robot chunk: exit 1 with the cause',
    ),
  };
  return {
    seconds: Math.round(runs.reduce((a, r) => a + r.ended_t_mono_ms - r.started_t_mono_ms, 0) / 1000),
    runs: runs.length,
    unplanned_stops: stops,
    ticks: t.ticks,
    underruns: t.underruns,
    overruns: t.overruns,
    missed_ticks: { ...t.missed, host_stall_episodes: t.host_stalls, runtime_examples: t.runtime_misses },
    stale_actions_executed: t.stale_actions_executed,
    holds: { ...t.holds, longest_driver_fault_ms: t.longest_driver_fault_ms },
    episode_ends: t.episode_ends,
    episode_faults: t.episode_faults,
    safety: { clamped_actions: t.clamped_actions, rejected_chunks: t.rejected_chunks },
    driver_faults: runs.map((r) => r.summary?.driver?.faults ?? null),
    robot_side: robotSide,
    memory: mem,
    faults: {
      hooks: runs.flatMap((r) => r.hooks_fired),
      external,
      recovery_ms: recoveries.length ? { max: Math.max(...recoveries), all: recoveries } : null,
      resume_after_ready_ms: resumes.length ? { max: Math.max(...resumes), all: resumes } : null,
      fatal,
    },
    checks,
    pass: Object.values(checks).every((c) => c.pass),
  };
}
