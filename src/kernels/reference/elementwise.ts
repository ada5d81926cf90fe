import { registerKernel } from '../../engine/kernel_registry.ts';
import { broadcastShapes, stridesOf } from '../../engine/shape.ts';
import type { UnaryOp, BinaryOp } from '../../engine/ops/elementwise.ts';
import { output, valuesOf, type FloatArray } from './backend.ts';
import { erf64 } from './erf.ts';

const F = 'reference';

const unaryFns: Record<UnaryOp, (x: number) => number> = {
  relu: (x) => (x > 0 ? x : 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  square: (x) => x * x,
  abs: Math.abs,
  neg: (x) => -x,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  step: (x) => (x > 0 ? 1 : 0),
  erf: erf64,
};

for (const [op, fn] of Object.entries(unaryFns)) {
  registerKernel(op, F, ({ x }, _a, backend) => {
    const xv = valuesOf(x);
    const { out, v } = output(backend, [...x.shape]);
    for (let i = 0; i < v.length; i++) v[i] = fn(xv[i]);
    return out;
  });
}

registerKernel('clip', F, ({ x }, a, backend) => {
  const { lo, hi } = a as { lo: number; hi: number };
  const xv = valuesOf(x);
  const { out, v } = output(backend, [...x.shape]);
  for (let i = 0; i < v.length; i++) v[i] = Math.min(Math.max(xv[i], lo), hi);
  return out;
});

const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  maximum: (a, b) => (a >= b ? a : b),
  minimum: (a, b) => (a <= b ? a : b),
  greater: (a, b) => (a > b ? 1 : 0),
  greaterEqual: (a, b) => (a >= b ? 1 : 0),
  less: (a, b) => (a < b ? 1 : 0),
  lessEqual: (a, b) => (a <= b ? 1 : 0),
  equal: (a, b) => (a === b ? 1 : 0),
};

/**
 * For each flat output index, the flat index into an input of shape `inShape`
 * broadcast to `outShape` (size-1 and missing axes repeat).
 */
export function broadcastIndexMap(inShape: readonly number[], outShape: readonly number[]): Int32Array {
  const rank = outShape.length;
  const lead = rank - inShape.length;
  const inStrides = stridesOf(inShape);
  const outStrides = stridesOf(outShape);
  let n = 1;
  for (const d of outShape) n *= d;
  const map = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let ax = 0; ax < rank; ax++) {
      const c = Math.floor(rem / outStrides[ax]);
      rem -= c * outStrides[ax];
      if (ax >= lead && inShape[ax - lead] !== 1) j += c * inStrides[ax - lead];
    }
    map[i] = j;
  }
  return map;
}

function gatherBroadcast(v: FloatArray, inShape: readonly number[], outShape: readonly number[]): (i: number) => number {
  if (inShape.length === outShape.length && inShape.every((d, i) => d === outShape[i])) return (i) => v[i];
  const map = broadcastIndexMap(inShape, outShape);
  return (i) => v[map[i]];
}

for (const [op, fn] of Object.entries(binaryFns)) {
  registerKernel(op, F, ({ a, b }, _attrs, backend) => {
    const shape = broadcastShapes(a.shape, b.shape, op);
    const ga = gatherBroadcast(valuesOf(a), a.shape, shape);
    const gb = gatherBroadcast(valuesOf(b), b.shape, shape);
    const { out, v } = output(backend, shape);
    for (let i = 0; i < v.length; i++) v[i] = fn(ga(i), gb(i));
    return out;
  });
}

registerKernel('where', F, ({ cond, a, b }, _attrs, backend) => {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
  const gc = gatherBroadcast(valuesOf(cond), cond.shape, shape);
  const ga = gatherBroadcast(valuesOf(a), a.shape, shape);
  const gb = gatherBroadcast(valuesOf(b), b.shape, shape);
  const { out, v } = output(backend, shape);
  for (let i = 0; i < v.length; i++) v[i] = gc(i) !== 0 ? ga(i) : gb(i);
  return out;
});

registerKernel('broadcastTo', F, ({ x }, a, backend) => {
  const shape = a.shape as number[];
  const g = gatherBroadcast(valuesOf(x), x.shape, shape);
  const { out, v } = output(backend, shape);
  for (let i = 0; i < v.length; i++) v[i] = g(i);
  return out;
});
