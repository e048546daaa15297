// One vla-run of the soak, as a user runs it: a real process with --duration, --stats-every and --json,
// its summary and its process statistics read back, its exit code kept. The fault hooks go in through the
// environment (VLA_INJECT_FAULTS), as the runtime reads them.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunSummary } from '../src/cli/run/summary.js';
import type { ProcessSample } from '../src/telemetry/process-stats.js';
import { monotonicMs } from '../src/util/clock.js';

const VLA_RUN = fileURLToPath(new URL('../../bin/vla-run.js', import.meta.url));

export interface SoakRunOptions {
  /** vla-run's flags, without --duration, --stats-*, --json (added here). */
  args: string[];
  duration_s: number;
  stats_every_s: number;
  /** VLA_INJECT_FAULTS for this run, if any. */
  faults?: string;
  /** Called once, when the run said it is setting up (its monotonic time). */
  onStart?: (t_mono_ms: number) => void;
}

export interface SoakRun {
  exit_code: number | null;
  signal: string | null;
  /** The run's --json summary (undefined if it printed none: a crash). */
  summary: RunSummary | undefined;
  stats: ProcessSample[];
  started_t_mono_ms: number;
  ended_t_mono_ms: number;
  stderr_tail: string[];
  /** It ran far past its --duration and was interrupted by the soak (Ctrl-C, then again, then SIGKILL). */
  hung: boolean;
  /** The runtime's fault hooks that fired (their stderr lines): kind, run tick, length. */
  hooks_fired: { kind: string; run_tick: number; ms: number | null }[];
}

const FIRED = /VLA_INJECT_FAULTS: (\S+) fired at run tick (\d+)(?: for (\d+) ms)?/;

let runs = 0;

export async function soakRun(o: SoakRunOptions): Promise<SoakRun> {
  const statsFile = join(tmpdir(), `vla-soak-${process.pid}-${runs++}.jsonl`);
  const args = [
    VLA_RUN,
    ...o.args,
    '--duration',
    String(o.duration_s),
    '--stats-every',
    String(o.stats_every_s),
    '--stats-file',
    statsFile,
    '--stats-gc',
    '--json',
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, VLA_LOG_LEVEL: 'warn' };
  delete env.VLA_INJECT_FAULTS;
  if (o.faults) env.VLA_INJECT_FAULTS = o.faults;
  const started_t_mono_ms = monotonicMs();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  o.onStart?.(started_t_mono_ms);
  let stdout = '';
  const tail: string[] = [];
  const hooks_fired: SoakRun['hooks_fired'] = [];
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n')) {
      const m = FIRED.exec(l);
      if (m) hooks_fired.push({ kind: m[1], run_tick: Number(m[2]), ms: m[3] ? Number(m[3]) : null });
      if (l.trim()) tail.push(l.slice(0, 400));
    }
    tail.splice(0, Math.max(0, tail.length - 20));
  });
  const exited = new Promise<[number | null, string | null]>((ok) => child.on('exit', (c, s) => ok([c, s])));
  let hung = false;
  const watchdog = setTimeout(() => {
    hung = true;
    void stopHung(child, exited);
  }, hangAfterMs(o.duration_s));
  const [exit_code, signal] = await exited;
  clearTimeout(watchdog);
  const ended_t_mono_ms = monotonicMs();
  const stats = await readStats(statsFile);
  await rm(statsFile, { force: true });
  return {
    exit_code,
    signal,
    summary: parseSummary(stdout),
    stats,
    started_t_mono_ms,
    ended_t_mono_ms,
    stderr_tail: tail,
    hung,
    hooks_fired,
  };
}

/** A run this much past its duration (set-up, episode resets, fault holds included) is not coming back. */
function hangAfterMs(duration_s: number): number {
  return (duration_s * 1.5 + 120) * 1000;
}

/** As a user would: Ctrl-C (hold, then the summary), twice more (exit with what is known), then SIGKILL. */
async function stopHung(child: ReturnType<typeof spawn>, exited: Promise<unknown>): Promise<void> {
  for (const signal of ['SIGINT', 'SIGINT', 'SIGINT', 'SIGKILL'] as const) {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  }
}

function parseSummary(stdout: string): RunSummary | undefined {
  try {
    return JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
  } catch {
    return undefined;
  }
}

async function readStats(file: string): Promise<ProcessSample[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const out: ProcessSample[] = [];
  for (const line of text.split('\n')) {
    try {
      if (line.trim()) out.push((JSON.parse(line) as { process_stats: ProcessSample }).process_stats);
    } catch {
      // a line cut by the end of the process: the others stand
    }
  }
  return out;
}
