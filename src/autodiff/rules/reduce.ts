import { defineGradient, type GradContext } from '../gradient_registry.ts';
import { reducedShape } from '../../engine/shape.ts';
import { broadcastTo, reshape } from '../../engine/ops/shape_ops.ts';
import { div, equal, mul } from '../../engine/ops/elementwise.ts';
import { sum } from '../../engine/ops/reduce.ts';
import type { Tensor } from '../../engine/tensor.ts';

/** A reduced tensor (dy or y) with its reduced axes put back as size 1, then repeated to x's shape. */
function expandBack(t: Tensor, g: GradContext): Tensor {
  const axes = g.attrs.axes as number[];
  return broadcastTo(reshape(t, reducedShape(g.shapes.x, axes, true)), g.shapes.x);
}

// d sum / dx = 1 everywhere: dy repeated along the reduced axes
defineGradient('sum', { saves: [], inputs: { x: (g) => expandBack(g.dy, g) } });

// d max / dx: dy goes to the elements equal to the max, shared equally among ties
const extremum = {
  saves: ['x', 'y'],
  inputs: {
    x: (g: GradContext) => {
      const hit = equal(g.saved.x, expandBack(g.saved.y, g));
      const ties = sum(hit, g.attrs.axes as number[], true);
      return div(mul(hit, expandBack(g.dy, g)), ties);
    },
  },
};
defineGradient('max', extremum);
defineGradient('min', extremum);
