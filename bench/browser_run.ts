/**
 * `npm run bench:browser`: the benchmark page (web/bench.html, web/src/bench/) in headless
 * Chromium, against tfjs-webgpu in the same page; writes bench/results/<adapter>.{json,md,svg}
 * beside the Node results (in this project's headless Chromium the adapter is SwiftShader).
 *
 *   npm run bench:browser -- [--only REGEX] [--reps N] [--warmup N] [--size N] [--engines convscope,tfjs-webgpu] [--merge]
 *   npm run bench:browser -- --tune [--size N] [--only REGEX] [--tune-budget-ms MS]
 *
 * --size runs the kernel rows at the VGG16 layer shapes of an NxN image (224 by default).
 * --merge replaces the measured rows in the adapter's existing results (as `npm run bench -- --merge`).
 * --tune runs the tuner in the page (web/src/bench/tune.ts, bench/tune.ts's rules) and writes
 * src/kernels/wgsl/tuned/<adapter>[.<cpu>].json and tuned/index.ts, which the page then loads.
 *
 * The page is bundled with esbuild into bench/.build/browser/ and served from 127.0.0.1
 * (a secure context) by node:http; Chromium is Debian's /usr/bin/chromium (never a downloaded
 * browser), with the flags of test/browser/browser_smoke.test.ts.
 */
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { markdownTable, resultsSlug, svgChart, type BenchResults } from './report.ts';
import { writeTableIndex } from './tuned_index.ts';
import { serveFolder } from '../src/cli/commands/serve.ts';
import { tableFileName, type TuningTable } from '../src/kernels/wgsl/tuning.ts';

const { values: o } = parseArgs({
  options: {
    only: { type: 'string' },
    reps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    size: { type: 'string' },
    'budget-ms': { type: 'string', default: '60000' },
    engines: { type: 'string', default: 'convscope,tfjs-webgpu' },
    merge: { type: 'boolean', default: false },
    tune: { type: 'boolean', default: false },
    'tune-budget-ms': { type: 'string' },
    /** extra tap tiles to try, TMxTNxWG,... (e.g. 4x4x16,4x4x64) */
    'extra-taps': { type: 'string' },
    out: { type: 'string', default: path.join(import.meta.dirname, 'results') },
  },
});

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const root = path.resolve(import.meta.dirname, '..');
const OUT_DIR = path.join(root, 'bench/.build/browser');

fs.rmSync(OUT_DIR, { recursive: true, force: true });
fs.mkdirSync(OUT_DIR, { recursive: true });
const built = await esbuild.build({
  entryPoints: [path.join(root, 'web/src/bench/main.ts')],
  outfile: path.join(OUT_DIR, 'bench.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  logLevel: 'error',
  metafile: true,
});
const fromNode = Object.keys(built.metafile.inputs).filter((f) => /node_modules\/(webgpu|@tensorflow\/tfjs-backend-wasm)\//.test(f));
if (fromNode.length) throw new Error(`the page bundle pulled in Node-side packages: ${fromNode.join(', ')}`);
fs.writeFileSync(path.join(OUT_DIR, 'bench.html'), fs.readFileSync(path.join(root, 'web/bench.html'), 'utf8').replace('./src/bench/main.ts', './bench.js'));

const { server, url: base } = await serveFolder(OUT_DIR);
const url = `${base}bench.html`;

if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (bash scripts/setup.sh as root installs Debian's chromium)`);
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 30_000 });
let code = 0;
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.error(m.text()));
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.convscopeBench?.ready, undefined, { timeout: 60_000 });
  const a = await page.evaluate(() => window.convscopeBench.adapter());
  console.error(`page adapter: ${a.describe} (subgroup size ${a.subgroupSize ?? 'not fixed'}); tiles: ${JSON.stringify(a.tuning)}`);
  if (o.tune) {
    const opts = { only: o.only, size: o.size ? Number(o.size) : undefined, budgetMs: o['tune-budget-ms'] ? Number(o['tune-budget-ms']) : undefined,
      extraTaps: o['extra-taps']?.split(',').map((t) => { const [TM, TN, WG] = t.split('x').map(Number); return { TM, TN, WG }; }) };
    const table = await page.evaluate((x) => window.convscopeBench.tune(x), opts);
    const dir = path.join(root, 'src/kernels/wgsl/tuned');
    const file = path.join(dir, tableFileName(table));
    const previous: TuningTable | undefined = o.only && fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
    const merged: TuningTable = previous
      ? { ...previous, date: table.date, tilings: { ...previous.tilings, ...table.tilings }, measurements: { ...previous.measurements, ...table.measurements } }
      : table;
    fs.writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`);
    writeTableIndex(dir);
    console.error(`wrote ${file}`);
  } else {
    const opts = { only: o.only, engines: o.engines!.split(',') as ('convscope' | 'tfjs-webgpu')[], reps: Number(o.reps), warmup: Number(o.warmup), size: o.size ? Number(o.size) : undefined, budgetMs: Number(o['budget-ms']) };
    const results: BenchResults = await page.evaluate((x) => window.convscopeBench.run(x), opts);
    const slug = resultsSlug(results.adapter);
    fs.mkdirSync(o.out!, { recursive: true });
    // kernel rows at another image size are other shapes: their own file
    const base = path.join(o.out!, `${slug}-browser${o.size && Number(o.size) !== 224 ? `-${o.size}` : ''}`);
    if (o.merge && fs.existsSync(`${base}.json`)) {
      const full = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as BenchResults;
      const fresh = results.items.filter((r) => !full.items.some((i) => i.name === r.name));
      full.items = [...full.items.map((i) => results.items.find((r) => r.name === i.name) ?? i), ...fresh];
      full.merged = [...(full.merged ?? []), { date: results.date, items: results.items.map((i) => i.name) }];
      full.tuning = results.tuning;
      Object.assign(results, full);
    }
    fs.writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
    fs.writeFileSync(`${base}.md`, `${markdownTable(results)}\n`);
    fs.writeFileSync(`${base}.svg`, svgChart(results));
    console.error(`wrote ${base}.json, .md, .svg`);
  }
} catch (e) {
  console.error((e as Error).stack ?? String(e));
  code = 1;
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
