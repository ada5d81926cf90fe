import { defineGradient, defineNonDifferentiable } from '../gradient_registry.ts';
import {
  div, exp, mul, neg, sub, square, step, sign, greaterEqual, lessEqual, less, greater, where,
} from '../../engine/ops/elementwise.ts';
import { zerosLike } from '../../engine/ops/creation.ts';
import { unbroadcast } from './unbroadcast.ts';

// ---- unary: dx = dy * f'(x), written with whichever of x and y is cheaper ----

defineGradient('relu', { saves: ['x'], inputs: { x: ({ dy, saved: { x } }) => mul(dy, step(x)) } });
// sigmoid' = y (1 - y)
defineGradient('sigmoid', { saves: ['y'], inputs: { x: ({ dy, saved: { y } }) => mul(dy, mul(y, sub(1, y))) } });
// tanh' = 1 - y^2
defineGradient('tanh', { saves: ['y'], inputs: { x: ({ dy, saved: { y } }) => mul(dy, sub(1, square(y))) } });
// exp' = y
defineGradient('exp', { saves: ['y'], inputs: { x: ({ dy, saved: { y } }) => mul(dy, y) } });
// log' = 1 / x
defineGradient('log', { saves: ['x'], inputs: { x: ({ dy, saved: { x } }) => div(dy, x) } });
// sqrt' = 1 / (2 y)
defineGradient('sqrt', { saves: ['y'], inputs: { x: ({ dy, saved: { y } }) => div(dy, mul(y, 2)) } });
// (x^2)' = 2 x
defineGradient('square', { saves: ['x'], inputs: { x: ({ dy, saved: { x } }) => mul(dy, mul(x, 2)) } });
// |x|' = sign(x)
defineGradient('abs', { saves: ['x'], inputs: { x: ({ dy, saved: { x } }) => mul(dy, sign(x)) } });
defineGradient('neg', { saves: [], inputs: { x: ({ dy }) => neg(dy) } });
// erf' = 2/sqrt(pi) exp(-x^2)
defineGradient('erf', { saves: ['x'], inputs: { x: ({ dy, saved: { x } }) => mul(dy, mul(exp(neg(square(x))), 2 / Math.sqrt(Math.PI))) } });
// clip passes the gradient where lo <= x <= hi
defineGradient('clip', {
  saves: ['x'],
  inputs: {
    x: ({ dy, saved: { x }, attrs }) => mul(dy, mul(greaterEqual(x, attrs.lo as number), lessEqual(x, attrs.hi as number))),
  },
});

// ---- binary, with broadcasting undone by unbroadcast ----

defineGradient('add', {
  saves: [],
  inputs: { a: ({ dy, shapes }) => unbroadcast(dy, shapes.a), b: ({ dy, shapes }) => unbroadcast(dy, shapes.b) },
});
defineGradient('sub', {
  saves: [],
  inputs: { a: ({ dy, shapes }) => unbroadcast(dy, shapes.a), b: ({ dy, shapes }) => unbroadcast(neg(dy), shapes.b) },
});
// d(ab) = b da + a db
defineGradient('mul', {
  saves: ['a', 'b'],
  inputs: {
    a: ({ dy, saved: { b }, shapes }) => unbroadcast(mul(dy, b), shapes.a),
    b: ({ dy, saved: { a }, shapes }) => unbroadcast(mul(dy, a), shapes.b),
  },
});
// d(a/b) = da / b - a db / b^2
defineGradient('div', {
  saves: ['a', 'b'],
  inputs: {
    a: ({ dy, saved: { b }, shapes }) => unbroadcast(div(dy, b), shapes.a),
    b: ({ dy, saved: { a, b }, shapes }) => unbroadcast(neg(div(mul(dy, a), square(b))), shapes.b),
  },
});
// the larger operand takes the gradient; a tie goes to a (as TensorFlow)
defineGradient('maximum', {
  saves: ['a', 'b'],
  inputs: {
    a: ({ dy, saved: { a, b }, shapes }) => unbroadcast(mul(dy, greaterEqual(a, b)), shapes.a),
    b: ({ dy, saved: { a, b }, shapes }) => unbroadcast(mul(dy, less(a, b)), shapes.b),
  },
});
defineGradient('minimum', {
  saves: ['a', 'b'],
  inputs: {
    a: ({ dy, saved: { a, b }, shapes }) => unbroadcast(mul(dy, lessEqual(a, b)), shapes.a),
    b: ({ dy, saved: { a, b }, shapes }) => unbroadcast(mul(dy, greater(a, b)), shapes.b),
  },
});
// where routes dy to the branch that was taken; cond gets none
defineGradient('where', {
  saves: ['cond'],
  inputs: {
    a: ({ dy, saved: { cond }, shapes }) => unbroadcast(where(cond, dy, zerosLike(dy)), shapes.a),
    b: ({ dy, saved: { cond }, shapes }) => unbroadcast(where(cond, zerosLike(dy), dy), shapes.b),
  },
});

// Piecewise-constant ops: derivative zero almost everywhere, not recorded.
defineNonDifferentiable('step', 'sign', 'greater', 'greaterEqual', 'less', 'lessEqual', 'equal');

