// The readable summary vla-replay eval prints (without --json).
import type { EvalResult } from './evaluate.js';
import { recommendationText } from './report-files.js';

export interface SummaryHeader {
  policy: string;
  robot: string;
  control_hz: number;
  stride: number;
  margin_ticks: number;
  blend: string;
}

const f4 = (x: number): string => x.toFixed(4);
const cols = (xs: number[]): string => xs.map((v) => f4(v).padStart(8)).join(' ');

export function formatSummary(r: EvalResult, h: SummaryHeader, files?: { html: string; png: string[] }): string {
  const o = r.overall;
  const q = r.inference.round_trip_ms;
  const ex = o.executed;
  const hs = r.recommendation.horizon_by_max_l1;
  const w = Math.max(6, ...o.per_dimension.map((x) => x.name.length));
  const every = h.stride === 1 ? 'every tick' : `every ${h.stride}th tick`;
  const lines = [
    `${h.policy} on ${o.episodes} episodes of ${h.robot} at ${h.control_hz} Hz, ${every} (stride ${h.stride})`,
    `  evaluated  ${o.chunks} chunks from ${o.ticks} ticks; ${r.inference.calls} policy calls ` +
      `(${r.inference.schedule_calls} for the schedule), round trip p50 ${q.p50} / p90 ${q.p90} / max ${q.max} ms`,
    `  schedule   delay ${r.delay_ticks} tick${r.delay_ticks === 1 ? '' : 's'} (${r.delay_source}), margin ` +
      `${h.margin_ticks}, blend ${h.blend}: executed indices ${ex.index_first}..${ex.index_last} on ${ex.ticks} ` +
      `ticks, ${ex.underruns} underruns, ${o.seams.seams} seams`,
    `  ${'L1 per dimension'.padEnd(w + 2)} unit       mean      p95      max executed     seam`,
    ...o.per_dimension.map((x, d) => {
      const e = ex.per_dimension[d].l1_mean;
      const s = o.seams.overlap.per_dimension[d].l1_mean;
      const unit = x.unit === 'rad' ? 'rad' : '0..1';
      return `    ${x.name.padEnd(w)} ${unit.padEnd(5)} ${cols([x.l1_mean, x.l1_p95, x.l1_max, e, s])}`;
    }),
    `    ${'pooled'.padEnd(w)} mixed ${cols([o.l1.mean, o.l1.p95, o.l1.max, ex.l1.mean, o.seams.overlap.l1.mean])}`,
    '  L1 by index in the chunk (mean over dimensions, mixed units; p95 below)',
    ...indexRows(r),
    ...recommendationText(r).map((line, i) => `  ${i === 0 ? 'horizon   ' : '          '} ${line}`),
    `             at --max-l1 ${Object.keys(hs).join(' / ')}: ${Object.values(hs).join(' / ')}`,
  ];
  if (r.worst_episodes.length)
    lines.push(
      `  worst      ${r.worst_episodes
        .slice(0, 5)
        .map((e) => `${e.label} ${f4(e.l1_mean)}`)
        .join(', ')}`,
    );
  for (const s of r.skipped) lines.push(`  skipped    ${s.episode}: ${s.reason}`);
  if (files) lines.push(`  report     ${files.html}`, ...files.png.map((p) => `             ${p}`));
  return `${lines.join('\n')}\n`;
}

function indexRows(r: EvalResult): string[] {
  const rows: string[] = [];
  const idx = r.overall.per_index;
  for (let i = 0; i < idx.length; i += 5) {
    const part = idx.slice(i, i + 5);
    const label = `${part[0].index}-${part[part.length - 1].index}`.padEnd(7);
    rows.push(`    ${label} ${cols(part.map((x) => x.l1_mean))}`);
    rows.push(`    ${'p95'.padEnd(7)} ${cols(part.map((x) => x.l1_p95))}`);
  }
  return rows;
}
