import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import type { Backend } from '../../src/engine/backend.ts';
import { erf64 } from '../../src/kernels/reference/erf.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';
import { backendNamed, webgpu } from '../helpers/backends.ts';
import { fastRandom } from '../helpers/sampled_reference.ts';

// The depthwise and resize kernels at the sizes real models run them, on WebGPU, against
// the float64 reference backend (cpu64) run on the same float32 inputs. The error of a float32
// sum grows with the sum of the magnitudes of its terms, so each bound is relative to
// S = the same op applied to |inputs| (also computed in float64), as in vgg16_layers.test.ts.

let gpu: WebGPUBackend;
let cpu64: Backend;
beforeAll(async () => {
  cpu64 = await backendNamed('cpu64');
  gpu = await webgpu();
});

type Op = (...xs: cs.Tensor[]) => cs.Tensor;

/** Runs op on both backends and checks |gpu - ref| <= rel * S + abs everywhere; returns the largest |gpu - ref|. */
async function compare(op: Op, inputs: Float32Array[], shapes: number[][], rel: number, abs: number, what: string): Promise<number> {
  cs.engine.useBackend(cpu64);
  const xs = inputs.map((v, i) => cs.tensor(v, shapes[i]));
  const absXs = inputs.map((v, i) => cs.tensor(v.map(Math.abs), shapes[i]));
  const ref = op(...xs);
  const scale = op(...absXs);
  const [rv, sv] = [await ref.dataRaw(), await scale.dataRaw()];
  cs.dispose([ref, scale, ...xs, ...absXs]);
  cs.engine.useBackend(gpu);
  const gs = inputs.map((v, i) => cs.tensor(v, shapes[i]));
  const t0 = performance.now();
  const out = op(...gs);
  const got = await out.data();
  const ms = performance.now() - t0;
  cs.dispose([out, ...gs]);
  expect(got.length).toBe(rv.length);
  let worst = 0;
  let used = 0;
  let bad = -1;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - rv[i]);
    const bound = rel * sv[i] + abs;
    worst = Math.max(worst, err);
    if (bound > 0) used = Math.max(used, err / bound);
    if (!(err <= bound) && bad < 0) bad = i;
  }
  console.log(`[depthwise_resize_erf] ${what}: ${ms.toFixed(0)} ms (first run, compile included), max |err| ${worst.toExponential(2)}, ${(100 * used).toFixed(0)}% of the bound`);
  expect(bad, bad >= 0 ? `${what} at flat index ${bad}: got ${got[bad]}, want ${rv[bad]} (S = ${sv[bad]})` : '').toBe(-1);
  return worst;
}

// MobileNet's depthwise layers at 224x224 input: 3x3 'same', stride 1 at 56x56x64... and stride 2 at 112x112x32.
// Forward and backprop input sum <= 9 float32 products: error <= 9 * 6e-8 * S. Backprop filter sums
// 3136 products per weight, in chunks of 32 and then a sum of 98 chunk totals: worst case
// (32 + 98) * 6e-8 = 7.8e-6 of S. One bound covers all three: 1e-5 * S (+1e-6 for S ~ 0).
const DW_REL = 1e-5;
describe('depthwise conv at MobileNet sizes (forward, backprop input, backprop filter) vs float64', () => {
  const layers: { name: string; x: number[]; stride: number }[] = [
    { name: '56x56x64, 3x3 same, stride 1', x: [1, 56, 56, 64], stride: 1 },
    { name: '112x112x32, 3x3 same, stride 2', x: [1, 112, 112, 32], stride: 2 },
  ];
  for (const l of layers) {
    it(l.name, async () => {
      const [, H, W, C] = l.x;
      const o = { padding: 'same' as const, strides: l.stride };
      const outShape = [1, Math.ceil(H / l.stride), Math.ceil(W / l.stride), C];
      const wShape = [3, 3, C, 1];
      const x = fastRandom(H * W * C, 11);
      const w = fastRandom(9 * C, 12, 0.5);
      const dy = fastRandom(outShape.reduce((a, b) => a * b), 13);
      await compare((a, b) => cs.depthwiseConv2d(a, b, o), [x, w], [l.x, wShape], DW_REL, 1e-6, `${l.name} forward`);
      await compare((a, b) => cs.depthwiseConv2dBackpropInput(a, b, l.x, o), [dy, w], [outShape, wShape], DW_REL, 1e-6, `${l.name} backprop input`);
      await compare((a, b) => cs.depthwiseConv2dBackpropFilter(a, b, wShape, o), [x, dy], [l.x, outShape], DW_REL, 1e-6, `${l.name} backprop filter`);
    });
  }

  it('multiplier 2 with dilation 2 at 28x28x24 (two passes of the filter reduction: 25 chunks)', async () => {
    const xShape = [1, 28, 28, 24];
    const wShape = [3, 3, 24, 2];
    const o = { padding: 'same' as const, dilations: 2 };
    const x = fastRandom(28 * 28 * 24, 14);
    const w = fastRandom(9 * 48, 15, 0.5);
    const dy = fastRandom(28 * 28 * 48, 16);
    await compare((a, b) => cs.depthwiseConv2d(a, b, o), [x, w], [xShape, wShape], DW_REL, 1e-6, 'multiplier 2 dilation 2 forward');
    await compare((a, b) => cs.depthwiseConv2dBackpropInput(a, b, xShape, o), [dy, w], [[1, 28, 28, 48], wShape], DW_REL, 1e-6, 'multiplier 2 dilation 2 backprop input');
    await compare((a, b) => cs.depthwiseConv2dBackpropFilter(a, b, wShape, o), [x, dy], [xShape, [1, 28, 28, 48]], DW_REL, 1e-6, 'multiplier 2 dilation 2 backprop filter');
  });
});

