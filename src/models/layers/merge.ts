/** Merge layers: elementwise Add, Subtract, Multiply, Average, Maximum, Minimum (broadcasting as Keras), and Concatenate. */
import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { Shape } from '../keras/spec.ts';
import { defineLayer } from './layer_definition.ts';
import { broadcastShape, formatShape, resolveAxis } from './shape_utils.ts';

const ELEMENTWISE: [string, (xs: Tensor[]) => Tensor, number?][] = [
  ['Add', (xs) => xs.slice(1).reduce((a, b) => ops.add(a, b), xs[0])],
  ['Subtract', (xs) => ops.sub(xs[0], xs[1]), 2],
  ['Multiply', (xs) => xs.slice(1).reduce((a, b) => ops.mul(a, b), xs[0])],
  ['Average', (xs) => ops.div(xs.slice(1).reduce((a, b) => ops.add(a, b), xs[0]), xs.length)],
  ['Maximum', (xs) => xs.slice(1).reduce((a, b) => ops.maximum(a, b), xs[0])],
  ['Minimum', (xs) => xs.slice(1).reduce((a, b) => ops.minimum(a, b), xs[0])],
];

for (const [className, combine, exactly] of ELEMENTWISE) {
  defineLayer<Record<string, never>>({
    className,
    arity: 'many',
    config: () => ({}),
    outputShape(_c, inputs, ctx) {
      if (exactly !== undefined && inputs.length !== exactly) ctx.fail(`expects exactly ${exactly} inputs, got ${inputs.length}`);
      if (inputs.length < 2) ctx.fail(`expects at least two inputs, got ${inputs.length}`);
      return broadcastShape(inputs, ctx);
    },
    build: () => (xs) => ({ out: combine(xs) }),
  });
}

export interface ConcatenateConfig {
  /** Concatenation axis, as written (-1 = channels). */
  axis: number;
}

defineLayer<ConcatenateConfig>({
  className: 'Concatenate',
  arity: 'many',
  config: (r) => ({ axis: r.axis('axis', -1) }),
  outputShape(c, inputs, ctx) {
    if (inputs.length < 2) ctx.fail(`expects at least two inputs, got ${inputs.length}`);
    const rank = inputs[0].length;
    const axis = resolveAxis(c.axis, rank, ctx);
    const out: Shape = [...inputs[0]];
    for (const s of inputs.slice(1)) {
      if (s.length !== rank) ctx.fail(`inputs of different ranks: ${inputs.map(formatShape).join(', ')}`);
      for (let i = 1; i < rank; i++) {
        if (i === axis) out[i] = out[i] === null || s[i] === null ? null : (out[i] as number) + (s[i] as number);
        else if (out[i] !== null && s[i] !== null && out[i] !== s[i]) {
          ctx.fail(`inputs do not match off the concatenation axis: ${inputs.map(formatShape).join(', ')}`);
        } else out[i] ??= s[i];
      }
    }
    return out;
  },
  build: (c) => (xs) => ({ out: ops.concat(xs, c.axis < 0 ? c.axis + xs[0].rank : c.axis) }),
});
