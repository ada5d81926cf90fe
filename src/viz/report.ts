import type { Prediction } from './predictions.ts';

/**
 * One self-contained HTML page per run: the model summary, predictions, and every
 * picture (embedded as a data URL) titled with its layer, so a person can look
 * instead of reading file names. Works in Node and in the browser.
 */
export interface ReportPicture {
  title: string;
  /** PNG or JPEG bytes. */
  bytes: Uint8Array;
  mime: 'image/png' | 'image/jpeg';
  caption?: string;
  /** Display width in CSS pixels (pixelated upscaling for small maps). */
  width?: number;
}

export interface ReportSection {
  heading: string;
  text?: string;
  pictures: ReportPicture[];
}

export interface Report {
  title: string;
  subtitle?: string;
  summary?: string;
  predictions?: { image: string; top: Prediction[] }[];
  sections: ReportSection[];
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function base64(bytes: Uint8Array): string {
  if (typeof Buffer !== 'undefined') return Buffer.from(bytes).toString('base64');
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function renderReport(r: Report): string {
  const preds = (r.predictions ?? [])
    .map(
      (p) => `<h3>${escape(p.image)}</h3><table><tr><th>#</th><th>class</th><th>id</th><th>name</th><th>probability</th></tr>${p.top
        .map((t, i) => `<tr><td>${i + 1}</td><td>${t.index}</td><td>${escape(t.id)}</td><td>${escape(t.name)}</td><td>${t.probability.toFixed(4)}</td></tr>`)
        .join('')}</table>`,
    )
    .join('');
  const sections = r.sections
    .map(
      (s) => `<section><h2>${escape(s.heading)}</h2>${s.text ? `<p>${escape(s.text)}</p>` : ''}<div class="pics">${s.pictures
        .map(
          (p) => `<figure><figcaption>${escape(p.title)}</figcaption><img src="data:${p.mime};base64,${base64(p.bytes)}" alt="${escape(p.title)}"${p.width ? ` style="width:${p.width}px"` : ''}>${p.caption ? `<p class="cap">${escape(p.caption)}</p>` : ''}</figure>`,
        )
        .join('')}</div></section>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(r.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.3em}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}
table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
.pics{display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start}
figure{margin:0;max-width:100%}figcaption{font-weight:600;margin-bottom:.3em;font-family:monospace}
img{image-rendering:pixelated;max-width:100%;border:1px solid #ddd}.cap{color:#666;font-size:12px;margin:.2em 0}
</style></head><body>
<h1>${escape(r.title)}</h1>${r.subtitle ? `<p class="sub">${escape(r.subtitle)}</p>` : ''}
${r.summary ? `<h2>Model summary</h2><pre>${escape(r.summary)}</pre>` : ''}
${preds ? `<h2>Predictions</h2>${preds}` : ''}
${sections}
</body></html>
`;
}
