import * as cs from '../../src/index.ts';
import type { Backend } from '../../src/engine/backend.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';
import { chooseTable, useTuningTable } from '../../src/kernels/wgsl/tuning.ts';

/**
 * The WebGPU backend for tests. A missing adapter fails the test run with the
 * installation hint (never a skip). The adapter is printed once so every CI log says
 * what the suite ran on.
 */
let gpu: Promise<WebGPUBackend> | undefined;
export function webgpu(): Promise<WebGPUBackend> {
  gpu ??= (async () => {
    const b = (await cs.setBackend('webgpu')) as WebGPUBackend;
    console.log(`[convscope tests] WebGPU adapter: ${b.describe()}; CPU ${b.cpu}; tiles: ${b.tuning}${b.tableCpu ? ` (measured on ${b.tableCpu})` : ''}`);
    return b;
  })();
  return gpu;
}

/** After a test that set its own tile table: the table a new device on this machine starts with (no cache). */
export function restoreAdapterTable(gpu: WebGPUBackend): void {
  const c = chooseTable(gpu.describe(), gpu.cpu, undefined);
  useTuningTable(c.table);
  gpu.tuning = c.source;
}

/** A copy of t's values on another backend. */
export async function copyTo(t: cs.Tensor, backend: Backend): Promise<cs.Tensor> {
  return cs.engine.fromValues(await t.data(), t.shape, backend);
}

/** The backend of that name (created on first use); it also becomes the active one. */
export function backendNamed(name: string): Promise<Backend> {
  return cs.setBackend(name);
}
