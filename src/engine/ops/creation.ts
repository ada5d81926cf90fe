import { engine } from '../engine.ts';
import { Random } from '../random.ts';
import { type Shape, sizeOf, assertValidShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

/** A tensor from values (any array-like of numbers) and a shape. */
export function tensor(values: ArrayLike<number>, shape?: Shape): Tensor {
  return engine.fromValues(values, shape ?? [values.length]);
}

export function scalar(v: number): Tensor {
  return engine.fromValues([v], []);
}

export function fill(shape: Shape, value: number): Tensor {
  assertValidShape(shape, 'fill');
  return engine.fromValues(new Float32Array(sizeOf(shape)).fill(value), shape);
}

export const zeros = (shape: Shape): Tensor => fill(shape, 0);
export const ones = (shape: Shape): Tensor => fill(shape, 1);
export const zerosLike = (t: Tensor): Tensor => fill(t.shape, 0);
export const onesLike = (t: Tensor): Tensor => fill(t.shape, 1);

/** Uniform values in [lo, hi) from a seeded generator: the same seed gives the same tensor. */
export function randomUniform(shape: Shape, lo = 0, hi = 1, seed = 0): Tensor {
  assertValidShape(shape, 'randomUniform');
  const r = new Random(seed);
  const v = new Float64Array(sizeOf(shape));
  for (let i = 0; i < v.length; i++) v[i] = r.uniform(lo, hi);
  return engine.fromValues(v, shape);
}

/** Normal values with the given mean and standard deviation, seeded. */
export function randomNormal(shape: Shape, mean = 0, std = 1, seed = 0): Tensor {
  assertValidShape(shape, 'randomNormal');
  const r = new Random(seed);
  const v = new Float64Array(sizeOf(shape));
  for (let i = 0; i < v.length; i++) v[i] = mean + std * r.normal();
  return engine.fromValues(v, shape);
}
