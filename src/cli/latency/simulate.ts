// --simulate N: the verdict checked on the virtual clock. vla-run runs N episodes of the robot's default task
// in the embedded sim with the same policy, rate, margin and requests in flight, each inference charged a
// latency drawn from the measured samples (--latency-model samples:...), and its JSON summary is read back.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface SimulateArgs {
  robot: string;
  policy: string;
  hz: number;
  margin: number;
  max_in_flight: number;
  episodes: number;
  samples_ms: readonly number[];
}

export interface SimulateResult {
  /** The command that repeats it (bit for bit: the virtual clock with a given latency model). */
  command: string;
  episodes: number;
  successes: number;
  success_rate: number | null;
  ticks: number;
  underruns: number;
  underrun_ticks: number;
  /** Stale actions dropped per chunk, measured. */
  dropped_per_chunk: number | null;
  error?: string;
}

/** The parts of vla-run's JSON summary read here. */
interface RunSummary {
  error?: string;
  episodes: number;
  successes: number;
  success_rate: number | null;
  control: { ticks: number; underruns: number };
  holds?: { underrun_ticks: number };
  buffer?: { chunks: number; dropped_prefix_actions: number };
  fault?: string | null;
}

const VLA_RUN = fileURLToPath(new URL('../vla-run.js', import.meta.url));

export function simulateArgs(a: SimulateArgs): string[] {
  const samples = `samples:${a.samples_ms.map((x) => Math.round(x * 100) / 100).join(',')}`;
  return [
    ...['--robot', a.robot, '--sim', '--clock', 'fast', '--policy', a.policy, '--episodes', String(a.episodes)],
    ...['--hz', String(a.hz), '--margin', String(a.margin), '--max-in-flight', String(a.max_in_flight)],
    ...['--latency-model', samples, '--json'],
  ];
}

export async function simulate(a: SimulateArgs): Promise<SimulateResult> {
  const args = simulateArgs(a);
  const command = `vla-run ${args.map((x) => (/^[\w./:,=@-]+$/.test(x) ? x : `'${x}'`)).join(' ')}`;
  const stdout = await new Promise<string>((resolve) => {
    execFile(process.execPath, [VLA_RUN, ...args], { maxBuffer: 64 << 20 }, (_err, out) => resolve(out ?? ''));
  });
  const empty = { command, episodes: a.episodes, successes: 0, success_rate: null, ticks: 0 };
  let s: RunSummary;
  try {
    s = JSON.parse(stdout.trim().split('\n').pop() ?? '') as RunSummary;
  } catch {
    return { ...empty, underruns: 0, underrun_ticks: 0, dropped_per_chunk: null, error: 'vla-run printed no summary' };
  }
  if (s.error) return { ...empty, underruns: 0, underrun_ticks: 0, dropped_per_chunk: null, error: String(s.error) };
  const chunks = s.buffer?.chunks ?? 0;
  return {
    command,
    episodes: s.episodes,
    successes: s.successes,
    success_rate: s.success_rate,
    ticks: s.control.ticks,
    underruns: s.control.underruns,
    underrun_ticks: s.holds?.underrun_ticks ?? 0,
    dropped_per_chunk: chunks ? Math.round((100 * (s.buffer?.dropped_prefix_actions ?? 0)) / chunks) / 100 : null,
    ...(s.fault ? { error: `the run stopped: ${s.fault}` } : {}),
  };
}
