import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { erf64 } from '../../src/kernels/reference/erf.ts';
import { randValues } from '../helpers/random.ts';
import { maxRelDiff, tfjs } from '../helpers/tfjs.ts';

// Depthwise convolution, transposed convolution, image resizes, erf and gelu on our float32
// reference backend against TensorFlow.js's CPU backend, forward and gradients. The largest
// difference of each comparison is printed at the end (the README quotes them).
//
// Convolutions: both sum float32 products in different orders, a few dozen terms of size ~1
// here, so 1e-5 of (1 + |value|) as in vs_tfjs.test.ts.
const TOL = 1e-5;
// Bilinear resize: TensorFlow (and we) compute source positions and weights in float32, tfjs in
// float64; a position of size <= 17 differs by up to 17 * 6e-8 ~ 1e-6, which moves a value by
// that much times a pixel difference (<= 2 here), plus float32 rounding: 1e-5 again bounds it.
// Nearest resize only copies values: exact.
const EXACT = 0;

const measured: Record<string, number> = {};
function record(what: string, err: number) {
  measured[what] = Math.max(measured[what] ?? 0, err);
}
afterAll(() => {
  console.log(`[vs_tfjs_new_ops] largest differences from TF.js:\n${Object.entries(measured).map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join('\n')}`);
});

beforeAll(async () => {
  await cs.setBackend('cpu');
  await tfjs();
});

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

type Case = {
  name: string;
  group: string;
  shapes: number[][];
  ours: (...x: cs.Tensor[]) => cs.Tensor;
  theirs: (tf: any, ...x: any[]) => any;
  tol: number;
  /** For the gradients, when it differs from tol. */
  gradTol?: number;
  /** Why there is no tf.grads comparison (finite differences and the adjoint checks cover ours). */
  forwardOnly?: string;
};

const cases: Case[] = [
  {
    name: 'depthwiseConv2d same stride 2, multiplier 3',
    group: 'depthwiseConv2d',
    shapes: [[2, 9, 11, 5], [3, 3, 5, 3]],
    ours: (x, w) => cs.depthwiseConv2d(x, w, { padding: 'same', strides: 2 }),
    theirs: (tf, x, w) => tf.depthwiseConv2d(x, w, 2, 'same'),
    tol: TOL,
  },
  {
    name: 'depthwiseConv2d valid 5x5, multiplier 1',
    group: 'depthwiseConv2d',
    shapes: [[1, 8, 9, 4], [5, 5, 4, 1]],
    ours: (x, w) => cs.depthwiseConv2d(x, w),
    theirs: (tf, x, w) => tf.depthwiseConv2d(x, w, 1, 'valid'),
    tol: TOL,
  },
  {
    name: 'depthwiseConv2d valid strides [2, 1], 2x4 kernel, multiplier 2',
    group: 'depthwiseConv2d',
    shapes: [[1, 7, 8, 3], [2, 4, 3, 2]],
    ours: (x, w) => cs.depthwiseConv2d(x, w, { strides: [2, 1] }),
    theirs: (tf, x, w) => tf.depthwiseConv2d(x, w, [2, 1], 'valid'),
    tol: TOL,
  },
  {
    name: 'depthwiseConv2d same 3x3 dilation 2, multiplier 2',
    group: 'depthwiseConv2d',
    forwardOnly: 'tfjs: "dilation rates greater than 1 are not yet supported" in depthwiseConv2d gradients',
    shapes: [[1, 9, 8, 3], [3, 3, 3, 2]],
    ours: (x, w) => cs.depthwiseConv2d(x, w, { padding: 'same', dilations: 2 }),
    theirs: (tf, x, w) => tf.depthwiseConv2d(x, w, 1, 'same', 'NHWC', 2),
    tol: TOL,
  },
  {
    name: 'conv2dTranspose same stride 2 (conv2dBackpropInput)',
    group: 'conv2dTranspose',
    shapes: [[2, 4, 5, 6], [3, 3, 4, 6]],
    ours: (x, w) => cs.conv2dBackpropInput(x, w, [2, 8, 10, 4], { padding: 'same', strides: 2 }),
    theirs: (tf, x, w) => tf.conv2dTranspose(x, w, [2, 8, 10, 4], 2, 'same'),
    tol: TOL,
  },
  {
    name: 'conv2dTranspose valid stride 2 3x3 to an odd size',
    group: 'conv2dTranspose',
    shapes: [[1, 4, 3, 5], [3, 3, 2, 5]],
    ours: (x, w) => cs.conv2dBackpropInput(x, w, [1, 9, 7, 2], { strides: 2 }),
    theirs: (tf, x, w) => tf.conv2dTranspose(x, w, [1, 9, 7, 2], 2, 'valid'),
    tol: TOL,
  },
  {
    name: 'erf on [-4.5, 4.5]',
    group: 'erf',
    shapes: [[40, 25]],
    ours: (x) => cs.erf(cs.mul(x, 4.5)),
    theirs: (tf, x) => tf.erf(tf.mul(x, 4.5)),
    // tfjs's erf is Abramowitz & Stegun 7.1.26, max error 1.5e-7; ours is within 8e-8 of erf (float32
    // rounding included): 1.5e-7 + 8e-8 + slack for the 1 + |v| scaling = 3e-7
    tol: 3e-7,
    // both take 2/sqrt(pi) exp(-x^2) dy in float32: a few ulps
    gradTol: 1e-6,
  },
  {
    name: 'gelu exact on [-3, 3] (tfjs-layers formula: x * 0.5 (1 + erf(x / sqrt 2)))',
    group: 'gelu',
    shapes: [[30, 20]],
    ours: (x) => cs.gelu(cs.mul(x, 3)),
    theirs: (tf, x) => {
      const z = tf.mul(x, 3);
      return tf.mul(z, tf.mul(0.5, tf.add(1, tf.erf(tf.div(z, Math.SQRT2)))));
    },
    // tfjs's erf error (1.5e-7) times 0.5 |x| <= 1.5, plus rounding: 5e-7
    tol: 5e-7,
    // the gradient 0.5 (1 + erf) + x exp(-x^2/2) / sqrt(2 pi) carries half of tfjs's erf error
    gradTol: 1e-6,
  },
  {
    name: 'gelu tanh approximation on [-3, 3] (tfjs-layers gelu_new formula)',
    group: 'gelu',
    shapes: [[30, 20]],
    ours: (x) => cs.gelu(cs.mul(x, 3), true),
    theirs: (tf, x) => {
      const z = tf.mul(x, 3);
      return tf.mul(0.5, tf.mul(z, tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(z, tf.mul(0.044715, tf.pow(z, 3))))))));
    },
    tol: TOL,
  },
];

