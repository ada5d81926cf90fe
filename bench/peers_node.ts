/**
 * TensorFlow.js for `npm run bench` in Node: tfjs-backend-webgpu initialises from
 * globalThis.navigator.gpu, which is pointed at convscope's Dawn GPU object before it is
 * imported (so both engines run on the same adapter), and tfjs-backend-wasm reads its binary
 * from node_modules. Kept apart from peers.ts so that the browser page (web/src/bench/) can
 * bundle the bench items without Node's modules or the wasm backend.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { dawnInstance } from '../src/kernels/wgsl/device.ts';
import type { Tf } from './peers.ts';

export async function loadNodeTf(): Promise<Tf> {
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
}
