import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { convGeometry } from '../../src/engine/conv_geometry.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';
import { webgpu } from '../helpers/backends.ts';
import { vgg16ConvShapes, VGG16_POOLS, VGG16_DENSE } from '../helpers/vgg16_shapes.ts';
import { convBackpropFilterAt, convBackpropInputAt, convForwardAt, fastRandom, sampleCoords, type Sample } from '../helpers/sampled_reference.ts';

// Every VGG16 layer shape at 224x224, run whole on WebGPU, checked one layer at a time
// at sampled positions against float64 sums written out in the test. Float32 summation
// of K products has typical error ~sqrt(K) * 6e-8 * sum|terms| (K <= 50176 here, so
// <= 1.4e-5); 3e-5 * sum|terms| (+1e-6) stays above it and far below a wrong tap or channel.
const REL = 3e-5;
const SAMPLES = 48;

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await webgpu();
});

function expectSamples(got: Float32Array, samples: Sample[], what: string) {
  for (const s of samples) {
    const err = Math.abs(got[s.index] - s.value);
    expect(err, `${what} at flat index ${s.index}: got ${got[s.index]}, want ${s.value}`).toBeLessThanOrEqual(REL * s.scale + 1e-6);
  }
}

describe('VGG16 conv layer shapes (forward, backprop input, backprop filter)', () => {
  for (const shape of vgg16ConvShapes()) {
    it(`${shape.names.join(', ')}: ${shape.size}x${shape.size}x${shape.inC} -> ${shape.outC}`, async () => {
      const xShape = [1, shape.size, shape.size, shape.inC];
      const wShape = [3, 3, shape.inC, shape.outC];
      const g = convGeometry(xShape, wShape, { strides: [1, 1], dilations: [1, 1], padding: 'same' }, 'test');
      const xv = fastRandom(xShape.reduce((a, b) => a * b), 1);
      const wv = fastRandom(wShape.reduce((a, b) => a * b), 2, 0.1);
      const dyv = fastRandom(shape.size * shape.size * shape.outC, 3);
      const x = cs.tensor(xv, xShape);
      const w = cs.tensor(wv, wShape);
      const dy = cs.tensor(dyv, [1, shape.size, shape.size, shape.outC]);
      const y = cs.conv2d(x, w, { padding: 'same' });
      const dx = cs.conv2dBackpropInput(dy, w, xShape, { padding: 'same' });
      const dw = cs.conv2dBackpropFilter(x, dy, wShape, { padding: 'same' });
      const [yv, dxv, dwv] = await Promise.all([y.data(), dx.data(), dw.data()]);
      expectSamples(yv, sampleCoords([shape.size, shape.size, shape.outC], SAMPLES, 4).map(([a, b, c]) => convForwardAt(xv, wv, g, 0, a, b, c)), 'forward');
      expectSamples(dxv, sampleCoords([shape.size, shape.size, shape.inC], SAMPLES, 5).map(([a, b, c]) => convBackpropInputAt(dyv, wv, g, 0, a, b, c)), 'backprop input');
      expectSamples(dwv, sampleCoords([3, 3, shape.inC, shape.outC], 12, 6).map(([a, b, c, d]) => convBackpropFilterAt(xv, dyv, g, a, b, c, d)), 'backprop filter');
      cs.dispose([x, w, dy, y, dx, dw]);
    });
  }
});

describe('VGG16 pool and dense shapes', () => {
  for (const [name, size, c] of VGG16_POOLS) {
    it(`${name}: max pool ${size}x${size}x${c} forward and backward`, async () => {
      const xv = fastRandom(size * size * c, 7);
      const x = cs.tensor(xv, [1, size, size, c]);
      const half = size / 2;
      const dy = cs.tensor(fastRandom(half * half * c, 8), [1, half, half, c]);
      const y = cs.maxPool(x);
      const dx = cs.maxPoolBackward(dy, x);
      const [yv, dxv, dyv] = await Promise.all([y.data(), dx.data(), dy.data()]);
      // exact: max and routing involve no arithmetic
      for (const [oy, ox, ch] of sampleCoords([half, half, c], 200, 9)) {
        const cells = [0, 1, 2, 3].map((k) => ((2 * oy + (k >> 1)) * size + 2 * ox + (k & 1)) * c + ch);
        const best = cells.reduce((b, i) => (xv[i] > xv[b] ? i : b), cells[0]);
        expect(yv[(oy * half + ox) * c + ch]).toBe(xv[best]);
        for (const i of cells) expect(dxv[i]).toBe(i === best ? dyv[(oy * half + ox) * c + ch] : 0);
      }
      cs.dispose([x, dy, y, dx]);
    });
  }

  for (const [name, inN, outN] of VGG16_DENSE) {
    it(`${name}: dense ${inN} -> ${outN} forward, input gradient and kernel gradient`, async () => {
      const av = fastRandom(inN, 10);
      const wv = fastRandom(inN * outN, 11, 0.01);
      const gv = fastRandom(outN, 12);
      const a = cs.tensor(av, [1, inN]);
      const w = cs.tensor(wv, [inN, outN]);
      const dy = cs.tensor(gv, [1, outN]);
      const y = cs.matmul(a, w);
      const da = cs.matmul(dy, w, false, true);
      const [yv, dav] = await Promise.all([y.data(), da.data()]);
      const cols = sampleCoords([outN], 24, 13).map(([j]) => j);
      expectSamples(yv, cols.map((j) => {
        let v = 0, s = 0;
        for (let k = 0; k < inN; k++) { const t = av[k] * wv[k * outN + j]; v += t; s += Math.abs(t); }
        return { index: j, value: v, scale: s };
      }), 'forward');
      expectSamples(dav, sampleCoords([inN], 24, 14).map(([k]) => {
        let v = 0, s = 0;
        for (let j = 0; j < outN; j++) { const t = gv[j] * wv[k * outN + j]; v += t; s += Math.abs(t); }
        return { index: k, value: v, scale: s };
      }), 'input gradient');
      // the kernel gradient a^T dy is an outer product: exact up to one rounding
      if (inN * outN * 4 <= gpu.limits.maxStorageBufferBindingSize) {
        const dw = cs.matmul(a, dy, true, false);
        const dwv = await dw.data();
        for (const [k, j] of sampleCoords([inN, outN], 50, 15)) expect(dwv[k * outN + j]).toBeCloseTo(av[k] * gv[j], 6);
        dw.dispose();
      }
      cs.dispose([a, w, dy, y, da]);
    });
  }
});
