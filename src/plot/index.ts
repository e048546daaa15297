// Plotting for every command: Vega-Lite specs to SVG and PNG, and HTML reports that embed them.
export { type PlotSpec, renderSvg, svgToPng } from './render.js';
export { escapeHtml, htmlReport, type ReportSection } from './report.js';
