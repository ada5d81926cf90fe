import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';
import { webgpu } from '../helpers/backends.ts';
import { BufferPool } from '../../src/kernels/wgsl/buffer_pool.ts';
import { join } from 'node:path';
import { loadModel } from '../../src/models/load_model.ts';
import { gradCam } from '../../src/viz/gradcam.ts';
import { computeActivations } from '../../src/viz/activations.ts';
import { filterPatterns } from '../../src/viz/filters.ts';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await webgpu();
  cs.engine.useBackend(gpu);
});

describe('GPU memory', () => {
  it('no growth across 200 forward+backward passes', async () => {
    const x = cs.randomUniform([1, 16, 16, 3], 0, 1, 1);
    const w1 = cs.randomNormal([3, 3, 3, 16], 0, 0.3, 2);
    const w2 = cs.randomNormal([3, 3, 16, 32], 0, 0.1, 3);
    const b1 = cs.zeros([16]);
    const d = cs.randomNormal([4 * 4 * 32, 1], 0, 0.05, 4);
    const net = (img: cs.Tensor, a: cs.Tensor, b: cs.Tensor, bias: cs.Tensor, dense: cs.Tensor) => {
      const h1 = cs.maxPool(cs.relu(cs.biasAdd(cs.conv2d(img, a, { padding: 'same' }), bias)));
      const h2 = cs.maxPool(cs.relu(cs.conv2d(h1, b, { padding: 'same' })));
      return cs.mean(cs.sigmoid(cs.matmul(cs.flatten(h2), dense)));
    };
    const step = () => {
      const { value, grads } = cs.valueAndGrads(net)(x, w1, w2, b1, d);
      cs.dispose([value, ...grads]);
    };
    step();
    await gpu.sync();
    const tensors = cs.engine.numTensors;
    const live = gpu.liveBytes();
    const pooledAfterWarmup = gpu.pooledBytes();
    const lives: number[] = [];
    for (let i = 0; i < 200; i++) {
      step();
      if (i % 20 === 19) {
        await gpu.sync();
        lives.push(gpu.liveBytes());
      }
    }
    await gpu.sync();
    expect(cs.engine.numTensors).toBe(tensors);
    expect(lives.every((b) => b === live)).toBe(true);
    // the free pool holds what one pass needs and stops growing
    expect(gpu.pooledBytes()).toBeLessThanOrEqual(pooledAfterWarmup * 1.5 + 1024 * 1024);
    cs.dispose([x, w1, w2, b1, d]);
  });

  it('the three techniques leave no tensor behind', async () => {
    const model = await loadModel(join(import.meta.dirname, '../../assets/cats_and_dogs_small_1.h5'));
    const x = cs.randomUniform([1, 50, 50, 3], 0, 1, 3);
    const before = cs.engine.numTensors;
    await gradCam(model, x); // default class: predicts first
    await gradCam(model, x, { classIndex: 0, score: 'logit' });
    await computeActivations(model, x, model.convAndPoolLayers());
    await filterPatterns(model, 'conv2d_5', [0, 1], { size: 50, steps: 2 });
    expect(cs.engine.numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it('a buffer released over the pool cap is destroyed only after the work using it is submitted', async () => {
    const pool = new BufferPool(gpu.device, 0x80 | 0x04 | 0x08, 0); // cap 0: every release is over it
    const a = pool.acquire(1024);
    const b = pool.acquire(1024);
    const enc = gpu.device.createCommandEncoder();
    enc.copyBufferToBuffer(a, 0, b, 0, 1024);
    pool.release(a, 0); // still used by the unsubmitted copy
    gpu.device.pushErrorScope('validation');
    gpu.device.queue.submit([enc.finish()]);
    pool.takeDoomed().forEach((buf) => buf.destroy());
    expect(await gpu.device.popErrorScope()).toBeNull();
    pool.release(b, 0);
    expect(pool.takeDoomed()).toEqual([b]);
    b.destroy();
    expect(pool.liveBytes).toBe(0);
  });

  it('dispose returns buffers; drainPool frees them', async () => {
    const before = gpu.liveBytes();
    const t = cs.ones([1024, 256]);
    expect(gpu.liveBytes()).toBe(before + 1024 * 256 * 4);
    t.dispose();
    expect(gpu.liveBytes()).toBe(before);
    gpu.drainPool();
    expect(gpu.pooledBytes()).toBe(0);
  });

  it('a GPU validation error surfaces as an exception at readback, not as garbage', async () => {
    // a dispatch of a shader that does not compile
    const out = cs.zeros([4]);
    gpu.dispatch({
      key: 'test-broken-shader',
      source: () => '@compute @workgroup_size(1) fn main() { let x: f32 = "nope"; }',
      inputs: [],
      output: (out.handle as unknown as { buffer: GPUBuffer }).buffer,
      workgroups: 1,
    });
    await expect(out.data()).rejects.toThrow(/webgpu:/);
    out.dispose();
  });
});
