import { defineGradient } from '../gradient_registry.ts';
import { avgPool, avgPoolBackward, maxPoolBackward, type PoolOptions } from '../../engine/ops/pool.ts';
import { mul, sub } from '../../engine/ops/elementwise.ts';
import { sum } from '../../engine/ops/reduce.ts';
import type { Attrs } from '../../engine/kernel_registry.ts';

const opts = (a: Attrs): PoolOptions => ({
  poolSize: a.poolSize as [number, number],
  strides: a.strides as [number, number],
  padding: a.padding as 'valid' | 'same',
});

// max pooling: each window's dy goes to its (first) maximum
defineGradient('maxPool', {
  saves: ['x'],
  inputs: { x: ({ dy, saved: { x }, attrs }) => maxPoolBackward(dy, x, opts(attrs)) },
});

// average pooling: each window's dy is shared equally by the cells it averaged
defineGradient('avgPool', {
  saves: [],
  inputs: { x: ({ dy, shapes, attrs }) => avgPoolBackward(dy, shapes.x, opts(attrs)) },
});
// avgPoolBackward is linear in dy and is avgPool's adjoint, so its own gradient is avgPool
defineGradient('avgPoolBackward', {
  saves: [],
  inputs: { dy: ({ dy: g, attrs }) => avgPool(g, opts(attrs)) },
});
// maxPoolBackward (a second-order path) has no rule: asking for it is a clear error.

// softmax: dx = y * (dy - sum(dy * y) over the softmax axis)
defineGradient('softmax', {
  saves: ['y'],
  inputs: { x: ({ dy, saved: { y } }) => mul(y, sub(dy, sum(mul(dy, y), [y.rank - 1], true))) },
});
