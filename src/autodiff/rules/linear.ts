import { defineGradient } from '../gradient_registry.ts';
import { matmul } from '../../engine/ops/matmul.ts';
import { conv2d, conv2dBackpropFilter, conv2dBackpropInput, type Conv2DOptions } from '../../engine/ops/conv.ts';
import { sum } from '../../engine/ops/reduce.ts';
import type { Attrs } from '../../engine/kernel_registry.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { mul, step } from '../../engine/ops/elementwise.ts';
import { zerosLike } from '../../engine/ops/creation.ts';

// C = A B:  dA = dC Bᵀ,  dB = Aᵀ dC  (with the forward transposes folded in)
defineGradient('matmul', {
  saves: ['a', 'b'],
  inputs: {
    a: ({ dy, saved: { b }, attrs }) => (attrs.transposeA ? matmul(b, dy, attrs.transposeB as boolean, true) : matmul(dy, b, false, !attrs.transposeB)),
    b: ({ dy, saved: { a }, attrs }) => (attrs.transposeB ? matmul(dy, a, true, attrs.transposeA as boolean) : matmul(a, dy, !attrs.transposeA, false)),
  },
});

// biasAdd: x gets dy; the bias gets dy summed over every axis but the channel axis
defineGradient('biasAdd', {
  saves: [],
  inputs: {
    x: ({ dy }) => dy,
    bias: ({ dy }) => sum(dy, dy.shape.slice(0, -1).map((_, i) => i)),
  },
});

const opts = (a: Attrs): Conv2DOptions => ({
  strides: a.strides as [number, number],
  padding: a.padding as 'valid' | 'same',
  dilations: a.dilations as [number, number],
});

// y = conv(x, w): dx = conv2dBackpropInput(dy, w), dw = conv2dBackpropFilter(x, dy)
defineGradient('conv2d', {
  saves: ['x', 'filter'],
  inputs: {
    x: ({ dy, saved: { filter }, shapes, attrs }) => conv2dBackpropInput(dy, filter, shapes.x, opts(attrs)),
    filter: ({ dy, saved: { x }, shapes, attrs }) => conv2dBackpropFilter(x, dy, shapes.filter, opts(attrs)),
  },
});

// y = relu(conv(x, w) + b): with dz = dy * step(y) (dz = dy when linear),
// dx = conv2dBackpropInput(dz, w) (the mask applied inside its kernel), dw = conv2dBackpropFilter(x, dz), db = sum of dz
const reluGate = (dy: Tensor, y: Tensor, attrs: Attrs) => (attrs.activation === 'relu' ? mul(dy, step(y)) : dy);
defineGradient('fusedConv2d', {
  saves: ['x', 'filter', 'y'],
  inputs: {
    x: ({ dy, saved: { filter, y }, shapes, attrs }) =>
      conv2dBackpropInput(dy, filter, shapes.x, { ...opts(attrs), reluOutput: attrs.activation === 'relu' ? y : undefined }),
    filter: ({ dy, saved: { x, y }, shapes, attrs }) => conv2dBackpropFilter(x, reluGate(dy, y, attrs), shapes.filter, opts(attrs)),
    bias: ({ dy, saved: { y }, attrs }) => sum(reluGate(dy, y, attrs), [0, 1, 2]),
  },
});

// The two backprops are linear in each argument, so their gradients are convolutions too:
// <G, Jᵀ(w) dy> = <J(w) G, dy>: d/d dy = conv2d(G, w),  d/dw = conv2dBackpropFilter(G, dy).
// With a ReLU mask m (dy was used as dy * step(m)) both see the masked dy, and m itself
// has gradient zero (step is flat almost everywhere).
defineGradient('conv2dBackpropInput', {
  saves: ['dy', 'filter', 'mask?'],
  inputs: {
    dy: ({ dy: g, saved: { filter, mask }, attrs }) => {
      const d = conv2d(g, filter, opts(attrs));
      return mask ? mul(d, step(mask)) : d;
    },
    filter: ({ dy: g, saved: { dy, mask }, attrs, shapes }) => conv2dBackpropFilter(g, mask ? mul(dy, step(mask)) : dy, shapes.filter, opts(attrs)),
    mask: ({ saved: { mask } }) => zerosLike(mask),
  },
});
// dw = B(x, dy): d/dx = conv2dBackpropInput(dy, G),  d/d dy = conv2d(x, G)
defineGradient('conv2dBackpropFilter', {
  saves: ['x', 'dy'],
  inputs: {
    x: ({ dy: g, saved: { dy }, attrs, shapes }) => conv2dBackpropInput(dy, g, shapes.x, opts(attrs)),
    dy: ({ dy: g, saved: { x }, attrs }) => conv2d(x, g, opts(attrs)),
  },
});
