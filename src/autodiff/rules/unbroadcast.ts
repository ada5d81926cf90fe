import { broadcastAxes, sameShape, type Shape } from '../../engine/shape.ts';
import { reshape } from '../../engine/ops/shape_ops.ts';
import { sum } from '../../engine/ops/reduce.ts';
import type { Tensor } from '../../engine/tensor.ts';

/**
 * The gradient of a broadcast input: sum dy over the axes along which the input
 * was repeated, then give it the input's shape.
 */
export function unbroadcast(dy: Tensor, shape: Shape): Tensor {
  if (sameShape(dy.shape, shape)) return dy;
  const axes = broadcastAxes(shape, dy.shape);
  return reshape(sum(dy, axes), shape);
}
