/**
 * One item's row of the bench: each engine prepared, timed (convscope first: the peers'
 * ratios are against it) and disposed; a peer that fails gets its first error line in the
 * row, a convscope failure ends the bench. Shared by `npm run bench` (bench/run.ts) and the
 * page (web/src/bench/runner.ts). Browser-safe.
 */
import type { WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import type { BenchItem, Prepared } from './items.ts';
import type { ItemResult } from './report.ts';
import { timeIt } from './timing.ts';

export interface RowSettings {
  warmup: number;
  reps: number;
  budgetMs?: number;
}

export async function measureRow(
  gpu: WebGPUBackend,
  item: BenchItem,
  engines: string[],
  prepare: (engine: string) => Promise<Prepared>,
  settings: RowSettings,
  log: (line: string) => void,
): Promise<ItemResult> {
  const row: ItemResult = { name: item.name, kind: item.kind, shape: item.shape, ms: NaN, gflops: null, peers: {} };
  for (const engine of engines) {
    let prepared: Prepared | undefined;
    try {
      prepared = await prepare(engine);
      // convscope's end-to-end items: the distinct pipelines one run uses (every run uses the same)
      const keys = new Set<string>();
      const dispatch = gpu.dispatch;
      if (engine === 'convscope' && item.kind === 'e2e') gpu.dispatch = (d) => (keys.add(d.key), dispatch.call(gpu, d));
      let t;
      try {
        t = await timeIt(prepared.run, { warmup: settings.warmup, reps: settings.reps, budgetMs: settings.budgetMs });
      } finally {
        gpu.dispatch = dispatch;
      }
      if (keys.size > 0) row.pipelines = keys.size;
      const peak = await prepared.peakBytes?.();
      const gradCamPeak = peak !== undefined && item.name.startsWith('Grad-CAM') ? { peakBytes: peak } : {};
      if (engine === 'convscope') {
        row.ms = t.ms;
        row.runs = t.runs;
        row.gflops = item.flops === null ? null : item.flops / (t.ms * 1e6);
        Object.assign(row, gradCamPeak);
      } else {
        row.peers[engine] = { ms: t.ms, ratio: t.ms / row.ms, runs: t.runs, ...gradCamPeak };
      }
      log(`  ${item.name.padEnd(48)} ${engine.padEnd(12)} ${t.ms.toFixed(1)} ms (runs ${t.runs.map((v) => v.toFixed(0)).join(', ')})`);
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0];
      if (engine === 'convscope') throw e;
      row.peers[engine] = { error: msg };
      log(`  ${item.name.padEnd(48)} ${engine.padEnd(12)} failed: ${msg}`);
    } finally {
      prepared?.dispose();
    }
  }
  return row;
}
