// The report folder (--out): eval.html (every plot and table, self-contained), PNGs of the key plots, and
// eval.json (the same object --json prints).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { htmlReport, type PlotSpec, type ReportSection, renderSvg, svgToPng } from '../../plot/index.js';
import type { EvalResult } from './evaluate.js';
import { fanSpec, l1ByDimensionSpec, l1ByIndexSpec, worstEpisodesSpec } from './plots.js';

export interface ReportHeader {
  policy: string;
  robot: string;
  /** One line on how the evaluation was run (stride, delay, margin, blend). */
  settings: string;
}

export interface ReportFiles {
  html: string;
  json: string;
  png: string[];
}

export async function writeReport(
  out: string,
  r: EvalResult,
  names: readonly string[],
  header: ReportHeader,
  json: unknown,
): Promise<ReportFiles> {
  await mkdir(out, { recursive: true });
  const worst = r.fan[0];
  const pngs: [string, PlotSpec | undefined][] = [
    ['l1-by-index.png', l1ByIndexSpec(r, names)],
    ['l1-by-dimension.png', l1ByDimensionSpec(r)],
    ['fan-worst-episode.png', worst ? fanSpec(worst, names, fanTitle(worst, 'worst episode')) : undefined],
    ['worst-episodes.png', worstEpisodesSpec(r)],
  ];
  const png: string[] = [];
  for (const [name, spec] of pngs) {
    if (!spec) continue;
    const path = join(out, name);
    await writeFile(path, svgToPng(await renderSvg(spec), 2));
    png.push(path);
  }
  const html = join(out, 'eval.html');
  await writeFile(
    html,
    await htmlReport(`${header.policy} on ${header.robot}: open-loop evaluation`, intro(r, header), sections(r, names)),
  );
  const jsonPath = join(out, 'eval.json');
  const files: ReportFiles = { html, json: jsonPath, png };
  await writeFile(jsonPath, `${JSON.stringify({ ...(json as object), files }, null, 2)}\n`);
  return files;
}

function fanTitle(f: EvalResult['fan'][number], what: string): string {
  return (
    `${f.label} (${what}, mean L1 ${f.l1_mean.toFixed(4)}): recorded actions (black), predicted chunks ` +
    '(orange), inference points (red: the measured state the policy saw)'
  );
}

function intro(r: EvalResult, h: ReportHeader): string {
  const o = r.overall;
  return (
    `${o.episodes} episodes, ${o.ticks} recorded ticks, ${o.chunks} chunks compared with the recorded actions that ` +
    `followed (${h.settings}). L1 is in each action's units: rad for joints, 0 closed..1 open for grippers. An ` +
    'open-loop fit does not imply closed-loop success (errors compound once the robot follows the policy): check ' +
    'promising results in the sim (vla-run --sim) before the robot.'
  );
}

function sections(r: EvalResult, names: readonly string[]): ReportSection[] {
  const o = r.overall;
  const rec = r.recommendation;
  const f3 = (x: number) => x.toFixed(4);
  const list: ReportSection[] = [
    {
      heading: 'L1 by index inside the chunk',
      note:
        'One line per action dimension and the pooled mean (dashed); dashed orange: the threshold, green: the ' +
        `recommended horizon (${rec.horizon}); shaded: the indices the runtime's schedule executed.`,
      plot: l1ByIndexSpec(r, names),
    },
    {
      heading: 'Per index',
      table: {
        columns: ['index', 'mean', 'p95', 'max', ...names.map((n) => `${n} mean`)],
        rows: o.per_index.map((x) => [
          x.index,
          f3(x.l1_mean),
          f3(x.l1_p95),
          f3(x.l1_max),
          ...x.l1_mean_per_dimension.map(f3),
        ]),
      },
    },
    {
      heading: 'L1 per action dimension',
      note:
        'Open loop: every index of every chunk. Executed: only the actions the runtime would have run (the newest ' +
        'chunk at each tick after the delay). Seam: where a landing chunk replaced the old plan, |new - old|.',
      plot: l1ByDimensionSpec(r),
      table: {
        columns: [
          'dimension',
          'unit',
          'open mean',
          'open p95',
          'open max',
          'executed mean',
          'executed p95',
          'seam mean',
        ],
        rows: o.per_dimension.map((x, d) => [
          x.name,
          x.unit,
          f3(x.l1_mean),
          f3(x.l1_p95),
          f3(x.l1_max),
          f3(o.executed.per_dimension[d].l1_mean),
          f3(o.executed.per_dimension[d].l1_p95),
          f3(o.seams.overlap.per_dimension[d].l1_mean),
        ]),
      },
    },
    { heading: 'Recommended execution horizon', note: recommendationText(r).join(' ') },
  ];
  for (const [i, f] of r.fan.entries())
    list.push({
      heading: `Chunks over the recording: ${f.label}`,
      plot: fanSpec(f, names, fanTitle(f, `worst #${i + 1}`)),
    });
  list.push({
    heading: 'Episodes',
    plot: worstEpisodesSpec(r),
    table: {
      columns: ['episode', 'outcome', 'ticks', 'chunks', 'mean', 'p95', 'max', 'executed mean', 'seams'],
      rows: r.per_episode.map((e) => [
        e.label,
        e.outcome,
        e.ticks,
        e.chunks,
        f3(e.l1.mean),
        f3(e.l1.p95),
        f3(e.l1.max),
        f3(e.executed.l1.mean),
        e.seams.seams,
      ]),
    },
  });
  if (r.skipped.length)
    list.push({
      heading: 'Skipped',
      table: { columns: ['episode', 'reason'], rows: r.skipped.map((s) => [s.episode, s.reason]) },
    });
  return list;
}

/** The recommendation in words, one sentence per element (also printed by the CLI). */
export function recommendationText(r: EvalResult): string[] {
  const rec = r.recommendation;
  const limits = [...new Set(Object.values(rec.max_l1))].join(' / ');
  const out = [
    rec.horizon === 0
      ? `Even index 1 exceeds the threshold (${limits}) in ${rec.limited_by}: no horizon is recommended.`
      : `Execute at most ${rec.horizon} actions of each chunk: every dimension's mean L1 stays <= ${limits} up ` +
        `to index ${rec.horizon}${rec.limited_by ? ` (${rec.limited_by} exceeds it at ${rec.horizon + 1})` : ''}.`,
  ];
  if (rec.max_delay_ticks !== null)
    out.push(
      `The runtime keeps to it with --margin ${rec.margin_ticks} (or more) for latencies up to ` +
        `${rec.max_delay_ticks} ticks (--delay ${rec.max_delay_ticks}, ${rec.max_delay_ms} ms).`,
    );
  const e = rec.evaluated_schedule;
  out.push(
    `The evaluated schedule (--delay ${e.delay_ticks}, --margin ${e.margin_ticks}) executes indices ` +
      `${e.first_index}..${e.last_index}${e.underruns ? ` with ${e.underruns} underruns` : ''}: ` +
      `${e.within_horizon ? 'within' : 'past'} the horizon.`,
  );
  return out;
}
