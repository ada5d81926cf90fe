import { engine } from '../engine.ts';
import { broadcastShapes } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { scalar } from './creation.ts';

/**
 * Elementwise ops. Unary ops share one kernel family keyed by the op name;
 * binary ops broadcast NumPy-style. A plain number operand becomes a scalar tensor.
 */
export const UNARY_OPS = ['relu', 'sigmoid', 'tanh', 'exp', 'log', 'sqrt', 'square', 'abs', 'neg', 'sign', 'step', 'erf'] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'greater', 'greaterEqual', 'less', 'lessEqual', 'equal'] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

const unary = (op: UnaryOp) => (x: Tensor): Tensor => engine.runOp(op, { x });

export const relu = unary('relu');
export const sigmoid = unary('sigmoid');
export const tanh = unary('tanh');
export const exp = unary('exp');
/** Natural log; log of a negative number is NaN, of zero -Infinity, as in IEEE arithmetic. */
export const log = unary('log');
export const sqrt = unary('sqrt');
export const square = unary('square');
export const abs = unary('abs');
export const neg = unary('neg');
/** -1, 0 or 1. */
export const sign = unary('sign');
/** 1 where x > 0, else 0 (the derivative of relu; not differentiable itself). */
export const step = unary('step');
/** The error function 2/sqrt(pi) * integral from 0 to x of exp(-t^2) dt (float32 WGSL kernel: src/kernels/wgsl/erf.ts). */
export const erf = unary('erf');

/** min(max(x, lo), hi). */
export function clip(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) throw new Error(`clip: lower bound ${lo} is above upper bound ${hi}`);
  return engine.runOp('clip', { x }, { lo, hi });
}

/** A number operand becomes a scalar on the other operand's backend. */
function asTensor(v: Tensor | number, other: Tensor | number): Tensor {
  if (v instanceof Tensor) return v;
  return other instanceof Tensor ? engine.fromValues([v], [], other.handle.backend) : scalar(v);
}

const binary = (op: BinaryOp) => (a: Tensor | number, b: Tensor | number): Tensor => {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw new Error(`${op}: at least one operand must be a Tensor`);
  const ta = asTensor(a, b);
  const tb = asTensor(b, a);
  broadcastShapes(ta.shape, tb.shape, op); // throws with both shapes named
  const out = engine.runOp(op, { a: ta, b: tb });
  if (ta !== a) ta.dispose();
  if (tb !== b) tb.dispose();
  return out;
};

export const add = binary('add');
export const sub = binary('sub');
export const mul = binary('mul');
export const div = binary('div');
export const maximum = binary('maximum');
export const minimum = binary('minimum');
/** Comparisons return 1 or 0 and carry no gradient. */
export const greater = binary('greater');
export const greaterEqual = binary('greaterEqual');
export const less = binary('less');
export const lessEqual = binary('lessEqual');
export const equal = binary('equal');

/** cond ? a : b elementwise, all three broadcast together; cond is nonzero for true. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
  return engine.runOp('where', { cond, a, b });
}
