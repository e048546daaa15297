// The loss curve of a training run: the loss of every optimiser step, the per-epoch training mean and the
// held-out validation loss, on a log scale (BC losses fall over orders of magnitude early, then creep).
// A Vega-Lite spec for the plotting module, which writes it as PNG and as an HTML page with a table.
import { htmlReport, type PlotSpec, renderSvg, svgToPng } from '../plot/index.js';
import type { EpochRecord } from './trainer.js';

const SERIES = { step: 'step loss', train: 'epoch mean (train)', val: 'validation (held-out episodes)' } as const;

export function lossCurveSpec(stepLosses: number[], history: EpochRecord[]): PlotSpec {
  const values = [
    ...stepLosses.map((loss, i) => ({ step: i + 1, loss, series: SERIES.step })),
    ...history
      .filter((h) => h.train_loss !== undefined)
      .map((h) => ({ step: h.step, loss: h.train_loss!, series: SERIES.train })),
    ...history
      .filter((h) => h.val_loss !== undefined)
      .map((h) => ({ step: h.step, loss: h.val_loss!, series: SERIES.val })),
  ].filter((v) => v.loss > 0);
  return {
    width: 680,
    height: 320,
    data: { values },
    mark: { type: 'line', point: false },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: `optimiser step (${stepLosses.length})` },
      y: { field: 'loss', type: 'quantitative', scale: { type: 'log' }, title: 'L1 loss (normalised, log scale)' },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        legend: { orient: 'top' },
        scale: { domain: Object.values(SERIES), range: ['#9ecae1', '#08519c', '#d94801'] },
      },
      strokeWidth: { condition: { test: `datum.series === '${SERIES.step}'`, value: 1 }, value: 2.5 },
    },
  };
}

export interface LossCurveFiles {
  png: Buffer;
  html: string;
}

export async function lossCurveFiles(
  title: string,
  stepLosses: number[],
  history: EpochRecord[],
  note: string,
): Promise<LossCurveFiles> {
  const spec = lossCurveSpec(stepLosses, history);
  const png = svgToPng(await renderSvg(spec), 2);
  const html = await htmlReport(title, note, [
    { heading: 'Loss', plot: spec },
    {
      heading: 'Per epoch',
      table: {
        columns: ['epoch', 'step', 'train', 'validation', 'elapsed (s)'],
        rows: history.map((h) => [
          h.epoch,
          h.step,
          h.train_loss?.toFixed(4) ?? '-',
          h.val_loss?.toFixed(4) ?? '-',
          h.elapsed_s.toFixed(0),
        ]),
      },
    },
  ]);
  return { png, html };
}
