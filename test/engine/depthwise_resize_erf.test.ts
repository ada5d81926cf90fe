import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';

beforeAll(async () => {
  await cs.setBackend('cpu');
});

const values = (t: cs.Tensor) => Array.from(t.dataSync());

// Hand-derived values of the depthwise, resize and erf ops, and their error messages.
describe('known values', () => {
  it("depthwiseConv2d: output channel c*M + m is filter m of input channel c (TensorFlow's layout)", () => {
    // one pixel, 2 channels, multiplier 2, 1x1 filter w[0,0,c,m]
    const y = cs.depthwiseConv2d(cs.tensor([1, 10], [1, 1, 1, 2]), cs.tensor([2, 3, 5, 7], [1, 1, 2, 2]));
    expect(y.shape).toEqual([1, 1, 1, 4]);
    expect(values(y)).toEqual([2, 3, 50, 70]);
  });

  it("depthwiseConv2d 'same' 3x3 of ones on a 3x3 ramp, and its backprops spread one tap back", () => {
    const x = cs.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const y = cs.depthwiseConv2d(x, cs.ones([3, 3, 1, 1]), { padding: 'same' });
    // each output sums the 3x3 neighbourhood inside the image
    expect(values(y)).toEqual([12, 21, 16, 27, 45, 33, 24, 39, 28]);
    // a single dy at the centre, stride 2 'valid' on a 5x5 input: dx is the filter placed at rows/cols 2..4
    const w = cs.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [3, 3, 1, 1]);
    const dx = cs.depthwiseConv2dBackpropInput(cs.tensor([0, 0, 0, 1], [1, 2, 2, 1]), w, [1, 5, 5, 1], { strides: 2 });
    expect(values(dx)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 7, 8, 9]);
    // dw[ky, kx] = x at the tap the single dy reads
    const dw = cs.depthwiseConv2dBackpropFilter(cs.tensor(Array.from({ length: 25 }, (_, i) => i), [1, 5, 5, 1]), cs.tensor([0, 0, 0, 1], [1, 2, 2, 1]), [3, 3, 1, 1], { strides: 2 });
    expect(values(dw)).toEqual([12, 13, 14, 17, 18, 19, 22, 23, 24]);
  });

  it('resizeBilinear 1x2 -> 1x4 along a row, in each mode', () => {
    const x = cs.tensor([0, 4], [1, 1, 2, 1]);
    // legacy: src = o * 1/2 -> 0, 0.5, 1, 1.5 (clamped to the last pixel)
    expect(values(cs.resizeBilinear(x, [1, 4]))).toEqual([0, 2, 4, 4]);
    // align corners: src = o * 1/3
    expect(values(cs.resizeBilinear(x, [1, 4], { alignCorners: true })).map((v) => +v.toFixed(5))).toEqual([0, 1.33333, 2.66667, 4]);
    // half pixel: src = (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25
    expect(values(cs.resizeBilinear(x, [1, 4], { halfPixelCenters: true }))).toEqual([0, 1, 3, 4]);
  });

  it('resizeNearest 1x3 -> 1x5 and back to 1x2, in each mode; the backward op sums what each pixel fed', () => {
    const x = cs.tensor([1, 2, 3], [1, 1, 3, 1]);
    // legacy floor(o * 3/5): 0, 0, 1, 1, 2; align round(o * 2/4): 0, 1, 1, 2, 2 (0.5 rounds up); half pixel floor((o + 0.5) * 3/5): 0, 0, 1, 2, 2
    expect(values(cs.resizeNearest(x, [1, 5]))).toEqual([1, 1, 2, 2, 3]);
    expect(values(cs.resizeNearest(x, [1, 5], { alignCorners: true }))).toEqual([1, 2, 2, 3, 3]);
    expect(values(cs.resizeNearest(x, [1, 5], { halfPixelCenters: true }))).toEqual([1, 1, 2, 3, 3]);
    expect(values(cs.resizeNearestBackward(cs.tensor([1, 10, 100, 1000, 10000], [1, 1, 5, 1]), [1, 1, 3, 1], { halfPixelCenters: true }))).toEqual([11, 100, 11000]);
  });

  it('erf and gelu at a few points', () => {
    const e = values(cs.erf(cs.tensor([0, 0.5, -1, 2, 5])));
    [0, 0.5204998778130465, -0.8427007929497149, 0.9953222650189527, 1].forEach((v, i) => expect(e[i]).toBeCloseTo(v, 7));
    const g = values(cs.gelu(cs.tensor([-1, 0, 1, 3])));
    // x * Phi(x): Phi(1) = 0.841344746, Phi(3) = 0.998650102
    [-(1 - 0.841344746), 0, 0.841344746, 3 * 0.998650102].forEach((v, i) => expect(g[i]).toBeCloseTo(v, 6));
    const ga = values(cs.gelu(cs.tensor([1]), true));
    expect(ga[0]).toBeCloseTo(0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * 1.044715)), 6);
  });
});

describe('clear errors', () => {
  it('depthwise ops name the op and the shapes', () => {
    expect(() => cs.depthwiseConv2d(cs.zeros([1, 5, 5, 3]), cs.zeros([3, 3, 2, 1]))).toThrow(
      'depthwiseConv2d: input [1,5,5,3] has 3 channels but filter [3,3,2,1] expects 2',
    );
    expect(() => cs.depthwiseConv2d(cs.zeros([1, 5, 5, 3]), cs.zeros([3, 3, 3]))).toThrow('depthwiseConv2d: filter must be [kH, kW, C, M] (rank 4), got shape [3,3,3]');
    expect(() => cs.depthwiseConv2d(cs.zeros([1, 5, 5, 3]), cs.zeros([3, 3, 3, 1]), { strides: 2, dilations: 2 })).toThrow(/strides > 1 together with dilation > 1/);
    expect(() => cs.depthwiseConv2dBackpropInput(cs.zeros([1, 3, 3, 3]), cs.zeros([3, 3, 3, 2]), [1, 5, 5, 3])).toThrow(
      'depthwiseConv2dBackpropInput: dy [1,3,3,3] does not match the depthwise conv output [1,3,3,6] for input [1,5,5,3]',
    );
    expect(() => cs.depthwiseConv2dBackpropFilter(cs.zeros([1, 5, 5, 3]), cs.zeros([1, 3, 3, 3]), [3, 3, 3, 2])).toThrow(
      'depthwiseConv2dBackpropFilter: dy [1,3,3,3] does not match the depthwise conv output [1,3,3,6] for input [1,5,5,3]',
    );
  });

  it('resize ops reject bad sizes, ranks and flag combinations', () => {
    const x = cs.zeros([1, 4, 4, 1]);
    expect(() => cs.resizeBilinear(x, [3, 3], { alignCorners: true, halfPixelCenters: true })).toThrow(
      'resizeBilinear: alignCorners and halfPixelCenters cannot both be true (as in TensorFlow)',
    );
    expect(() => cs.resizeNearest(x, [0, 3])).toThrow('resizeNearest: size must be two positive integers [height, width], got [0,3]');
    expect(() => cs.resizeNearest(cs.zeros([4, 4, 1]), [2, 2])).toThrow('resizeNearest: input must be NHWC (rank 4), got shape [4,4,1]');
    expect(() => cs.resizeBilinearBackward(cs.zeros([2, 3, 3, 1]), [1, 4, 4, 1])).toThrow(
      'resizeBilinearBackward: dy [2,3,3,1] does not match input [1,4,4,1] (batch and channels must agree)',
    );
  });
});
