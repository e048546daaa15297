// The loss curve of a training run as one self-contained HTML page (inline SVG, no scripts): the
// loss of every optimiser step, the per-epoch training mean and the held-out validation loss.
import type { EpochRecord } from './trainer.js';

export function lossCurveHtml(title: string, stepLosses: number[], history: EpochRecord[], note: string): string {
  const W = 760, H = 360, L = 60, R = 20, T = 20, B = 40;
  const steps = Math.max(1, stepLosses.length);
  const values = [...stepLosses, ...history.flatMap((h) => [h.train_loss, h.val_loss])].filter((v): v is number => v !== undefined && v > 0);
  // log scale: BC losses fall over orders of magnitude early and then creep
  const lo = Math.log10(Math.min(...values)), hi = Math.log10(Math.max(...values));
  const span = Math.max(hi - lo, 1e-6);
  const x = (step: number) => L + ((W - L - R) * step) / steps;
  const y = (v: number) => T + (H - T - B) * (1 - (Math.log10(v) - lo) / span);
  const line = (pts: [number, number][], color: string, width: number) =>
    `<polyline fill="none" stroke="${color}" stroke-width="${width}" points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`;
  const stepPts = stepLosses.map((v, i) => [x(i + 1), y(v)] as [number, number]);
  const trainPts = history.filter((h) => h.train_loss !== undefined).map((h) => [x(h.step), y(h.train_loss!)] as [number, number]);
  const valPts = history.filter((h) => h.val_loss !== undefined).map((h) => [x(h.step), y(h.val_loss!)] as [number, number]);
  const ticks: string[] = [];
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) < lo - 1e-9 || Math.log10(v) > hi + 1e-9) continue;
      ticks.push(`<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/><text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`);
    }
  }
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px sans-serif;margin:24px}svg text{font:11px sans-serif;fill:#444}</style></head>
<body><h2>${esc(title)}</h2><p>${esc(note)}</p>
<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg">
${ticks.join('\n')}
<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#888"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#888"/>
<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">optimiser step (${stepLosses.length})</text>
<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">L1 loss (normalised, log scale)</text>
${line(stepPts, '#9ecae1', 1)}
${line(trainPts, '#08519c', 2)}
${valPts.length ? line(valPts, '#d94801', 2) : ''}
</svg>
<p><span style="color:#9ecae1">&#9632;</span> step loss &nbsp; <span style="color:#08519c">&#9632;</span> epoch mean (train) &nbsp; <span style="color:#d94801">&#9632;</span> validation (held-out episodes)</p>
<table border="1" cellpadding="4" style="border-collapse:collapse"><tr><th>epoch</th><th>step</th><th>train</th><th>validation</th><th>elapsed (s)</th></tr>
${history.map((h) => `<tr><td>${h.epoch}</td><td>${h.step}</td><td>${h.train_loss?.toFixed(4) ?? '-'}</td><td>${h.val_loss?.toFixed(4) ?? '-'}</td><td>${h.elapsed_s.toFixed(0)}</td></tr>`).join('\n')}
</table></body></html>
`;
}
