/**
 * The `explain` report: one self-contained HTML page with every map side by side over
 * the photo, each with its faithfulness scores and its deletion / insertion curves as
 * inline SVG. Works in Node and in the browser (pictures are data URLs).
 */
import { applyColormapFloat, JET } from '../colormap.ts';
import { overlayHeatmap } from '../grid.ts';
import type { ImageU8 } from '../image.ts';
import { encodeJpeg, encodePng } from '../image_encode.ts';
import type { Prediction } from '../predictions.ts';
import type { AttributionMap } from './common.ts';
import type { Curve, Faithfulness } from './faithfulness.ts';

/** The map at its own resolution as a PNG: JET for [0, 1] maps, blue-white-red for signed ones. */
export function mapPng(map: AttributionMap): Uint8Array {
  const n = map.height * map.width;
  let rgb: Uint8Array;
  if (!map.signed) rgb = applyColormapFloat(map.data, JET);
  else {
    rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const v = Math.max(-1, Math.min(1, map.data[i]));
      const a = Math.round(255 * (1 - Math.abs(v)));
      // positive: white -> red; negative: white -> blue
      rgb.set(v >= 0 ? [255, a, a] : [a, a, 255], i * 3);
    }
  }
  return encodePng({ width: map.width, height: map.height, channels: 3, data: rgb });
}

/** The book's overlay (JET at 0.4 over the photo) of the map's magnitude, as JPEG. */
export function overlayJpeg(photo: ImageU8, map: AttributionMap): Uint8Array {
  const data = map.signed ? Float32Array.from(map.data, Math.abs) : map.data;
  return encodeJpeg(overlayHeatmap(photo, { width: map.width, height: map.height, data }), 92);
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function base64(bytes: Uint8Array): string {
  if (typeof Buffer !== 'undefined') return Buffer.from(bytes).toString('base64');
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Deletion (red) and insertion (blue) curves: class probability against the fraction of pixels, in a small SVG. */
export function curvesSvg(curves: { deletion?: Curve; insertion?: Curve }, width = 240, height = 150): string {
  const pad = { l: 34, r: 8, t: 8, b: 26 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const X = (f: number) => (pad.l + f * w).toFixed(1);
  const Y = (p: number) => (pad.t + (1 - Math.max(0, Math.min(1, p))) * h).toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="10">`,
    `<rect x="${pad.l}" y="${pad.t}" width="${w}" height="${h}" fill="#fafafa" stroke="#bbb"/>`,
  ];
  for (const t of [0, 0.5, 1]) {
    parts.push(`<text x="${pad.l - 4}" y="${Number(Y(t)) + 3}" text-anchor="end" fill="#555">${t}</text>`);
    parts.push(`<text x="${X(t)}" y="${pad.t + h + 12}" text-anchor="middle" fill="#555">${t}</text>`);
  }
  parts.push(`<text x="${pad.l + w / 2}" y="${height - 2}" text-anchor="middle" fill="#555">fraction of pixels</text>`);
  const legend: string[] = [];
  for (const [kind, colour] of [['deletion', '#d62728'], ['insertion', '#1f77b4']] as const) {
    const c = curves[kind];
    if (!c) continue;
    const pts = c.fractions.map((f, i) => `${X(f)},${Y(c.scores[i])}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${colour}" stroke-width="1.6"/>`);
    legend.push(`<tspan fill="${colour}">${kind} ${c.auc.toFixed(3)}</tspan>`);
  }
  if (legend.length) parts.push(`<text x="${pad.l + w - 4}" y="${pad.t + 12}" text-anchor="end">${legend.join(' ')}</text>`);
  parts.push('</svg>');
  return parts.join('');
}

export interface ExplainCard {
  method: string;
  title: string;
  map: AttributionMap;
  overlay: Uint8Array;
  png: Uint8Array;
  scores?: Faithfulness;
  /** Extra lines (IG's completeness error, Score-CAM's batches). */
  notes: string[];
}

export interface ExplainReport {
  title: string;
  subtitle?: string;
  target: string;
  predictions?: { image: string; top: Prediction[] };
  cards: ExplainCard[];
}

const f3 = (v: number) => v.toFixed(3);

function scoreRows(s: Faithfulness | undefined): string {
  if (!s) return '';
  const rows: [string, string][] = [];
  if (s.deletion) rows.push([`deletion AUC (${s.deletion.replacement}) ↓`, f3(s.deletion.auc)]);
  if (s.insertion) rows.push([`insertion AUC (${s.insertion.replacement}) ↑`, f3(s.insertion.auc)]);
  if (s.drop) rows.push(['average drop ↓', `${s.drop.averageDrop.toFixed(1)}%`], ['increase in confidence', s.drop.increase ? 'yes' : 'no']);
  if (s.road) rows.push(['ROAD MoRF mean ↓', f3(s.road.morfMean)], ['ROAD LeRF mean ↑', f3(s.road.lerfMean)]);
  return `<table class="scores">${rows.map(([k, v]) => `<tr><td>${escape(k)}</td><td>${escape(v)}</td></tr>`).join('')}</table>`;
}

export function renderExplainReport(r: ExplainReport): string {
  const preds = r.predictions
    ? `<table><tr><th>#</th><th>class</th><th>name</th><th>probability</th></tr>${r.predictions.top
        .map((t, i) => `<tr><td>${i + 1}</td><td>${t.index}</td><td>${escape(t.name)}</td><td>${t.probability.toFixed(4)}</td></tr>`)
        .join('')}</table>`
    : '';
  const cards = r.cards
    .map((c) => {
      const curves = c.scores && (c.scores.deletion || c.scores.insertion) ? curvesSvg(c.scores) : '';
      const res = `${c.map.height}x${c.map.width}${c.map.layer ? ` at ${c.map.layer}` : ''}${c.map.signed ? ', signed' : ''}`;
      return `<div class="card"><h3>${escape(c.title)}</h3><p class="sub">${escape(c.method)}: ${escape(res)}</p>
<div class="pics"><img class="overlay" src="data:image/jpeg;base64,${base64(c.overlay)}" alt="${escape(c.title)} over the photo"><img class="native" src="data:image/png;base64,${base64(c.png)}" alt="${escape(c.title)} at ${escape(res)}"></div>
${scoreRows(c.scores)}${curves}${c.notes.map((n) => `<p class="note">${escape(n)}</p>`).join('')}</div>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(r.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin:.2em 0;font-size:13px}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;font-size:13px}
.grid{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em;width:250px}
.card h3{margin:0;font-size:15px}.pics{display:flex;flex-direction:column;gap:.3em;margin:.4em 0}
img.overlay{width:240px}img.native{width:120px;image-rendering:pixelated;border:1px solid #ddd}
.scores td:last-child{text-align:right;font-variant-numeric:tabular-nums}.note{font-size:12px;color:#555;margin:.2em 0}
</style></head><body>
<h1>${escape(r.title)}</h1>${r.subtitle ? `<p class="sub">${escape(r.subtitle)}</p>` : ''}
${preds ? `<h2>Predictions</h2>${preds}` : ''}
<h2>Maps of ${escape(r.target)}</h2>
<p class="sub">Over the photo: the map's magnitude (JET, as the book's Grad-CAM overlay). Below it: the map at the resolution it is computed at (CAMs: the layer's grid; pixel methods: the model's input; signed maps red for positive, blue for negative). Deletion (red): pixels removed most important first, lower is better; insertion (blue): added most important first, higher is better.</p>
<div class="grid">
${cards}
</div>
</body></html>
`;
}
