/**
 * The tiled dispatches an op makes (table key: kernel and shape, and the kind of tile), for
 * the tuners in Node (bench/tune.ts) and in the page (web/src/bench/tune.ts). Browser-safe.
 */
import type * as cs from '../src/index.ts';
import type { WebGPUBackend } from '../src/kernels/wgsl/backend.ts';

export function tiledKeysOf(gpu: WebGPUBackend, run: () => cs.Tensor): { key: string; tile: string }[] {
  const keys: { key: string; tile: string }[] = [];
  const orig = gpu.dispatch.bind(gpu);
  gpu.dispatch = (d) => {
    const [head, tile] = (d.label ?? d.key).split('|');
    if (tile) keys.push({ key: head.split('+')[0], tile });
    orig(d);
  };
  try {
    run().dispose();
  } finally {
    gpu.dispatch = orig;
  }
  return keys;
}
