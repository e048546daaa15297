// The Vega-Lite specs of the evaluation report (rendered by src/plot): L1 against the index inside the chunk,
// one line per dimension; L1 per dimension, open loop vs executed vs seams; predicted chunks fanned over the
// recorded actions of one episode, inference points marked; the worst episodes.
import type { PlotSpec } from '../../plot/index.js';
import type { EvalResult } from './evaluate.js';
import type { FanEpisode } from './summary.js';

export function l1ByIndexSpec(r: EvalResult, names: readonly string[]): PlotSpec {
  const values = r.overall.per_index.flatMap((x) =>
    x.l1_mean_per_dimension.map((l1, d) => ({ index: x.index, dimension: names[d], l1 })),
  );
  const pooled = r.overall.per_index.map((x) => ({ index: x.index, l1: x.l1_mean }));
  const rec = r.recommendation;
  const thresholds = [...new Set(Object.values(rec.max_l1))];
  const ex = r.overall.executed;
  return {
    width: 640,
    height: 320,
    title: `mean L1 by index inside the chunk, ${r.overall.chunks} chunks (dashed black: all dimensions pooled)`,
    layer: [
      {
        data: { values: ex.index_last > 0 ? [{ from: ex.index_first - 0.5, to: ex.index_last + 0.5 }] : [] },
        mark: { type: 'rect', color: '#deebf7', opacity: 0.6 },
        encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' } },
      },
      {
        data: { values },
        mark: { type: 'line', point: { size: 12 } },
        encoding: {
          x: { field: 'index', type: 'quantitative', title: 'index in chunk (shaded: executed by the schedule)' },
          y: { field: 'l1', type: 'quantitative', title: 'mean L1 (rad; gripper 0..1)' },
          color: { field: 'dimension', type: 'nominal', sort: [...names], legend: { labelLimit: 300 } },
        },
      },
      {
        data: { values: pooled },
        mark: { type: 'line', color: 'black', strokeDash: [6, 3] },
        encoding: { x: { field: 'index', type: 'quantitative' }, y: { field: 'l1', type: 'quantitative' } },
      },
      {
        data: { values: thresholds.map((y) => ({ y })) },
        mark: { type: 'rule', color: '#d94801', strokeDash: [4, 4] },
        encoding: { y: { field: 'y', type: 'quantitative' } },
      },
      {
        data: { values: rec.horizon > 0 ? [{ x: rec.horizon }] : [] },
        mark: { type: 'rule', color: '#238b45', strokeWidth: 2 },
        encoding: { x: { field: 'x', type: 'quantitative' } },
      },
    ],
  } as PlotSpec;
}

export function l1ByDimensionSpec(r: EvalResult): PlotSpec {
  const o = r.overall;
  const kinds: [string, typeof o.per_dimension][] = [
    ['open loop, every index', o.per_dimension],
    ['executed (schedule)', o.executed.per_dimension],
    ['seam: new vs old plan', o.seams.overlap.per_dimension],
  ];
  const values = kinds.flatMap(([kind, rows]) =>
    rows.map((x) => ({ dimension: x.name, kind, l1_mean: x.l1_mean, l1_p95: x.l1_p95 })),
  );
  const x = {
    field: 'dimension',
    type: 'nominal',
    sort: o.per_dimension.map((d) => d.name),
    title: null,
    axis: { labelAngle: -30 },
  };
  const xOffset = { field: 'kind', type: 'nominal', sort: kinds.map((k) => k[0]) };
  return {
    width: 640,
    height: 280,
    title: 'L1 per action dimension: bars mean, ticks p95',
    data: { values },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x,
          xOffset,
          y: { field: 'l1_mean', type: 'quantitative', title: 'L1 (rad; gripper 0..1)' },
          color: {
            field: 'kind',
            type: 'nominal',
            sort: kinds.map((k) => k[0]),
            title: null,
            legend: { labelLimit: 300 },
          },
        },
      },
      {
        mark: { type: 'tick', color: 'black', thickness: 2 },
        encoding: { x, xOffset, y: { field: 'l1_p95', type: 'quantitative' } },
      },
    ],
  } as PlotSpec;
}

/** Predicted chunks of one episode over its recorded actions, one panel per dimension. */
export function fanSpec(f: FanEpisode, names: readonly string[], title: string): PlotSpec {
  const D = names.length;
  // one data set for the facet to split: a faceted layer cannot bring data of its own
  const values: Record<string, unknown>[] = [];
  for (let r = 0; r < f.action_ticks.length; r++)
    for (let d = 0; d < D; d++)
      values.push({ series: 'recorded', dimension: names[d], tick: f.action_ticks[r], value: f.actions[r * D + d] });
  for (const c of f.chunks) {
    const H = c.actions.length / D;
    for (let d = 0; d < D; d++) {
      values.push({ series: 'inference', dimension: names[d], tick: c.obs_tick, value: c.state[d] });
      for (let i = 0; i < H; i++) {
        const value = c.actions[i * D + d];
        values.push({ series: 'predicted', dimension: names[d], chunk: c.obs_tick, tick: c.first_tick + i, value });
      }
    }
  }
  const x = { field: 'tick', type: 'quantitative', title: 'tick' };
  const y = { field: 'value', type: 'quantitative', title: 'rad; gripper 0..1', scale: { zero: false } };
  const only = (series: string) => [{ filter: `datum.series === '${series}'` }];
  return {
    title,
    data: { values },
    facet: { row: { field: 'dimension', type: 'nominal', sort: [...names], title: null } },
    spec: {
      width: 640,
      height: 90,
      layer: [
        { transform: only('recorded'), mark: { type: 'line', color: 'black', strokeWidth: 1.5 }, encoding: { x, y } },
        {
          transform: only('predicted'),
          mark: { type: 'line', color: '#e6550d', strokeWidth: 1, opacity: 0.7 },
          encoding: { x, y, detail: { field: 'chunk', type: 'quantitative' } },
        },
        {
          transform: only('inference'),
          mark: { type: 'point', color: '#cb181d', size: 14, filled: true },
          encoding: { x, y },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as PlotSpec;
}

export function worstEpisodesSpec(r: EvalResult): PlotSpec {
  const values = [...r.per_episode]
    .filter((e) => e.chunks > 0)
    .sort((a, b) => b.l1.mean - a.l1.mean)
    .slice(0, 15)
    .map((e) => ({ episode: e.label, l1_mean: e.l1.mean, outcome: e.outcome }));
  return {
    width: 560,
    height: { step: 16 },
    title: 'worst episodes: mean open-loop L1 (all indices and dimensions)',
    data: { values },
    mark: 'bar',
    encoding: {
      y: { field: 'episode', type: 'nominal', sort: '-x', title: null, axis: { labelLimit: 400 } },
      x: { field: 'l1_mean', type: 'quantitative', title: 'mean L1 (rad; gripper 0..1)' },
      color: { field: 'outcome', type: 'nominal' },
    },
  } as PlotSpec;
}
