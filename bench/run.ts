/**
 * `npm run bench`: times convscope's kernels and end-to-end work on the current adapter
 * against TensorFlow.js on the same adapter (tfjs-webgpu, on the same Dawn instance)
 * and on WASM, in one process. Writes bench/results/<adapter>.{json,md,svg}.
 *
 *   npm run bench -- [--only REGEX] [--full] [--reps N] [--warmup N] [--engines a,b] [--out DIR]
 *
 * --full runs the 40-step pattern at 150x150 and the whole 40-step 8x8 grid (hours on a
 * software driver); without it those two are run at 64x64 and as one step of 40.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as cs from '../src/index.ts';
import type { WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import { attributionItems, e2eItems, kernelItems, type Engine } from './items.ts';
import { jaxVersion, prepareJax } from './jax_peer.ts';
import { loadTf, setTfLoader, tfVersions } from './peers.ts';
import { loadNodeTf } from './peers_node.ts';
import { markdownTable, resultsSlug, svgChart, type BenchResults } from './report.ts';
import { isSoftwareAdapter } from '../src/kernels/wgsl/tuning.ts';
import { measureRow } from './measure_row.ts';
import { tuningInfo } from './tuning_info.ts';

const { values: o } = parseArgs({
  options: {
    only: { type: 'string' },
    full: { type: 'boolean', default: false },
    reps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    engines: { type: 'string', default: 'convscope,tfjs-webgpu,jax-webgpu,tfjs-wasm' },
    out: { type: 'string', default: join(import.meta.dirname, 'results') },
    'budget-ms': { type: 'string', default: '60000' },
    /** re-measure the --only items and replace their rows in the adapter's full results */
    merge: { type: 'boolean', default: false },
  },
});

const gpu = (await cs.setBackend('webgpu')) as WebGPUBackend;
setTfLoader(loadNodeTf);
const tf = await loadTf();
const engines = o.engines!.split(',') as (Engine | 'jax-webgpu')[];
const only = o.only ? new RegExp(o.only, 'i') : undefined;
const items = [...kernelItems(), ...e2eItems(o.full!), ...attributionItems(o.full!)].filter((i) => !only || only.test(i.name));
const settings = { reps: Number(o.reps), warmup: Number(o.warmup), full: o.full, budgetMs: Number(o['budget-ms']) };
const info = gpu.ctx.adapterInfo;
const results: BenchResults = {
  adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
  date: new Date().toISOString(),
  versions: { node: process.versions.node, ...tfVersions(tf), ...(engines.includes('jax-webgpu') ? { 'jax-js': jaxVersion() } : {}), convscope: '0.1.0' },
  settings,
  tuning: tuningInfo(gpu),
  items: [],
};
console.error(`bench on ${gpu.describe()} (tiles: ${results.tuning!.source}${results.tuning!.table ? `, ${results.tuning!.table}` : ''}): ${items.length} items x ${engines.join(', ')}`);

for (const item of items) {
  const prepare = (engine: string) => (engine === 'jax-webgpu' ? prepareJax(item) : item.prepare(engine as Engine));
  results.items.push(await measureRow(gpu, item, engines, prepare, settings, (l) => console.error(l)));
}

const slug = resultsSlug(info, isSoftwareAdapter(gpu.describe()) ? gpu.cpu : undefined);
mkdirSync(o.out!, { recursive: true });
if (o.merge) {
  const full = JSON.parse(readFileSync(join(o.out!, `${slug}.json`), 'utf8')) as BenchResults;
  full.items = full.items.map((i) => results.items.find((r) => r.name === i.name) ?? i);
  full.merged = [...(full.merged ?? []), { date: results.date, items: results.items.map((i) => i.name) }];
  Object.assign(results, full);
}
const base = join(o.out!, only && !o.merge ? `${slug}.partial` : slug);
// a full run replaces the warm rows; the cold-start table (`--cold`, measured separately) stays
if (!o.merge && !only && existsSync(`${base}.json`)) {
  const before = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as BenchResults;
  if (before.cold) results.cold = before.cold;
}
writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(`${base}.md`, `${markdownTable(results)}\n`);
writeFileSync(`${base}.svg`, svgChart(results));
console.error(`wrote ${base}.json, .md, .svg`);
process.exit(0);
