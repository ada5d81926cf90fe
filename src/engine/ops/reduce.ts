import { engine } from '../engine.ts';
import { normalizeAxes, reducedShape, sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { div } from './elementwise.ts';

export type Axes = number | readonly number[];

const reduction = (op: 'sum' | 'max' | 'min') => (x: Tensor, axes?: Axes, keepDims = false): Tensor => {
  const ax = normalizeAxes(axes, x.rank, op);
  if (ax.some((a) => x.shape[a] === 0)) throw new Error(`${op}: cannot reduce over an empty axis of shape [${x.shape.join(',')}]`);
  return engine.runOp(op, { x }, { axes: ax, keepDims, outShape: reducedShape(x.shape, ax, keepDims) });
};

/** Sum over the given axes (all when omitted). */
export const sum = reduction('sum');
/** Maximum over the given axes; the gradient is shared equally among ties. */
export const max = reduction('max');
export const min = reduction('min');

/** Mean over the given axes: a composition of sum and div (no gradient rule of its own). */
export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = normalizeAxes(axes, x.rank, 'mean');
  const count = sizeOf(ax.map((a) => x.shape[a]));
  return engine.tidy(() => div(sum(x, ax, keepDims), count));
}
