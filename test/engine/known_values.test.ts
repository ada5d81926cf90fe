import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';

// Small cases worked out by hand. The float32 'cpu' backend stores the results, so
// comparisons use toBeCloseTo at 5-6 digits where a value is not exactly representable.
const vals = (t: cs.Tensor) => Array.from(t.dataSync());
const close = (t: cs.Tensor, want: number[], digits = 5) => {
  const got = vals(t);
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(g, `element ${i}`).toBeCloseTo(want[i], digits));
};

beforeAll(async () => {
  await cs.setBackend('cpu');
});

describe('elementwise', () => {
  const x = () => cs.tensor([-2, -0.5, 0, 1, 4]);
  it('unary ops', () => {
    close(cs.relu(x()), [0, 0, 0, 1, 4]);
    close(cs.sigmoid(cs.tensor([0, Math.log(3)])), [0.5, 0.75]);
    close(cs.tanh(cs.tensor([0, Math.log(2)])), [0, 0.6]); // tanh(ln 2) = (4-1)/(4+1)
    close(cs.exp(cs.tensor([0, 1])), [1, Math.E]);
    close(cs.log(cs.tensor([1, Math.E, 0.5])), [0, 1, -Math.LN2]);
    close(cs.sqrt(cs.tensor([4, 2.25])), [2, 1.5]);
    close(cs.square(x()), [4, 0.25, 0, 1, 16]);
    close(cs.abs(x()), [2, 0.5, 0, 1, 4]);
    close(cs.neg(x()), [2, 0.5, -0, -1, -4]);
    close(cs.sign(x()), [-1, -1, 0, 1, 1]);
    close(cs.step(x()), [0, 0, 0, 1, 1]);
    close(cs.clip(x(), -1, 2), [-1, -0.5, 0, 1, 2]);
  });
  it('binary ops broadcast NumPy-style', () => {
    const a = cs.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    close(cs.add(a, cs.tensor([10, 20, 30])), [11, 22, 33, 14, 25, 36]);
    close(cs.sub(a, cs.tensor([1, 2], [2, 1])), [0, 1, 2, 2, 3, 4]);
    close(cs.mul(a, 2), [2, 4, 6, 8, 10, 12]);
    close(cs.div(1, cs.tensor([2, 4])), [0.5, 0.25]);
    close(cs.maximum(a, 3.5), [3.5, 3.5, 3.5, 4, 5, 6]);
    close(cs.minimum(a, cs.tensor([2, 5, 0])), [1, 2, 0, 2, 5, 0]);
    close(cs.greater(a, 3), [0, 0, 0, 1, 1, 1]);
    close(cs.greaterEqual(a, 3), [0, 0, 1, 1, 1, 1]);
    close(cs.less(a, 3), [1, 1, 0, 0, 0, 0]);
    close(cs.lessEqual(a, 3), [1, 1, 1, 0, 0, 0]);
    close(cs.equal(a, cs.tensor([1, 0, 3])), [1, 0, 1, 0, 0, 0]);
    close(cs.where(cs.tensor([1, 0, 1]), a, cs.tensor([-1])), [1, -1, 3, 4, -1, 6]);
    expect(cs.add(cs.tensor([1], [1, 1, 1]), cs.tensor([1, 2], [2])).shape).toEqual([1, 1, 2]);
  });
});

describe('reductions', () => {
  const x = () => cs.tensor([1, 5, 3, 4, 2, 6], [2, 3]);
  it('sum, mean, max, min over axes', () => {
    close(cs.sum(x()), [21]);
    close(cs.sum(x(), 0), [5, 7, 9]);
    close(cs.sum(x(), -1, true), [9, 12]);
    expect(cs.sum(x(), -1, true).shape).toEqual([2, 1]);
    close(cs.mean(x(), 1), [3, 4]);
    close(cs.max(x(), 1), [5, 6]);
    close(cs.min(x(), 0), [1, 2, 3]);
    close(cs.globalAvgPool(cs.tensor([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2])), [4, 5]);
    close(cs.globalMaxPool(cs.tensor([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2])), [7, 8]);
  });
});

describe('shape ops', () => {
  const x = () => cs.tensor([0, 1, 2, 3, 4, 5], [2, 3]);
  it('reshape, transpose, slice, concat, pad, broadcastTo, flatten', () => {
    expect(cs.reshape(x(), [3, -1]).shape).toEqual([3, 2]);
    close(cs.transpose(x()), [0, 3, 1, 4, 2, 5]);
    close(cs.transpose(cs.tensor([0, 1, 2, 3, 4, 5, 6, 7], [2, 2, 2]), [2, 0, 1]), [0, 2, 4, 6, 1, 3, 5, 7]);
    close(cs.slice(x(), [0, 1], [2, 2]), [1, 2, 4, 5]);
    close(cs.slice(x(), [1, 0]), [3, 4, 5]);
    close(cs.concat([x(), cs.tensor([9, 8], [2, 1])], 1), [0, 1, 2, 9, 3, 4, 5, 8]);
    close(cs.concat([x(), cs.tensor([7, 7, 7], [1, 3])], 0), [0, 1, 2, 3, 4, 5, 7, 7, 7]);
    close(cs.pad(cs.tensor([1, 2], [1, 2]), [[1, 0], [0, 1]], 9), [9, 9, 9, 1, 2, 9]);
    close(cs.broadcastTo(cs.tensor([1, 2], [2, 1]), [2, 3]), [1, 1, 1, 2, 2, 2]);
    expect(cs.flatten(cs.zeros([2, 3, 4, 5])).shape).toEqual([2, 60]);
  });
});

