/**
 * `npx tsx bench/tap_ab.ts [--size N] [--reps N] [--only REGEX] [--tiles TMxTNxWG[s|v],...] [--in-place] [--out FILE] [--write-table]`:
 * an A/B of tap-GEMM tiles on the VGG16 convolution shapes in headless Chromium (the page's
 * adapter, SwiftShader here), interleaved in one page, with every run kept (bench/tap_ab_page.ts).
 * --write-table puts each shape's fastest tile (by median) into the adapter's committed table
 * (src/kernels/wgsl/tuned/<adapter>.<cpu>.json) and the tile with the least total time as its tap default.
 */
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { serveFolder } from '../src/cli/commands/serve.ts';
import type { TapTiling } from '../src/kernels/wgsl/tap_gemm.ts';
import { tableFileName, VEC4_CANDIDATES, type TuningTable } from '../src/kernels/wgsl/tuning.ts';
import type { TapAbRow } from './tap_ab_page.ts';
import { writeTableIndex } from './tuned_index.ts';

const { values: o } = parseArgs({
  options: {
    size: { type: 'string', default: '64' },
    reps: { type: 'string', default: '3' },
    only: { type: 'string' },
    tiles: { type: 'string' },
    out: { type: 'string' },
    'write-table': { type: 'boolean', default: false },
    /** backprop input rows: each vec4 tile also on the filter read in place (conv.ts's form on those tiles) */
    'in-place': { type: 'boolean', default: false },
  },
});
const parseTile = (s: string): TapTiling => {
  const m = /^(\d+)x(\d+)x(\d+)([sv]?)$/.exec(s);
  if (!m) throw new Error(`--tiles: '${s}' is not TMxTNxWG with an optional s (subgroup) or v (vec4)`);
  return { TM: Number(m[1]), TN: Number(m[2]), WG: Number(m[3]), ...(m[4] === 's' ? { subgroup: true } : m[4] === 'v' ? { vec4: true } : {}) };
};
const tiles = o.tiles ? o.tiles.split(',').map(parseTile) : [{ TM: 8, TN: 8, WG: 8 }, ...VEC4_CANDIDATES];

const root = path.resolve(import.meta.dirname, '..');
const OUT_DIR = path.join(root, 'bench/.build/tap_ab');
fs.mkdirSync(OUT_DIR, { recursive: true });
await esbuild.build({ entryPoints: [path.join(root, 'bench/tap_ab_page.ts')], outfile: path.join(OUT_DIR, 'tap_ab.js'), bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'error' });
fs.writeFileSync(path.join(OUT_DIR, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="./tap_ab.js"></script>');
const { server, url } = await serveFolder(OUT_DIR);
// the flags of bench/browser_run.ts
const FLAGS = ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: FLAGS, timeout: 30_000 });
let code = 0;
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.error(m.text()));
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${url}index.html`);
  await page.waitForFunction(() => (window as unknown as { tapAbReady?: boolean }).tapAbReady, undefined, { timeout: 60_000 });
  const opts = { size: Number(o.size), tiles, reps: Number(o.reps), only: o.only, inPlace: o['in-place'] };
  const res = (await page.evaluate((x) => (window as unknown as { tapAb: (x: unknown) => Promise<unknown> }).tapAb(x), opts)) as { adapter: string; cpu: string; rows: TapAbRow[] };
  const bad = res.rows.flatMap((r) => r.tiles.filter((t) => t.maxRelDiff > 1e-5).map((t) => `${r.name} ${t.name}: ${t.maxRelDiff}`));
  if (bad.length) throw new Error(`tiles disagree (relative difference over 1e-5, float32 reordering of ~600-term sums stays below it):\n${bad.join('\n')}`);
  if (o.out) fs.writeFileSync(o.out, `${JSON.stringify({ date: new Date().toISOString(), ...opts, ...res }, null, 2)}\n`);
  if (o['write-table']) {
    const dir = path.join(root, 'src/kernels/wgsl/tuned');
    const file = path.join(dir, tableFileName(res));
    const t = JSON.parse(fs.readFileSync(file, 'utf8')) as TuningTable;
    const totals = new Map<string, { tile: TapTiling; ms: number; n: number }>();
    for (const r of res.rows) {
      // with --in-place, a backprop input's vec4 tiles run on the filter in place (as conv.ts runs them): their row-major times do not count
      const live = r.tiles.some((x) => x.inPlace) ? r.tiles.filter((x) => !x.tile.vec4 || x.inPlace) : r.tiles;
      const best = [...live].sort((a, b) => a.median - b.median)[0];
      t.tilings[r.key] = best.tile;
      t.measurements = { ...t.measurements, [`${r.key} (${live.map((x) => x.name).join(', ')})`]: live.map((x) => x.median) };
      for (const x of live) {
        const name = x.name.replace('+inplace', '');
        const e = totals.get(name) ?? { tile: x.tile, ms: 0, n: 0 };
        totals.set(name, { tile: x.tile, ms: e.ms + x.median, n: e.n + 1 });
      }
    }
    const most = Math.max(...[...totals.values()].map((v) => v.n));
    t.tapDefault = [...totals.values()].filter((v) => v.n === most).sort((a, b) => a.ms - b.ms)[0].tile;
    t.date = new Date().toISOString();
    fs.writeFileSync(file, `${JSON.stringify(t, null, 2)}\n`);
    writeTableIndex(dir);
    console.error(`wrote ${file} (tap default ${JSON.stringify(t.tapDefault)})`);
  }
} catch (e) {
  console.error((e as Error).stack ?? String(e));
  code = 1;
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
