/**
 * The benchmark loop of bench/run.ts, for the browser page: the same items (bench/items.ts),
 * timing (bench/timing.ts) and result shape (bench/report.ts's BenchResults) as `npm run bench`,
 * with convscope and tfjs-webgpu in this page. Engines run one after the other within each
 * item (interleaved, so that a change of load on the machine hits both sides of a ratio).
 */
import * as cs from '../../../src/index.ts';
import type { WebGPUBackend } from '../../../src/kernels/wgsl/backend.ts';
import { e2eItems, kernelItems, type BenchItem, type Engine } from '../../../bench/items.ts';
import { setTfLoader, tfVersions, loadTf, type Tf } from '../../../bench/peers.ts';
import type { BenchResults } from '../../../bench/report.ts';
import { measureRow } from '../../../bench/measure_row.ts';
import { tuningInfo } from '../../../bench/tuning_info.ts';

/** tfjs-core and tfjs-backend-webgpu, on this page's navigator.gpu (their own device on the same adapter). */
setTfLoader(async () => {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  await import('@tensorflow/tfjs-backend-webgpu');
  return tf as unknown as Tf;
});

export interface BenchOptions {
  /** item names to run (a regular expression, case-insensitive); all when absent */
  only?: string;
  reps?: number;
  warmup?: number;
  engines?: Engine[];
  /** image size of the kernel rows' layer shapes (224 = VGG16's) */
  size?: number;
  budgetMs?: number;
  /** the page's log */
  log?: (line: string) => void;
  /** checked between runs: stop early (the rows measured so far are returned) */
  cancelled?: () => boolean;
}

export function pageItems(size = 224): BenchItem[] {
  return [...kernelItems(size), ...e2eItems(false)];
}

export async function runBench(o: BenchOptions = {}): Promise<BenchResults> {
  const log = o.log ?? ((l: string) => console.log(l));
  const gpu = (await cs.setBackend('webgpu')) as WebGPUBackend;
  const engines = o.engines ?? ['convscope', 'tfjs-webgpu'];
  const tf = engines.includes('tfjs-webgpu') ? await loadTf() : undefined;
  const only = o.only ? new RegExp(o.only, 'i') : undefined;
  const size = o.size ?? 224;
  if (size % 16) throw new Error(`bench: kernel image size ${size} is not a multiple of 16 (VGG16 halves it four times before block5)`);
  const items = pageItems(size).filter((i) => !only || only.test(i.name));
  const settings = { reps: o.reps ?? 3, warmup: o.warmup ?? 1, full: false, budgetMs: o.budgetMs ?? 60000, ...(size !== 224 ? { kernelInputSize: size } : {}), runtime: 'browser' };
  const info = gpu.ctx.adapterInfo;
  const results: BenchResults = {
    adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
    date: new Date().toISOString(),
    versions: { browser: navigator.userAgent.match(/(Headless)?Chrom(e|ium)\/[\d.]+/)?.[0] ?? navigator.userAgent, ...(tf ? tfVersions(tf) : {}), convscope: '0.1.0' },
    settings,
    tuning: tuningInfo(gpu),
    items: [],
  };
  log(`bench on ${gpu.describe()} (tiles: ${results.tuning!.source}${results.tuning!.table ? `, ${results.tuning!.table}` : ''}): ${items.length} items x ${engines.join(', ')}`);
  for (const item of items) {
    if (o.cancelled?.()) break;
    results.items.push(await measureRow(gpu, item, engines, (engine) => item.prepare(engine as Engine), settings, log));
  }
  return results;
}
