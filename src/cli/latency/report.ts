// What vla-latency prints and writes: the readable report, and the latency histograms (PNG and an HTML page
// with the tables) with the tolerated latency marked.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Budget, fmt, type Quantiles } from '../../latency/budget.js';
import { htmlReport, type PlotSpec, renderSvg, svgToPng } from '../../plot/index.js';
import type { SimulateResult } from './simulate.js';

export interface LatencyReport {
  robot: string;
  policy: { spec: string; name: string; kind: string; horizon: number; action_offset: number; cameras: string[] };
  hz: number;
  max_in_flight: number;
  calls: number;
  warmup_ms: number;
  stages: Record<string, Quantiles>;
  request_bytes?: number;
  budget: Budget;
  simulation?: SimulateResult;
  files?: { png: string; html: string };
  exit_code: number;
}

const q = (s: Quantiles) => `p50 ${fmt(s.p50)} / p90 ${fmt(s.p90)} / p99 ${fmt(s.p99)} / max ${fmt(s.max)} ms`;

export function formatReport(r: LatencyReport): string {
  const b = r.budget;
  const p = r.policy;
  const width = Math.max(...Object.keys(r.stages).map((k) => k.length), 9);
  const lines = [
    `${r.robot}, policy ${p.name} (${p.kind}, H ${p.horizon}, offset ${p.action_offset}, cameras ` +
      `${p.cameras.join(', ') || 'none'}), ${r.hz} Hz, ${r.max_in_flight} in flight`,
    `  first call ${fmt(r.warmup_ms)} ms (warm-up, apart)`,
    `  ${r.calls} calls${r.request_bytes ? `, ${r.request_bytes} bytes per request` : ''}`,
    ...Object.entries(r.stages).map(([k, s]) => `    ${k.padEnd(width)}  ${q(s)}`),
    `  chunk      H x dt = ${p.horizon} x ${fmt(b.dt_ms)} = ${fmt(b.chunk_ms)} ms; safety factor ` +
      `${fmt(b.safety_factor)} (chunk time / p99 latency, needs > 1)`,
    `  runtime    delay d = ${ticks(b.delay_ticks)} (p90), trigger at ${b.trigger_ticks} actions left ` +
      `(d + margin ${b.margin}), ~${b.dropped_prefix} stale actions dropped per chunk`,
    `  tolerated  ${fmt(b.tolerated_ms)} ms (${ticks(b.tolerated_ticks)}) with 0 underruns at ${r.max_in_flight} in ` +
      'flight: d < (N (H + offset - 1) - (N - 1) margin) / (N + 1)',
  ];
  const s = r.simulation;
  if (s) {
    lines.push(
      s.error
        ? `  simulated  failed: ${s.error}`
        : `  simulated  ${s.episodes} episodes, ${s.successes} succeeded, ${s.underruns} underruns in ${s.ticks} ` +
            `ticks, ${s.dropped_per_chunk ?? '-'} stale actions dropped per chunk`,
      `             ${s.command.length > 100 ? `${s.command.slice(0, 97)}...` : s.command}`,
    );
  }
  if (r.files) lines.push(`  plots      ${r.files.png}`, `             ${r.files.html}`);
  lines.push(`${b.verdict.toUpperCase()}: ${b.reason}`);
  return `${lines.join('\n')}\n`;
}

export function histogramSpec(samples: Record<string, readonly number[]>, tolerated_ms: number): PlotSpec {
  const values = Object.entries(samples).flatMap(([stage, xs]) => xs.map((ms) => ({ stage, ms, tolerated_ms })));
  return {
    data: { values },
    facet: { row: { field: 'stage', type: 'nominal', title: null, sort: Object.keys(samples) } },
    spec: {
      width: 640,
      height: 110,
      layer: [
        {
          transform: [
            { bin: { maxbins: 40 }, field: 'ms', as: ['ms0', 'ms1'] },
            { aggregate: [{ op: 'count', as: 'calls' }], groupby: ['ms0', 'ms1'] },
          ],
          mark: { type: 'rect', color: '#3182bd' },
          encoding: {
            x: { field: 'ms0', type: 'quantitative', title: 'latency (ms); dashed: tolerated' },
            x2: { field: 'ms1' },
            y: { field: 'calls', type: 'quantitative', title: 'calls' },
            y2: { datum: 0 },
          },
        },
        {
          transform: [{ filter: "datum.stage === 'total'" }],
          mark: { type: 'rule', color: '#d94801', strokeWidth: 2, strokeDash: [6, 3] },
          encoding: { x: { aggregate: 'max', field: 'tolerated_ms', type: 'quantitative' } },
        },
      ],
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
  } as PlotSpec;
}

/** Writes <out>/<name>-latency.png and .html; returns their paths. */
export async function writePlots(
  out: string,
  r: LatencyReport,
  samples: Record<string, readonly number[]>,
): Promise<{ png: string; html: string }> {
  const spec = histogramSpec(samples, r.budget.tolerated_ms);
  await mkdir(out, { recursive: true });
  const base = join(out, `${r.policy.name}-latency`);
  const files = { png: `${base}.png`, html: `${base}.html` };
  await writeFile(files.png, svgToPng(await renderSvg(spec), 2));
  const rows = Object.entries(r.stages).map(([k, s]) => [k, s.p50, s.p90, s.p99, s.max]);
  const html = await htmlReport(
    `${r.policy.name} on ${r.robot}: inference latency`,
    `${r.calls} calls after a ${fmt(r.warmup_ms)} ms warm-up; dashed line (total): the ${fmt(r.budget.tolerated_ms)} ` +
      `ms tolerated with ${r.max_in_flight} in flight. ${r.budget.verdict.toUpperCase()}: ${r.budget.reason}`,
    [
      { heading: 'Latency per stage', plot: spec },
      { heading: 'Quantiles (ms)', table: { columns: ['stage', 'p50', 'p90', 'p99', 'max'], rows } },
    ],
  );
  await writeFile(files.html, html);
  return files;
}

function ticks(n: number): string {
  return `${n} tick${n === 1 ? '' : 's'}`;
}