describe('depthwise conv, transposed conv, erf and gelu agree with TensorFlow.js (forward and gradients)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const tf = await tfjs();
      const data = c.shapes.map((s, i) => randValues(size(s), 400 + i));
      const ours = data.map((d, i) => cs.tensor(d, c.shapes[i]));
      const theirs = data.map((d, i) => tf.tensor(d, c.shapes[i]));
      const y = c.ours(...ours);
      const ty = c.theirs(tf, ...theirs);
      expect(y.shape).toEqual(ty.shape);
      const fwd = maxRelDiff(y.dataSync(), ty.dataSync());
      record(`${c.group} forward`, fwd);
      expect(fwd).toBeLessThan(c.tol);
      if (!c.forwardOnly) {
        const r = randValues(y.size, 7);
        const { grads } = cs.valueAndGrads((...xs) => cs.sum(cs.mul(c.ours(...xs), cs.tensor(r, y.shape))))(...ours);
        const tgrads = tf.grads((...xs: any[]) => tf.sum(tf.mul(c.theirs(tf, ...xs), tf.tensor(r, ty.shape))))(theirs);
        grads.forEach((g, i) => {
          const e = maxRelDiff(g.dataSync(), tgrads[i].dataSync());
          record(`${c.group} gradient`, e);
          expect(e, `input ${i}`).toBeLessThan(c.gradTol ?? c.tol);
        });
        cs.dispose(grads);
        tf.dispose(tgrads);
      }
      cs.dispose([y, ...ours]);
      tf.dispose([ty, ...theirs]);
    });
  }

  it('erf of the float64 reference agrees with tabulated values (A&S table 7.1) to 1e-15', () => {
    const table: [number, number][] = [
      [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [1.5, 0.9661051464753108],
      [2, 0.9953222650189527], [2.5, 0.999593047982555], [3, 0.9999779095030014], [4, 0.9999999845827421],
    ];
    for (const [x, v] of table) {
      expect(Math.abs(erf64(x) - v)).toBeLessThan(1e-15);
      expect(erf64(-x)).toBe(-erf64(x));
    }
  });
});

