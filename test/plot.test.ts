// The plotting module: Vega-Lite to SVG and PNG with a shipped font, and HTML reports embedding the SVG.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import { htmlReport, type PlotSpec, renderSvg, svgToPng } from '../src/plot/index.js';

const SPEC: PlotSpec = {
  width: 200,
  height: 100,
  data: {
    values: [
      { x: 1, y: 2 },
      { x: 2, y: 1 },
      { x: 3, y: 3 },
    ],
  },
  mark: 'line',
  encoding: {
    x: { field: 'x', type: 'quantitative', title: 'tick' },
    y: { field: 'y', type: 'quantitative', title: 'error_rad' },
  },
};

/** Pixels that are not white in a region of a decoded PNG. */
function inkIn(png: PNG, x0: number, y0: number, x1: number, y1: number): number {
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * png.width + x) * 4;
      if (png.data[i] < 200 || png.data[i + 1] < 200 || png.data[i + 2] < 200) n++;
    }
  }
  return n;
}

test('plot: a Vega-Lite spec becomes SVG with its axis titles as text', async () => {
  const svg = await renderSvg(SPEC);
  assert.match(svg, /^<svg/);
  assert.match(svg, />tick</);
  assert.match(svg, />error_rad</);
  assert.match(svg, /DejaVu Sans/, 'text uses the shipped font');
});

test('plot: PNG text is drawn with the shipped font, also where the machine has no fonts', () => {
  // text only: without a font resvg would leave this image blank
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="4" y="28" font-size="24" ' +
    'font-family="DejaVu Sans">Label</text></svg>';
  const png = PNG.sync.read(svgToPng(svg));
  assert.equal(png.width, 120);
  assert.ok(inkIn(png, 0, 0, 120, 40) > 100, 'the label was drawn');
  const twice = PNG.sync.read(svgToPng(svg, 2));
  assert.equal(twice.width, 240, 'scale 2 doubles the size');
});

test('plot: an HTML report embeds the plots as inline SVG and escapes text', async () => {
  const html = await htmlReport('L1 <by> index', 'a & b', [
    { heading: 'curve', plot: SPEC },
    { heading: 'table', table: { columns: ['joint', 'l1_rad'], rows: [['wrist_1', 0.01]] } },
  ]);
  assert.match(html, /<title>L1 &lt;by&gt; index<\/title>/);
  assert.match(html, /<p>a &amp; b<\/p>/);
  assert.match(html, /<svg[\s\S]*>tick<[\s\S]*<\/svg>/);
  assert.match(html, /<td>wrist_1<\/td><td>0.01<\/td>/);
  assert.doesNotMatch(html, /<script/);
});
