/**
 * Device loss (a GPU reset), simulated with device.destroy(): the call in flight
 * fails with one clear error, nothing goes on using the dead device's buffers, and
 * the next call that selects 'webgpu' runs on a new device with the same numbers.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';
import { loadModel } from '../../src/models/load_model.ts';

const MODEL = join(import.meta.dirname, '../../assets/cats_and_dogs_small_1.h5');

describe('device loss', () => {
  it('fails the current call clearly, refuses dead buffers, and recovers on a new device', async () => {
    const first = (await cs.setBackend('webgpu')) as WebGPUBackend;
    const model = await loadModel(MODEL);
    const x = cs.randomUniform([1, 50, 50, 3], 0, 1, 5);
    const p0 = await model.predict(x).data();

    first.ctx.device.destroy();
    await first.ctx.device.lost;
    expect(first.isLost()).toBe(true);
    // the model's weights and x live on the dead device: using them is a clear error, not garbage
    expect(() => model.predict(x)).toThrow(/the GPU device was lost .*this call failed\. The next call that selects the 'webgpu' backend gets a new device/);
    await expect(x.data()).rejects.toThrow(/the GPU device was lost/);

    const second = (await cs.setBackend('webgpu')) as WebGPUBackend;
    expect(second).not.toBe(first);
    expect(second.isLost()).toBe(false);
    const again = await loadModel(MODEL);
    const x2 = cs.randomUniform([1, 50, 50, 3], 0, 1, 5);
    const p1 = await again.predict(x2).data();
    expect(Array.from(p1)).toEqual(Array.from(p0)); // same kernels, same inputs: the same bits
    again.dispose();
    x2.dispose();
  });
});