/**
 * The gradient of a linear map f, applied to r, straight from TF.js's forward pass: pushing
 * every basis image through tfjs's own forward gives the columns of its matrix, so
 * d sum(f(x) r) / dx = Jᵀ r needs no tfjs gradient kernel.
 */
function adjointOfForward(tf: any, f: (t: any) => any, xShape: number[], r: Float32Array, yShape: number[]): Float32Array {
  const [B, ...img] = xShape;
  const n = size(img);
  const basis = tf.reshape(tf.oneHot(tf.range(0, n, 1, 'int32'), n), [n, ...img]);
  const cols = tf.reshape(f(basis), [n, size(yShape.slice(1))]);
  const rr = tf.reshape(tf.tensor(r), [B, size(yShape.slice(1))]);
  const g = tf.transpose(tf.matMul(cols, rr, false, true));
  const out = g.dataSync() as Float32Array;
  tf.dispose([basis, cols, rr, g]);
  return out;
}

type ResizeCase = { name: string; xShape: number[]; size: [number, number]; o: cs.ResizeOptions; nearest: boolean };
function resizeCases(): ResizeCase[] {
  const out: ResizeCase[] = [];
  const flagSets: [string, cs.ResizeOptions][] = [['', {}], [' alignCorners', { alignCorners: true }], [' halfPixelCenters', { halfPixelCenters: true }]];
  const geometries: [string, number[], [number, number]][] = [
    ['up 7x5 -> 13x11, batch 2', [2, 7, 5, 3], [13, 11]],
    ['down 17x13 -> 6x5', [1, 17, 13, 2], [6, 5]],
    ['square up 6x6 -> 11x9', [1, 6, 6, 2], [11, 9]],
    ['square down 11x11 -> 4x7, batch 2', [2, 11, 11, 2], [4, 7]],
  ];
  for (const nearest of [false, true]) {
    for (const [gname, xShape, sz] of geometries) {
      for (const [fname, o] of flagSets) out.push({ name: `${nearest ? 'resizeNearest' : 'resizeBilinear'} ${gname}${fname}`, xShape, size: sz, o, nearest });
    }
  }
  return out;
}

const tfResize = (tf: any, c: ResizeCase) => (t: any) =>
  c.nearest
    ? tf.image.resizeNearestNeighbor(t, c.size, c.o.alignCorners ?? false, c.o.halfPixelCenters ?? false)
    : tf.image.resizeBilinear(t, c.size, c.o.alignCorners ?? false, c.o.halfPixelCenters ?? false);
const csResize = (c: ResizeCase) => (t: cs.Tensor) => (c.nearest ? cs.resizeNearest(t, c.size, c.o) : cs.resizeBilinear(t, c.size, c.o));

describe('resizeBilinear and resizeNearest agree with tf.image (forward, and gradient against the adjoint of its forward)', () => {
  for (const c of resizeCases()) {
    it(c.name, async () => {
      const tf = await tfjs();
      const data = randValues(size(c.xShape), 500);
      const x = cs.tensor(data, c.xShape);
      const tx = tf.tensor(data, c.xShape);
      const y = csResize(c)(x);
      const ty = tfResize(tf, c)(tx);
      expect(y.shape).toEqual(ty.shape);
      const fwd = maxRelDiff(y.dataSync(), ty.dataSync());
      record(`${c.nearest ? 'resizeNearest' : 'resizeBilinear'} forward`, fwd);
      expect(fwd).toBeLessThanOrEqual(c.nearest ? EXACT : TOL);
      const r = randValues(y.size, 9);
      const g = cs.grad((t) => cs.sum(cs.mul(csResize(c)(t), cs.tensor(r, y.shape))))(x);
      const want = adjointOfForward(tf, tfResize(tf, c), c.xShape, r, ty.shape);
      const e = maxRelDiff(g.dataSync(), want);
      record(`${c.nearest ? 'resizeNearest' : 'resizeBilinear'} gradient vs adjoint of tfjs forward`, e);
      // float32 sums of a few products of size ~1 in different orders
      expect(e).toBeLessThan(TOL);
      // tf.grad too, where tfjs's gradient kernels are right: both ignore halfPixelCenters, the
      // bilinear one reports [batch, width, height, channels] (so tf.grad only takes square images),
      // and the nearest one steps through dy with the image's batch stride (wrong for batch > 1)
      if (!c.o.halfPixelCenters && c.xShape[1] === c.xShape[2] && (!c.nearest || c.xShape[0] === 1)) {
        const tg = tf.grad((t: any) => tf.sum(tf.mul(tfResize(tf, c)(t), tf.tensor(r, ty.shape))))(tx);
        const eg = maxRelDiff(g.dataSync(), tg.dataSync());
        record(`${c.nearest ? 'resizeNearest' : 'resizeBilinear'} gradient vs tf.grad`, eg);
        expect(eg).toBeLessThan(TOL);
        tg.dispose();
      }
      cs.dispose([x, y, g]);
      tf.dispose([tx, ty]);
    });
  }
});