// Resizes: a value is a convex combination of <= 4 pixels with float32 weights (the same weights on
// both backends, see resize_geometry.ts), and a gradient a sum of <= (2 / scale + 1)^2 weighted dy values
// (16 for a 2x upsampling): a few float32 roundings of S, so 1e-6 * S (+1e-7). Nearest forward is a copy: exact.
const RS_REL = 1e-6;
describe('resizes at model sizes vs float64', () => {
  it('bilinear 56x56x32 -> 112x112 (UpSampling2D bilinear), halfPixelCenters, forward and backward', async () => {
    const x = fastRandom(56 * 56 * 32, 21);
    const dy = fastRandom(112 * 112 * 32, 22);
    const o = { halfPixelCenters: true };
    await compare((a) => cs.resizeBilinear(a, [112, 112], o), [x], [[1, 56, 56, 32]], RS_REL, 1e-7, 'resizeBilinear 56 -> 112 forward');
    await compare((a) => cs.resizeBilinearBackward(a, [1, 56, 56, 32], o), [dy], [[1, 112, 112, 32]], RS_REL, 1e-7, 'resizeBilinear 56 -> 112 backward');
  });

  it('bilinear 224x224x3 -> 299x299 (Resizing), each flag combination, forward and backward', async () => {
    const x = fastRandom(224 * 224 * 3, 23);
    const dy = fastRandom(299 * 299 * 3, 24);
    for (const o of [{}, { alignCorners: true }, { halfPixelCenters: true }]) {
      const tag = JSON.stringify(o);
      await compare((a) => cs.resizeBilinear(a, [299, 299], o), [x], [[1, 224, 224, 3]], RS_REL, 1e-7, `resizeBilinear 224 -> 299 ${tag} forward`);
      await compare((a) => cs.resizeBilinearBackward(a, [1, 224, 224, 3], o), [dy], [[1, 299, 299, 3]], RS_REL, 1e-7, `resizeBilinear 224 -> 299 ${tag} backward`);
    }
  });

  it('nearest 224x224x3 -> 299x299 and 299 -> 75, each flag combination: the same pixels as the reference', async () => {
    const x = fastRandom(224 * 224 * 3, 25);
    const dy = fastRandom(299 * 299 * 3, 26);
    const x299 = fastRandom(299 * 299 * 3, 27);
    for (const o of [{}, { alignCorners: true }, { halfPixelCenters: true }]) {
      const tag = JSON.stringify(o);
      await compare((a) => cs.resizeNearest(a, [299, 299], o), [x], [[1, 224, 224, 3]], 0, 0, `resizeNearest 224 -> 299 ${tag} forward`);
      await compare((a) => cs.resizeNearestBackward(a, [1, 224, 224, 3], o), [dy], [[1, 299, 299, 3]], RS_REL, 1e-7, `resizeNearest 224 -> 299 ${tag} backward`);
      await compare((a) => cs.resizeNearest(a, [75, 75], o), [x299], [[1, 299, 299, 3]], 0, 0, `resizeNearest 299 -> 75 ${tag} forward`);
    }
  });
});

describe('erf on WebGPU (float32)', () => {
  it('is within 2e-7 of erf on a dense grid of [-6, 6], and exact at 0, +-inf', async () => {
    const n = 1 << 20;
    const xs = Float32Array.from({ length: n }, (_, i) => -6 + (12 * i) / (n - 1));
    cs.engine.useBackend(gpu);
    const t = cs.tensor(xs, [n]);
    const y = cs.erf(t);
    const got = await y.data();
    let worst = 0;
    let at = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.abs(got[i] - erf64(xs[i]));
      if (e > worst) [worst, at] = [e, xs[i]];
    }
    console.log(`[depthwise_resize_erf] WGSL erf: max |err| = ${worst.toExponential(2)} at x = ${at} (${n} points)`);
    // the bound the kernel documents (src/kernels/wgsl/erf.ts): float32 rounding alone is up to 6e-8 here
    expect(worst).toBeLessThan(2e-7);
    const special = cs.tensor([0, -0, Infinity, -Infinity, 3.92, -3.92, 1, -1], [8]);
    const s = await cs.erf(special).data();
    expect(Math.abs(s[0]) + Math.abs(s[1])).toBe(0);
    expect(Array.from(s.slice(2, 6))).toEqual([1, -1, 1, -1]);
    expect(Math.abs(s[6] - erf64(1))).toBeLessThan(2e-7);
    expect(s[7]).toBe(-s[6]);
    cs.dispose([t, y, special]);
  });
});
