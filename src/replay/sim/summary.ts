// What vla-replay sim prints: one object (--json) or a few lines for people, from the replays that ran and the
// files that could not be replayed.

import type { EpisodeReplay } from './replay-episode.js';
import type { ReplayFiles } from './report.js';

export interface SkippedEpisode {
  file: string;
  error: string;
}

export interface SimReplaySummary {
  mode: 'recorded' | 'policy';
  /** recorded-actions, or the policy run closed loop. */
  policy: string;
  threshold: number;
  workers: number;
  /** Episodes replayed (skipped ones apart). */
  episodes: number;
  skipped: SkippedEpisode[];
  /** Largest joint divergence over all episodes (rad); null when none ran. */
  max_divergence_rad: number | null;
  episodes_over_threshold: number;
  /** Recorded-actions replay: commands sent that differ from the recorded ones, over all episodes. */
  commands_differing: number | null;
  recorded_successes: number;
  replay_successes: number;
  /** Replays stopped by a fault (a rejected chunk, a failed inference). */
  replay_faults: number;
  /** --fail-above: the divergence that fails the check (exit 1), and whether it did. */
  fail_above_rad: number | null;
  failed_check: boolean;
  report: ReplayFiles | null;
  interrupted: string | null;
  /** Replays that failed (not bad input): the file and why; the run exits 1. */
  failures: string[];
  episodes_detail: Omit<EpisodeReplay, 'trajectories'>[];
}

export function buildSimSummary(
  head: Pick<SimReplaySummary, 'mode' | 'policy' | 'threshold' | 'workers' | 'fail_above_rad'>,
  results: EpisodeReplay[],
  skipped: SkippedEpisode[],
  report: ReplayFiles | null,
  interrupted: string | undefined,
  failures: string[],
): SimReplaySummary {
  const max = results.length ? Math.max(...results.map((r) => r.divergence.max_abs_rad)) : null;
  return {
    ...head,
    episodes: results.length,
    skipped,
    max_divergence_rad: max,
    episodes_over_threshold: results.filter((r) => r.divergence.first_tick_over !== null).length,
    commands_differing: head.mode === 'recorded' ? results.reduce((a, r) => a + (r.commands?.differing ?? 0), 0) : null,
    recorded_successes: results.filter((r) => r.recorded.outcome === 'success').length,
    replay_successes: results.filter((r) => r.replay.end === 'success').length,
    replay_faults: results.filter((r) => r.replay.end === 'fault').length,
    failed_check: head.fail_above_rad !== null && max !== null && max > head.fail_above_rad,
    report,
    interrupted: interrupted ?? null,
    failures,
    episodes_detail: results.map(({ trajectories: _, ...rest }) => rest),
  };
}

const sec = (s: number | null) => (s === null ? '' : ` ${s.toFixed(2)} s`);

export function formatSimSummary(s: SimReplaySummary, labels: Map<string, string>): string {
  const how =
    s.mode === 'recorded'
      ? 'recorded commands, open loop through the runtime'
      : `policy ${s.policy}, closed loop from the recorded start`;
  const lines = [
    `vla-replay sim: ${s.episodes} episode(s), ${how} (${s.workers} worker${s.workers > 1 ? 's' : ''}), threshold ` +
      `${s.threshold}`,
  ];
  for (const r of s.episodes_detail) {
    const d = r.divergence;
    const over =
      d.first_tick_over === null
        ? `none over ${d.threshold}`
        : `${d.first_over} over ${d.threshold} first at tick ${d.first_tick_over} ` +
          `(${d.first_time_over_s?.toFixed(2)} s)`;
    const cmd = r.commands ? ` | commands ${r.commands.differing}/${r.commands.compared} differ` : '';
    lines.push(
      `  ${labels.get(r.file) ?? r.file}  recorded ${r.recorded.outcome}${sec(r.recorded.success_time_s)} | replay ` +
        `${r.replay.end}${sec(r.replay.success_time_s)} | max ${fmt(d.max_abs_rad)} rad, gripper ` +
        `${fmt(d.max_abs_gripper)} | ${over}${cmd}`,
    );
    for (const w of r.warnings) lines.push(`    warning: ${w}`);
    if (r.replay.fault) lines.push(`    fault: ${r.replay.fault}`);
  }
  if (s.episodes > 0) {
    lines.push(
      `  max divergence ${fmt(s.max_divergence_rad ?? 0)} rad over ${s.episodes} episode(s); ` +
        `${s.episodes_over_threshold} over the threshold` +
        (s.mode === 'policy' ? `; successes recorded ${s.recorded_successes}, replay ${s.replay_successes}` : ''),
    );
  }
  for (const k of s.skipped) lines.push(`  skipped ${k.error}`);
  for (const f of s.failures) lines.push(`  FAILED  ${f}`);
  if (s.report) lines.push(`  report   ${s.report.html} (+${s.report.png.length} PNG)`);
  if (s.failed_check)
    lines.push(`FAILED: divergence ${fmt(s.max_divergence_rad ?? 0)} rad > --fail-above ${s.fail_above_rad}`);
  if (s.interrupted) lines.push(`interrupted (${s.interrupted}): ${s.episodes} episode(s) replayed before it`);
  return `${lines.join('\n')}\n`;
}

export function fmt(x: number): string {
  if (x === 0) return '0';
  return x < 1e-3 ? x.toExponential(1) : x.toFixed(4);
}
