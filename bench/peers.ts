/**
 * The peers: TensorFlow.js on WebGPU (on the same Dawn adapter: tfjs-backend-webgpu
 * initialises from globalThis.navigator.gpu, which we point at our Dawn GPU object
 * before importing it) and on WASM (the CPU peer). Each exposes the same small
 * interface as our engine for the benchmark items.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { beginGpuWait } from '../src/kernels/wgsl/device.ts';

export type Tf = typeof TF;

let tfPromise: Promise<Tf> | undefined;
let tfLoader: (() => Promise<Tf>) | undefined;

/**
 * Where TensorFlow.js comes from. The browser benchmark page (web/src/bench/) sets its own
 * loader (tfjs-core and tfjs-backend-webgpu on the page's navigator.gpu) before the first
 * loadTf(); `npm run bench` sets the Node one (bench/peers_node.ts).
 */
export function setTfLoader(load: () => Promise<Tf>): void {
  tfLoader = load;
}

export function loadTf(): Promise<Tf> {
  if (!tfLoader) throw new Error('bench: no TensorFlow.js loader set (Node: setTfLoader(loadNodeTf) from bench/peers_node.ts)');
  tfPromise ??= tfLoader();
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
