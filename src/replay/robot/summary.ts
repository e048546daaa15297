// What vla-replay robot prints when it ends, however it ends: one object (--json) or a few lines for people.
import type { RuntimeReport } from '../../runtime/runtime-types.js';
import type { RobotReplayReport } from './robot-replay.js';

export interface RobotReplaySummary extends RobotReplayReport {
  robot: string;
  file: string;
  /** ur (rosbridge URL) or aloha (serial ports). */
  driver: { kind: string; url?: string; ports?: Record<string, string> };
  /** How the episode ended: completed, interrupted (Ctrl-C), fault, or failure (the plan did not finish). */
  end: string;
  fault: string | null;
  control: { hz: number; ticks: number; underruns: number; overruns: number };
  safety: { clamped_actions: number };
  interrupted: string | null;
  warnings: string[];
}

export function buildRobotSummary(
  head: Pick<RobotReplaySummary, 'robot' | 'file' | 'driver' | 'warnings'>,
  replay: RobotReplayReport,
  end: { end: string; fault?: string } | undefined,
  report: RuntimeReport,
  interrupted: string | undefined,
): RobotReplaySummary {
  return {
    ...head,
    ...replay,
    end: interrupted ? 'interrupted' : replay.completed ? 'completed' : (end?.end ?? 'not started'),
    fault: end?.fault ?? null,
    control: {
      hz: report.hz,
      ticks: report.control.ticks,
      underruns: report.control.underruns,
      overruns: report.overruns,
    },
    safety: { clamped_actions: report.safety.clamped_actions },
    interrupted: interrupted ?? null,
  };
}

export function formatRobotSummary(s: RobotReplaySummary): string {
  const where =
    s.driver.url ??
    Object.entries(s.driver.ports ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  const lines = [`vla-replay robot: ${s.file} on the ${s.robot} at ${where}: ${s.end}`];
  const e = s.ease;
  if (e) {
    lines.push(
      `  ease-in    ${e.distance_rad.toFixed(3)} rad in ${e.seconds.toFixed(2)} s, commanded up to ` +
        `${e.max_speed_rad_s.toFixed(3)} rad/s (limit ${e.limit_rad_s}; measured up to ` +
        `${e.max_measured_speed_rad_s.toFixed(3)}), then ${s.settle_s} s at the first pose`,
    );
  }
  lines.push(
    `  recording  ${s.played_ticks} of ${s.recorded_ticks} ticks played; the robot followed it within ` +
      `${s.tracking.max_abs_rad.toFixed(4)} rad (largest joint difference from the recorded state)`,
    `  control    ${s.control.ticks} ticks at ${s.control.hz} Hz, ${s.control.underruns} underruns, ` +
      `${s.control.overruns} overruns, ${s.held_ticks} held, ${s.safety.clamped_actions} clamped by safety`,
  );
  for (const w of s.warnings) lines.push(`  warning    ${w}`);
  if (s.fault) lines.push(`  fault      ${s.fault}`);
  if (s.interrupted) lines.push(`interrupted (${s.interrupted}): the robot holds where it stopped`);
  return `${lines.join('\n')}\n`;
}
