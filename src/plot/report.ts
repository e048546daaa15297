// A self-contained HTML report: headings, short notes, plots embedded as inline SVG, and tables; no
// scripts and no files beside it, so it opens anywhere and can be attached to an issue as it is.
import { type PlotSpec, renderSvg } from './render.js';

export interface ReportSection {
  heading: string;
  /** A plain-text note under the heading. */
  note?: string;
  plot?: PlotSpec;
  table?: { columns: string[]; rows: (string | number)[][] };
}

export async function htmlReport(title: string, intro: string, sections: ReportSection[]): Promise<string> {
  const parts: string[] = [];
  for (const s of sections) {
    parts.push(`<h3>${escapeHtml(s.heading)}</h3>`);
    if (s.note) parts.push(`<p>${escapeHtml(s.note)}</p>`);
    if (s.plot) parts.push(await renderSvg(s.plot));
    if (s.table) parts.push(tableHtml(s.table.columns, s.table.rows));
  }
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:14px 'DejaVu Sans',sans-serif;margin:24px;max-width:1000px}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head>
<body><h2>${escapeHtml(title)}</h2><p>${escapeHtml(intro)}</p>
${parts.join('\n')}
</body></html>
`;
}

function tableHtml(columns: string[], rows: (string | number)[][]): string {
  const head = `<tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(String(v))}</td>`).join('')}</tr>`).join('\n');
  return `<table>${head}\n${body}</table>`;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
