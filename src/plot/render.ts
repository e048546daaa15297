// Plots for every command: a Vega-Lite spec compiled with vega-lite, rendered headless by vega to SVG
// (no browser, no canvas), rasterised to PNG by resvg with a font shipped in an npm package, so labels
// are drawn on a machine without system fonts. Nothing here draws by hand.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { parse as parseVega, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export type PlotSpec = TopLevelSpec;

/** Fonts of the dejavu-fonts-ttf package: the same text metrics on every machine. */
function fontFiles(): string[] {
  const dir = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  return ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => join(dir, f));
}

const FONT_FAMILY = 'DejaVu Sans';

/** Vega-Lite -> SVG text. */
export async function renderSvg(spec: PlotSpec): Promise<string> {
  const themed = { ...spec, config: { font: FONT_FAMILY, ...(spec as { config?: object }).config } } as PlotSpec;
  const view = new View(parseVega(compile(themed).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG -> PNG bytes on a white background; `scale` 2 gives a sharper image for screens. */
export function svgToPng(svg: string, scale = 1): Buffer {
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { fontFiles: fontFiles(), loadSystemFonts: false, defaultFontFamily: FONT_FAMILY },
  });
  return resvg.render().asPng();
}