describe('linear ops', () => {
  it('matmul with transposes', () => {
    const a = cs.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = cs.tensor([1, 0, 0, 1, 1, 1], [3, 2]);
    close(cs.matmul(a, b), [4, 5, 10, 11]);
    close(cs.matmul(cs.transpose(a), cs.transpose(b), true, true), [4, 5, 10, 11]);
    close(cs.matmul(a, a, false, true), [14, 32, 32, 77]);
    close(cs.matmul(a, a, true, false), [17, 22, 27, 22, 29, 36, 27, 36, 45]);
  });
  it('biasAdd adds per channel', () => {
    close(cs.biasAdd(cs.zeros([1, 2, 1, 2]), cs.tensor([1, -1])), [1, -1, 1, -1]);
  });
  it('conv2d: a 2x2 box filter, valid and same', () => {
    // x = 1..9 in a 3x3 image; a 2x2 all-ones kernel sums each window
    const x = cs.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const w = cs.ones([2, 2, 1, 1]);
    close(cs.conv2d(x, w), [12, 16, 24, 28]);
    // 'same' with an even kernel pads only after (bottom/right), as TensorFlow
    close(cs.conv2d(x, w, { padding: 'same' }), [12, 16, 9, 24, 28, 15, 15, 17, 9]);
    close(cs.conv2d(x, w, { strides: 2, padding: 'same' }), [12, 9, 15, 9]);
    // dilation 2 with a 2x2 kernel reads the four corners
    close(cs.conv2d(x, w, { dilations: 2 }), [20]);
  });
  it('conv2d mixes channels through HWIO weights', () => {
    const x = cs.tensor([1, 10, 2, 20], [1, 1, 2, 2]); // two pixels, two channels
    const w = cs.tensor([1, 0, 1, 0.5, 1, -1], [1, 1, 2, 3]); // in 2 -> out 3
    // pixel (1,10): f0 = 1*1 + 10*0.5, f1 = 10*1, f2 = 1*1 - 10
    close(cs.conv2d(x, w), [6, 10, -9, 12, 20, -18]);
  });
  it('conv2d backprops: a single tap spreads dy back', () => {
    const w = cs.tensor([1, 2, 3, 4], [2, 2, 1, 1]);
    const dy = cs.tensor([1], [1, 1, 1, 1]);
    close(cs.conv2dBackpropInput(dy, w, [1, 2, 2, 1]), [1, 2, 3, 4]);
    const x = cs.tensor([5, 6, 7, 8], [1, 2, 2, 1]);
    close(cs.conv2dBackpropFilter(x, dy, [2, 2, 1, 1]), [5, 6, 7, 8]);
  });
});

describe('pooling and softmax', () => {
  const x = () => cs.tensor([1, 3, 2, 4, 8, 7, 6, 5, 0, -1, -2, -3, 9, 9, 1, 0], [1, 4, 4, 1]);
  it('maxPool and its backward (first maximum wins ties)', () => {
    close(cs.maxPool(x()), [8, 6, 9, 1]);
    // 'same' 3x3 stride 2 on 4x4: one row/column of padding after, none before
    close(cs.maxPool(x(), { poolSize: 3, strides: 2, padding: 'same' }), [8, 6, 9, 1]);
    close(cs.maxPool(x(), { poolSize: 3, strides: 1 }), [8, 7, 9, 9]);
    const back = cs.maxPoolBackward(cs.tensor([1, 2, 3, 4], [1, 2, 2, 1]), x());
    close(back, [0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0]);
  });
  it('avgPool counts only cells inside the image with same padding', () => {
    close(cs.avgPool(x()), [4.75, 4.25, 4.25, -1]);
    const y = cs.avgPool(cs.tensor([1, 2, 3, 4], [1, 2, 2, 1]), { poolSize: 3, strides: 1, padding: 'same' });
    close(y, [2.5, 2.5, 2.5, 2.5]);
    close(cs.avgPoolBackward(cs.tensor([4], [1, 1, 1, 1]), [1, 2, 2, 1]), [1, 1, 1, 1]);
  });
  it('softmax is stable for large logits', () => {
    close(cs.softmax(cs.tensor([0, Math.log(3), 1000, 1000], [2, 2])), [0.25, 0.75, 0.5, 0.5]);
  });
  it('leakyRelu and prelu', () => {
    close(cs.leakyRelu(cs.tensor([-10, 0, 3]), 0.1), [-1, 0, 3]);
    close(cs.prelu(cs.tensor([-2, 4, -6, 8], [2, 2]), cs.tensor([0.5, 0.25])), [-1, 4, -3, 8]);
  });
});

describe('random', () => {
  it('the same seed gives the same tensor; moments are right', () => {
    const a = vals(cs.randomUniform([1000], 20, 148, 7));
    expect(vals(cs.randomUniform([1000], 20, 148, 7))).toEqual(a);
    expect(vals(cs.randomUniform([1000], 20, 148, 8))).not.toEqual(a);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...a)).toBeLessThan(148);
    const n = vals(cs.randomNormal([20000], 3, 2, 1));
    const mean = n.reduce((s, v) => s + v, 0) / n.length;
    const sd = Math.sqrt(n.reduce((s, v) => s + (v - mean) ** 2, 0) / n.length);
    // standard error of the mean 2/sqrt(20000) = 0.014; allow 5 of them
    expect(Math.abs(mean - 3)).toBeLessThan(0.07);
    expect(Math.abs(sd - 2)).toBeLessThan(0.05);
  });
});
