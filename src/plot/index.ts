// Plotting for every command: Vega-Lite specs to SVG and PNG, and HTML reports that embed them.
export { renderSvg, svgToPng, type PlotSpec } from './render.js';
export { htmlReport, escapeHtml, type ReportSection } from './report.js';
