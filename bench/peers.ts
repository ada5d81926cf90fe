/**
 * The peers: TensorFlow.js on WebGPU (on the same Dawn adapter: tfjs-backend-webgpu
 * initialises from globalThis.navigator.gpu, which we point at our Dawn GPU object
 * before importing it) and on WASM (the CPU peer). Each exposes the same small
 * interface as our engine for the benchmark items.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { beginGpuWait, dawnInstance } from '../src/kernels/wgsl/device.ts';

export type Tf = typeof TF;

let tfPromise: Promise<Tf> | undefined;
export function loadTf(): Promise<Tf> {
  tfPromise ??= (async () => {
    const gpu = dawnInstance();
    if (!gpu) throw new Error('bench: create the convscope WebGPU backend first (the peer shares its Dawn instance)');
    (globalThis as { navigator?: unknown }).navigator = { gpu, userAgent: 'node', hardwareConcurrency: 2 };
    // tfjs's ES build uses directory imports that Node's ESM loader refuses, so the benchmark
    // runs bundled by esbuild (scripts/bench.mjs); the wasm binary is read from node_modules.
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    await import('@tensorflow/tfjs-backend-webgpu');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dist = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
    wasm.setWasmPaths(dist);
    return tf;
  })();
  return tfPromise;
}

export async function useTf(name: 'webgpu' | 'wasm'): Promise<Tf> {
  const tf = await loadTf();
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`bench: TensorFlow.js backend '${name}' failed to initialise`);
    await tf.ready();
  }
  return tf;
}

/** Completes all of tfjs's queued work on its current backend (a fence, not a readback). */
export async function tfFence(tf: Tf): Promise<void> {
  const b = tf.backend() as unknown as { submitQueue?: () => void; endComputePassEncoder?: () => void; device?: GPUDevice; commandEncoder?: unknown };
  if (b.device) {
    // tfjs-webgpu keeps a compute pass open across dispatches: close it, submit (if anything is queued), then wait
    if (b.commandEncoder) {
      b.endComputePassEncoder?.();
      b.submitQueue?.();
    }
    beginGpuWait(); // the same polling as convscope's own waits (device.ts)
    await b.device.queue.onSubmittedWorkDone();
  }
}

export function tfVersions(tf: Tf): Record<string, string> {
  return { 'tfjs-core': tf.version_core };
}

/**
 * Runs one timed body on a tfjs backend and fails if the WebGPU device reported a
 * validation error (tfjs-webgpu does not check: on an adapter whose binding limit a
 * tensor exceeds, it "runs" in microseconds and computes nothing).
 */
export async function tfChecked(tf: Tf, body: () => void | Promise<void>): Promise<void> {
  const b = tf.backend() as unknown as { device?: GPUDevice };
  b.device?.pushErrorScope('validation');
  await body();
  await tfFence(tf);
  const err = await b.device?.popErrorScope();
  if (err) throw new Error(`tfjs-webgpu: ${err.message.split('\n')[0]}`);
}
