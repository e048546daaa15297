// The fine-tuning dashboard, rebuilt from metrics.jsonl at every evaluation: success (training, last 50 episodes,
// each evaluation with its 95% interval, the selection's runs at the end on more seeds) against wall time and
// against environment ticks, the critic's loss and Q values, entropy and temperature, the residual's size per
// action dimension, the operator's intervention rate, and throughput. One HTML file with every plot, and
// success.png (the learning curve against both) for a quick look.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { htmlReport, type PlotSpec, renderSvg, svgToPng } from '../plot/index.js';
import type { SelectLine } from './checkpoint-selection.js';
import type { EvalLine, RoundLine } from './metric-lines.js';

type Row = Record<string, number | string>;

function successSpec(
  rounds: RoundLine[],
  evals: EvalLine[],
  selects: SelectLine[],
  x: 'wall_min' | 'env_ticks',
): PlotSpec {
  const title = x === 'wall_min' ? 'wall clock (min)' : 'environment ticks';
  const xOf = (l: { wall_s: number; env_ticks: number }) => (x === 'wall_min' ? l.wall_s / 60 : l.env_ticks);
  const train: Row[] = rounds.map((r) => ({
    x: xOf(r),
    success: r.train_success_last50,
    series: 'training (last 50)',
  }));
  const ev: Row[] = evals.map((e) => ({
    x: xOf(e),
    success: e.success,
    lo: e.ci95[0],
    hi: e.ci95[1],
    series: 'evaluation',
  }));
  // the selection's runs at the end, drawn at the time of the round they ran again
  for (const s of selects) {
    const at = evals.findLast((e) => e.round === s.round);
    if (at) ev.push({ x: xOf(at), success: s.success, lo: s.ci95[0], hi: s.ci95[1], series: 'selection' });
  }
  const enc = {
    // from zero: a warm start's minutes and episodes before round 0 are part of what the curve cost
    x: { field: 'x', type: 'quantitative', title, scale: { zero: true } },
    color: { field: 'series', type: 'nominal', title: null },
  };
  const y = { field: 'success', type: 'quantitative', title: 'success rate', scale: { domain: [0, 1] } };
  return {
    width: 640,
    height: 260,
    title: `Success vs ${title}`,
    layer: [
      { data: { values: train }, mark: 'line', encoding: { ...enc, y } },
      { data: { values: ev }, mark: { type: 'point', filled: true }, encoding: { ...enc, y } },
      {
        data: { values: ev },
        mark: 'rule',
        encoding: { ...enc, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
      },
    ],
  } as PlotSpec;
}

/** `share`: a y between 0 and 1, shown in percent (an axis of all zeros otherwise prints 0.000000). */
function seriesSpec(title: string, rows: Row[], yTitle: string, share = false): PlotSpec {
  const y = share ? { scale: { domain: [0, 1] }, axis: { format: '%' } } : {};
  return {
    width: 640,
    height: 200,
    title,
    data: { values: rows },
    mark: 'line',
    encoding: {
      // rounds are whole: no 1.5 on the axis of a short run
      x: { field: 'round', type: 'quantitative', title: 'round', axis: { format: 'd', tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: yTitle, ...y },
      color: { field: 'series', type: 'nominal', title: null },
    },
  } as PlotSpec;
}

function metricRows(rounds: RoundLine[], keys: (keyof NonNullable<RoundLine['metrics']>)[]): Row[] {
  return rounds.flatMap((r) =>
    r.metrics
      ? keys
          .filter((k) => Number.isFinite(r.metrics![k]))
          .map((k) => ({ round: r.round, value: r.metrics![k], series: k }))
      : [],
  );
}

/** Metrics lines from before --operator existed have no intervention rate: they show as none. */
function interventionRows(rounds: RoundLine[]): Row[] {
  return rounds.map((r) => ({ round: r.round, value: r.intervention_rate ?? 0, series: 'intervention rate' }));
}

export async function writeDashboard(
  dir: string,
  run: string,
  rounds: RoundLine[],
  evals: EvalLine[],
  names: readonly string[],
  selects: SelectLine[] = [],
) {
  const residual = rounds.flatMap((r) =>
    r.residual_abs_u.map((v, i) => ({ round: r.round, value: v, series: names[i] ?? `a${i}` })),
  );
  const rates = rounds.flatMap((r) => [
    { round: r.round, value: r.updates_per_s, series: 'updates/s' },
    { round: r.round, value: r.env_ticks_per_s / 100, series: 'env ticks/s / 100' },
  ]);
  const byWall = successSpec(rounds, evals, selects, 'wall_min');
  const byTicks = successSpec(rounds, evals, selects, 'env_ticks');
  const html = await htmlReport(
    `vla-finetune ${run}`,
    'Rebuilt from metrics.jsonl at every evaluation. Evaluations are deterministic, on held-out seeds.',
    [
      { heading: 'Success vs wall clock', plot: byWall },
      { heading: 'Success vs environment ticks', plot: byTicks },
      {
        heading: 'Critic',
        plot: seriesSpec('Critic loss and mean Q', metricRows(rounds, ['critic_loss', 'q_mean']), 'value'),
      },
      {
        heading: 'Actor',
        plot: seriesSpec(
          "Actor loss, entropy, temperature, imitation of the operator's takeovers",
          metricRows(rounds, ['actor_loss', 'entropy', 'temperature', 'bc_loss']),
          'value',
        ),
      },
      {
        heading: 'Gradients',
        plot: seriesSpec('Gradient norms', metricRows(rounds, ['critic_grad_norm', 'actor_grad_norm']), 'norm'),
      },
      {
        heading: 'Residual size',
        note: 'Mean |u| per action dimension (1 = at its bound).',
        plot: seriesSpec('Residual |u|', residual, '|u| (share of its bound)', true),
      },
      {
        heading: 'Interventions',
        note: "Share of each round's residual decisions in which the operator held the arm (--operator).",
        plot: seriesSpec('Intervention rate', interventionRows(rounds), 'share of decisions', true),
      },
      { heading: 'Throughput', plot: seriesSpec('Updates and environment ticks per second', rates, 'per second') },
    ],
  );
  await writeFile(join(dir, 'dashboard.html'), html);
  // the learning curve both ways, one above the other: what a report shows
  const both = { vconcat: [byWall, byTicks], resolve: { scale: { color: 'shared' } } } as PlotSpec;
  await writeFile(join(dir, 'success.png'), svgToPng(await renderSvg(both), 2));
}