describe('where TensorFlow.js differs from TensorFlow', () => {
  it('resize gradients with halfPixelCenters: tfjs ignores the flag in its gradient kernels (ours is the adjoint of the forward)', async () => {
    const tf = await tfjs();
    for (const nearest of [false, true]) {
      const c: ResizeCase = { name: '', xShape: [1, 6, 6, 1], size: [11, 9], o: { halfPixelCenters: true }, nearest };
      const data = randValues(36, 501);
      const r = randValues(99, 502);
      const want = adjointOfForward(tf, tfResize(tf, c), c.xShape, r, [1, 11, 9, 1]);
      const ours = cs.grad((t) => cs.sum(cs.mul(csResize(c)(t), cs.tensor(r, [1, 11, 9, 1]))))(cs.tensor(data, c.xShape));
      const theirs = tf.grad((t: any) => tf.sum(tf.mul(tfResize(tf, c)(t), tf.tensor(r, [1, 11, 9, 1]))))(tf.tensor(data, c.xShape));
      expect(maxRelDiff(ours.dataSync(), want)).toBeLessThan(TOL);
      expect(maxRelDiff(theirs.dataSync(), want), nearest ? 'nearest' : 'bilinear').toBeGreaterThan(0.1);
      ours.dispose();
      theirs.dispose();
    }
  });

  it('resizeNearest gradient with batch 2: tfjs reads dy at the image batch stride; ours is the adjoint of the forward', async () => {
    const tf = await tfjs();
    const c: ResizeCase = { name: '', xShape: [2, 11, 11, 2], size: [4, 7], o: {}, nearest: true };
    const data = randValues(size(c.xShape), 503);
    const r = randValues(2 * 4 * 7 * 2, 504);
    const want = adjointOfForward(tf, tfResize(tf, c), c.xShape, r, [2, 4, 7, 2]);
    const ours = cs.grad((t) => cs.sum(cs.mul(csResize(c)(t), cs.tensor(r, [2, 4, 7, 2]))))(cs.tensor(data, c.xShape));
    const theirs = tf.grad((t: any) => tf.sum(tf.mul(tfResize(tf, c)(t), tf.tensor(r, [2, 4, 7, 2]))))(tf.tensor(data, c.xShape));
    expect(maxRelDiff(ours.dataSync(), want)).toBeLessThan(TOL);
    // the second image's gradient is not the adjoint's (NaN from reads past the end of dy, or wrong values)
    expect(maxRelDiff(theirs.dataSync().slice(242), want.slice(242)) < 0.1).toBe(false);
    ours.dispose();
    theirs.dispose();
  });

  it('nearest 224 -> 299 with halfPixelCenters: output row 149 samples row 112 (TensorFlow, float32, and the exact 149.5 * 224 / 299 = 112); tfjs, in float64, takes 111', async () => {
    const tf = await tfjs();
    const rows = Float32Array.from({ length: 224 }, (_, i) => i);
    const ours = cs.resizeNearest(cs.tensor(rows, [1, 224, 1, 1]), [299, 1], { halfPixelCenters: true }).dataSync();
    const theirs = tf.image.resizeNearestNeighbor(tf.tensor4d(rows, [1, 224, 1, 1]), [299, 1], false, true).dataSync();
    expect(ours[149]).toBe(112);
    expect(theirs[149]).toBe(111);
    // every other row agrees
    expect(Array.from(ours).filter((v, i) => v !== theirs[i])).toEqual([112]);
  });
});
