/**
 * Where convscope's GEMM tiles came from in a bench run, for its results file: the backend's
 * `tuning` source, the adapter key and CPU the committed tables are matched on, and the table
 * in use (this CPU's own, or another CPU's with the same driver). Browser-safe.
 */
import type { WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import { adapterSlug, committedTableFor, currentTuningTable, nearestTableFor, tableFileName } from '../src/kernels/wgsl/tuning.ts';
import type { BenchResults } from './report.ts';

export function tuningInfo(gpu: WebGPUBackend): NonNullable<BenchResults['tuning']> {
  const own = committedTableFor(gpu.describe(), gpu.cpu);
  const t = own ?? (gpu.tuning === 'table of another CPU' ? nearestTableFor(gpu.describe(), gpu.cpu) : undefined);
  return {
    source: gpu.tuning,
    adapterKey: adapterSlug(gpu.describe()),
    cpu: gpu.cpu,
    ...(t ? { table: tableFileName(t), tableDate: t.date, ...(t.cpu && t.cpu !== gpu.cpu ? { tableCpu: t.cpu } : {}) } : {}),
    entries: Object.keys(currentTuningTable().tilings).length,
  };
}
