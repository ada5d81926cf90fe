import { defineGradient } from '../gradient_registry.ts';
import type { Conv2DOptions } from '../../engine/ops/conv.ts';
import { depthwiseConv2d, depthwiseConv2dBackpropFilter, depthwiseConv2dBackpropInput } from '../../engine/ops/depthwise_conv.ts';
import type { Attrs } from '../../engine/kernel_registry.ts';

const opts = (a: Attrs): Conv2DOptions => ({
  strides: a.strides as [number, number],
  padding: a.padding as 'valid' | 'same',
  dilations: a.dilations as [number, number],
});

// y = D(x, w): dx = depthwiseConv2dBackpropInput(dy, w), dw = depthwiseConv2dBackpropFilter(x, dy)
defineGradient('depthwiseConv2d', {
  saves: ['x', 'filter'],
  inputs: {
    x: ({ dy, saved: { filter }, shapes, attrs }) => depthwiseConv2dBackpropInput(dy, filter, shapes.x, opts(attrs)),
    filter: ({ dy, saved: { x }, shapes, attrs }) => depthwiseConv2dBackpropFilter(x, dy, shapes.filter, opts(attrs)),
  },
});

// The backprops are linear in each argument and adjoint to the forward op, as conv2d's are
// (rules/linear.ts): with G the gradient arriving at their output,
// <G, BI(dy, w)> = <D(G, w), dy> = <w, BF(G, dy)>, so d/d dy = D(G, w) and d/dw = BF(G, dy);
defineGradient('depthwiseConv2dBackpropInput', {
  saves: ['dy', 'filter'],
  inputs: {
    dy: ({ dy: g, saved: { filter }, attrs }) => depthwiseConv2d(g, filter, opts(attrs)),
    filter: ({ dy: g, saved: { dy }, attrs, shapes }) => depthwiseConv2dBackpropFilter(g, dy, shapes.filter, opts(attrs)),
  },
});
// <G, BF(x, dy)> = <D(x, G), dy> = <x, BI(dy, G)>, so d/dx = BI(dy, G) and d/d dy = D(x, G).
defineGradient('depthwiseConv2dBackpropFilter', {
  saves: ['x', 'dy'],
  inputs: {
    x: ({ dy: g, saved: { dy }, attrs, shapes }) => depthwiseConv2dBackpropInput(dy, g, shapes.x, opts(attrs)),
    dy: ({ dy: g, saved: { x }, attrs }) => depthwiseConv2d(x, g, opts(attrs)),
  },
});
