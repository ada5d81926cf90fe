import { engine } from '../engine.ts';
import { type Shape, sizeOf, shapeString, broadcastShapes, sameShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

/** Same values, new shape; shares the buffer. One axis may be -1 (inferred). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const unknown = s.indexOf(-1);
  if (unknown >= 0) {
    const known = sizeOf(s.filter((_, i) => i !== unknown));
    if (known === 0 || x.size % known !== 0) throw new Error(`reshape: cannot reshape ${shapeString(x.shape)} to ${shapeString(shape)}`);
    s[unknown] = x.size / known;
  }
  if (sizeOf(s) !== x.size || s.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reshape: cannot reshape ${shapeString(x.shape)} (${x.size} elements) to ${shapeString(shape)}`);
  }
  return engine.runViewOp('reshape', x, s, { shape: s });
}

/** Permutes axes; default reverses them. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ? [...perm] : x.shape.map((_, i) => x.rank - 1 - i);
  const ok = p.length === x.rank && [...p].sort((a, b) => a - b).every((v, i) => v === i);
  if (!ok) throw new Error(`transpose: [${p.join(',')}] is not a permutation of the axes of ${shapeString(x.shape)}`);
  return engine.runOp('transpose', { x }, { perm: p });
}

/** The block starting at `begin` of extent `size` (-1: to the end). */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  if (begin.length !== x.rank) throw new Error(`slice: begin [${begin.join(',')}] does not match rank of ${shapeString(x.shape)}`);
  const sz = x.shape.map((d, i) => {
    const s = size?.[i] ?? -1;
    return s === -1 ? d - begin[i] : s;
  });
  x.shape.forEach((d, i) => {
    if (begin[i] < 0 || sz[i] < 0 || begin[i] + sz[i] > d) {
      throw new Error(`slice: begin [${begin.join(',')}] size [${sz.join(',')}] is outside ${shapeString(x.shape)}`);
    }
  });
  return engine.runOp('slice', { x }, { begin: [...begin], size: sz });
}

/** Joins tensors along an axis; all other axes must agree. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors given');
  const rank = xs[0].rank;
  const ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax >= rank) throw new Error(`concat: axis ${axis} is out of range for rank ${rank}`);
  for (const t of xs) {
    if (t.rank !== rank || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new Error(`concat: shapes ${xs.map((u) => shapeString(u.shape)).join(' and ')} do not agree off axis ${ax}`);
    }
  }
  if (xs.length === 1) return engine.runViewOp('reshape', xs[0], xs[0].shape, { shape: xs[0].shape });
  const inputs: Record<string, Tensor> = {};
  xs.forEach((t, i) => (inputs[`x${i}`] = t));
  return engine.runOp('concat', inputs, { axis: ax, count: xs.length });
}

/** Pads each axis by [before, after] with a constant. */
export function pad(x: Tensor, paddings: readonly (readonly [number, number])[], value = 0): Tensor {
  if (paddings.length !== x.rank || paddings.some((p) => p.length !== 2 || p.some((v) => !Number.isInteger(v) || v < 0))) {
    throw new Error(`pad: paddings ${JSON.stringify(paddings)} do not fit ${shapeString(x.shape)} (need ${x.rank} pairs of non-negative integers)`);
  }
  return engine.runOp('pad', { x }, { paddings: paddings.map((p) => [p[0], p[1]]), value });
}

/** Repeats size-1 axes (and adds leading axes) to reach `shape`. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const out = broadcastShapes(x.shape, shape, 'broadcastTo');
  if (!sameShape(out, shape)) throw new Error(`broadcastTo: ${shapeString(x.shape)} cannot be broadcast to ${shapeString(shape)}`);
  if (sameShape(x.shape, shape)) return reshape(x, shape);
  return engine.runOp('broadcastTo', { x }, { shape: [...shape] });
}

/** Keeps the first axis, flattens the rest (Keras Flatten). */
export function flatten(x: Tensor): Tensor {
  return reshape(x, [x.shape[0], x.size / Math.max(1, x.shape[0])]);
}
