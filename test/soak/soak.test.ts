/**
 * Soak: 1,000 forward+backward passes of the real cats-vs-dogs model and 200 whole
 * Grad-CAM runs in one process, on WebGPU, with live tensors, live GPU bytes and
 * process memory sampled every 50. Live tensors and GPU bytes must be exactly flat;
 * resident memory may drift by at most 150 MB (V8's heap and JIT caches settle over
 * the first few hundred iterations; a leak of one 50x50 activation per pass would
 * add 1000 x 300 kB). The last test proves the check can fail: one leaked tensor
 * per pass is caught.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';
import { loadModel } from '../../src/models/load_model.ts';
import type { Model } from '../../src/models/model.ts';
import { gradCam } from '../../src/viz/gradcam.ts';
import { webgpu } from '../helpers/backends.ts';

const RSS_BOUND = 150 * 1024 * 1024;

interface Sample {
  i: number;
  tensors: number;
  liveBytes: number;
  rss: number;
}

let gpu: WebGPUBackend;
let model: Model;
let x: cs.Tensor;
beforeAll(async () => {
  gpu = await webgpu();
  cs.engine.useBackend(gpu);
  model = await loadModel(join(import.meta.dirname, '../../assets/cats_and_dogs_small_1.h5'));
  x = cs.randomUniform([1, 50, 50, 3], 0, 1, 7);
});

/** Runs `step` n times, sampling memory every `every` (after the GPU has finished). */
async function soak(n: number, every: number, step: () => Promise<void> | void): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = 0; i <= n; i++) {
    await step();
    if (i % every === 0) {
      await gpu.sync();
      samples.push({ i, tensors: cs.engine.numTensors, liveBytes: gpu.liveBytes(), rss: process.memoryUsage().rss });
    }
  }
  console.log(samples.map((s) => `${s.i}: ${s.tensors} tensors, ${(s.liveBytes / 2 ** 20).toFixed(2)} MiB on the GPU, rss ${(s.rss / 2 ** 20).toFixed(0)} MiB`).join('\n'));
  return samples;
}

/**
 * What is wrong with a run's samples (empty when flat); sample 0 is after the warm-up pass.
 * Tensors and GPU bytes are compared with sample 0 exactly. Resident memory is compared with
 * the highest sample of the first quarter of the run: V8's garbage collection makes it a
 * sawtooth (measured: 243 MiB after the first pass, then 295-358 MiB by pass 250 and
 * 328-400 MiB from there to pass 1,000, with no upward trend), so growth is measured from
 * where the saw settles. A leak of one 50x50x32 activation per pass would still add
 * 750 x 320 kB = 234 MB over the last three quarters, above the 150 MB bound.
 */
function growth(samples: Sample[]): string[] {
  const [first, ...rest] = samples;
  const last = samples[samples.length - 1].i;
  const settled = Math.max(...samples.filter((s) => s.i <= last / 4).map((s) => s.rss));
  const out: string[] = [];
  for (const s of rest) {
    if (s.tensors !== first.tensors) out.push(`iteration ${s.i}: ${s.tensors} live tensors, ${first.tensors} after warm-up`);
    if (s.liveBytes !== first.liveBytes) out.push(`iteration ${s.i}: ${s.liveBytes} live GPU bytes, ${first.liveBytes} after warm-up`);
    if (s.i > last / 4 && s.rss - settled > RSS_BOUND) out.push(`iteration ${s.i}: rss grew by ${((s.rss - settled) / 2 ** 20).toFixed(0)} MiB past the first quarter's highest`);
  }
  return out;
}

const forwardBackward = () => {
  const { value, grads } = cs.gradientsOf((watch) => {
    const input = watch(x);
    const [out] = model.run(input, [model.spec.outputs[0]]);
    return { value: cs.sum(out), wrt: [input] };
  });
  cs.dispose([value, ...grads]);
};

describe('soak', () => {
  it('1,000 forward+backward passes: flat', async () => {
    expect(growth(await soak(1000, 50, forwardBackward))).toEqual([]);
  });
  it('200 whole Grad-CAM runs: flat', async () => {
    expect(growth(await soak(200, 50, async () => void (await gradCam(model, x))))).toEqual([]);
  });
  it('the check can fail: one leaked tensor per pass is caught', async () => {
    const leaked: cs.Tensor[] = [];
    const problems = growth(await soak(100, 50, () => {
      forwardBackward();
      leaked.push(cs.fill([1, 50, 50, 32], 1));
    }));
    cs.dispose(leaked);
    expect(problems.some((p) => /live tensors/.test(p))).toBe(true);
    expect(problems.some((p) => /live GPU bytes/.test(p))).toBe(true);
  });
});
