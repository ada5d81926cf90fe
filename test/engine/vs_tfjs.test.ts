import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { randValues } from '../helpers/random.ts';
import { tfjs, maxRelDiff } from '../helpers/tfjs.ts';

// Our float32 reference backend against TensorFlow.js's CPU backend, forward and
// gradient, at shapes with odd sizes, strides, dilation and 'same' padding. Both
// sum in float32 in different orders: sums of up to ~600 products of values in
// [-1, 1] differ by a few ulps of the sum, so 1e-5 relative (to 1 + |value|) is the bound.
const TOL = 1e-5;

beforeAll(async () => {
  await cs.setBackend('cpu');
  await tfjs();
});

type Case = {
  /** Set where tfjs has no gradient to compare with (then finite differences alone check ours). */
  forwardOnly?: string;
  name: string; shapes: number[][]; ours: (...x: cs.Tensor[]) => cs.Tensor; theirs: (tf: any, ...x: any[]) => any };
const cases: Case[] = [
  {
    name: 'conv2d same stride 2',
    shapes: [[2, 9, 11, 5], [3, 3, 5, 7]],
    ours: (x, w) => cs.conv2d(x, w, { padding: 'same', strides: 2 }),
    theirs: (tf, x, w) => tf.conv2d(x, w, 2, 'same'),
  },
  {
    name: 'conv2d valid dilation 2',
    forwardOnly: 'tfjs: "dilation rates greater than 1 are not yet supported in gradients"',
    shapes: [[1, 10, 9, 3], [3, 3, 3, 4]],
    ours: (x, w) => cs.conv2d(x, w, { dilations: 2 }),
    theirs: (tf, x, w) => tf.conv2d(x, w, 1, 'valid', 'NHWC', 2),
  },
  {
    name: 'conv2d same 5x5',
    shapes: [[1, 8, 8, 4], [5, 5, 4, 6]],
    ours: (x, w) => cs.conv2d(x, w, { padding: 'same' }),
    theirs: (tf, x, w) => tf.conv2d(x, w, 1, 'same'),
  },
  {
    name: 'fusedConv2d same stride 2 relu (tf.fused.conv2d)',
    shapes: [[2, 9, 11, 5], [3, 3, 5, 7], [7]],
    ours: (x, w, b) => cs.fusedConv2d(x, w, b, { padding: 'same', strides: 2, activation: 'relu' }),
    theirs: (tf, x, w, b) => tf.fused.conv2d({ x, filter: w, strides: 2, pad: 'same', bias: b, activation: 'relu' }),
  },
  {
    name: 'maxPool 3x3 s2 same',
    shapes: [[2, 9, 7, 3]],
    ours: (x) => cs.maxPool(x, { poolSize: 3, strides: 2, padding: 'same' }),
    theirs: (tf, x) => tf.maxPool(x, 3, 2, 'same'),
  },
  {
    name: 'avgPool 3x3 s2 valid',
    shapes: [[1, 7, 8, 3]],
    ours: (x) => cs.avgPool(x, { poolSize: 3, strides: 2 }),
    theirs: (tf, x) => tf.avgPool(x, 3, 2, 'valid'),
  },
  {
    name: 'avgPool 3x3 s2 same',
    forwardOnly: "tfjs's avgPool gradient divides by the whole window at padded borders, disagreeing with its own forward (test below)",
    shapes: [[1, 7, 8, 3]],
    ours: (x) => cs.avgPool(x, { poolSize: 3, strides: 2, padding: 'same' }),
    theirs: (tf, x) => tf.avgPool(x, 3, 2, 'same'),
  },
  { name: 'matmul', shapes: [[7, 33], [33, 5]], ours: (a, b) => cs.matmul(a, b), theirs: (tf, a, b) => tf.matMul(a, b) },
  { name: 'softmax', shapes: [[3, 10]], ours: (x) => cs.softmax(cs.mul(x, 5)), theirs: (tf, x) => tf.softmax(tf.mul(x, 5)) },
  {
    name: 'mean of relu of biasAdd',
    shapes: [[2, 4, 4, 3], [3]],
    ours: (x, b) => cs.mean(cs.relu(cs.biasAdd(x, b)), [1, 2]),
    theirs: (tf, x, b) => tf.mean(tf.relu(tf.add(x, b)), [1, 2]),
  },
];

describe('reference backend agrees with TensorFlow.js (forward and gradients)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const tf = await tfjs();
      const data = c.shapes.map((s, i) => randValues(s.reduce((a, b) => a * b, 1), 100 + i));
      const ours = data.map((d, i) => cs.tensor(d, c.shapes[i]));
      const theirs = data.map((d, i) => tf.tensor(d, c.shapes[i]));
      // forward
      const y = c.ours(...ours);
      const ty = c.theirs(tf, ...theirs);
      expect(y.shape).toEqual(ty.shape);
      expect(maxRelDiff(y.dataSync(), ty.dataSync())).toBeLessThan(TOL);
      if (c.forwardOnly) {
        cs.dispose([y, ...ours]);
        tf.dispose([ty, ...theirs]);
        return;
      }
      // gradients of sum(y * r) with respect to every input
      const r = randValues(y.size, 7);
      const { grads } = cs.valueAndGrads((...xs) => cs.sum(cs.mul(c.ours(...xs), cs.tensor(r, y.shape))))(...ours);
      const tgrads = tf.grads((...xs: any[]) => tf.sum(tf.mul(c.theirs(tf, ...xs), tf.tensor(r, ty.shape))))(theirs);
      grads.forEach((g, i) => expect(maxRelDiff(g.dataSync(), tgrads[i].dataSync()), `input ${i}`).toBeLessThan(TOL));
      cs.dispose([y, ...ours, ...grads]);
      tf.dispose([ty, ...theirs, ...tgrads]);
    });
  }
});

describe('where TensorFlow.js is wrong', () => {
  it("avgPool 'same' gradient at a padded corner: ours matches tfjs's own forward by finite differences, tfjs's gradient does not", async () => {
    const tf = await tfjs();
    // 2x2 image, 3x3 window, stride 1, 'same': every window holds all 4 cells, so y = mean(x) at each
    // of the 4 outputs and d sum(y) / dx = 4 * 1/4 = 1 for every cell.
    const x = [1, 2, 3, 4];
    const f = (v: number[]) => tf.sum(tf.avgPool(tf.tensor4d(v, [1, 2, 2, 1]), 3, 1, 'same')).dataSync()[0];
    const eps = 1e-2;
    const numeric = (f([x[0] + eps, 2, 3, 4]) - f([x[0] - eps, 2, 3, 4])) / (2 * eps);
    expect(numeric).toBeCloseTo(1, 3);
    const theirs = tf.grad((t: any) => tf.sum(tf.avgPool(t, 3, 1, 'same')))(tf.tensor(x, [1, 2, 2, 1])).dataSync();
    const ours = cs.grad((t) => cs.sum(cs.avgPool(t, { poolSize: 3, strides: 1, padding: 'same' })))(cs.tensor(x, [1, 2, 2, 1])).dataSync();
    expect(Array.from(ours)).toEqual([1, 1, 1, 1]);
    expect(theirs[0]).toBeCloseTo(4 / 9, 5); // tfjs divides by the 9 window cells, 5 of them padding
  });
});
