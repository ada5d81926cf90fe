import * as cs from '../../src/index.ts';
import type { Backend } from '../../src/engine/backend.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';

/**
 * The WebGPU backend for tests. A missing adapter fails the test run with the
 * installation hint (never a skip). The adapter is printed once so every CI log says
 * what the suite ran on.
 */
let gpu: Promise<WebGPUBackend> | undefined;
export function webgpu(): Promise<WebGPUBackend> {
  gpu ??= (async () => {
    const b = (await cs.setBackend('webgpu')) as WebGPUBackend;
    console.log(`[convscope tests] WebGPU adapter: ${b.describe()}`);
    return b;
  })();
  return gpu;
}

/** A copy of t's values on another backend. */
export async function copyTo(t: cs.Tensor, backend: Backend): Promise<cs.Tensor> {
  return cs.engine.fromValues(await t.data(), t.shape, backend);
}

/** The backend of that name (created on first use); it also becomes the active one. */
export function backendNamed(name: string): Promise<Backend> {
  return cs.setBackend(name);
}
