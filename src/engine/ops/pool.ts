import { engine } from '../engine.ts';
import { type Padding, type PoolAttrs, pair, poolGeometry } from '../conv_geometry.ts';
import { shapeString } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { max, mean } from './reduce.ts';

export interface PoolOptions {
  poolSize?: number | [number, number];
  /** Defaults to the pool size, as in Keras. */
  strides?: number | [number, number];
  padding?: Padding;
}

function poolAttrs(o: PoolOptions, op: string): PoolAttrs {
  const poolSize = pair(o.poolSize, 2, 'poolSize', op);
  return { poolSize, strides: o.strides === undefined ? poolSize : pair(o.strides, 1, 'strides', op), padding: o.padding ?? 'valid' };
}

function checkDy(dy: Tensor, xShape: readonly number[], a: PoolAttrs, op: string): void {
  const g = poolGeometry(xShape, a, op);
  const want = [g.batch, g.outH, g.outW, g.inC];
  if (dy.rank !== 4 || dy.shape.some((d, i) => d !== want[i])) {
    throw new Error(`${op}: dy ${shapeString(dy.shape)} does not match the pool output ${shapeString(want)} for input ${shapeString(xShape)}`);
  }
}

export function maxPool(x: Tensor, o: PoolOptions = {}): Tensor {
  const a = poolAttrs(o, 'maxPool');
  poolGeometry(x.shape, a, 'maxPool');
  return engine.runOp('maxPool', { x }, { ...a });
}

/** Routes dy to the first maximum of each window of x (TensorFlow's tie rule). */
export function maxPoolBackward(dy: Tensor, x: Tensor, o: PoolOptions = {}): Tensor {
  const a = poolAttrs(o, 'maxPoolBackward');
  checkDy(dy, x.shape, a, 'maxPoolBackward');
  return engine.runOp('maxPoolBackward', { dy, x }, { ...a });
}

/** Average pooling; with 'same' padding the padded cells are not counted (as TensorFlow). */
export function avgPool(x: Tensor, o: PoolOptions = {}): Tensor {
  const a = poolAttrs(o, 'avgPool');
  poolGeometry(x.shape, a, 'avgPool');
  return engine.runOp('avgPool', { x }, { ...a });
}

export function avgPoolBackward(dy: Tensor, inputShape: readonly number[], o: PoolOptions = {}): Tensor {
  const a = poolAttrs(o, 'avgPoolBackward');
  checkDy(dy, inputShape, a, 'avgPoolBackward');
  return engine.runOp('avgPoolBackward', { dy }, { ...a, inputShape: [...inputShape] });
}

/** Mean over height and width: [N,H,W,C] -> [N,C]. A composition of mean. */
export function globalAvgPool(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`globalAvgPool: input must be NHWC, got ${shapeString(x.shape)}`);
  return mean(x, [1, 2]);
}

/** Max over height and width: [N,H,W,C] -> [N,C]. A composition of max. */
export function globalMaxPool(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`globalMaxPool: input must be NHWC, got ${shapeString(x.shape)}`);
  return max(x, [1, 2]);
}
