import { shapeString } from './shape.ts';

/**
 * Where each output pixel of an image resize samples its input, with TensorFlow's exact
 * semantics (tensorflow/core/util/image_resizer_state.h, kernels/image/resize_bilinear_op.cc,
 * resize_nearest_neighbor_op.cc), per axis, in TensorFlow's float32 arithmetic:
 *
 *   scale = alignCorners && out > 1 ? (in - 1) / (out - 1) : in / out          (float32)
 *   bilinear source   src = halfPixelCenters ? (o + 0.5) * scale - 0.5 : o * scale
 *            lower = max(floor(src), 0), upper = min(ceil(src), in - 1), lerp = src - floor(src)
 *            (a source before the first pixel has lower = upper = 0, so its lerp does not matter)
 *   nearest  halfPixelCenters: floor((o + 0.5) * scale); alignCorners: round(o * scale)
 *            (round half up); otherwise floor(o * scale); then at most in - 1
 *
 * Every float operation is rounded to float32 here (Math.fround) as TensorFlow's kernels
 * do, and the WGSL kernels compute the same float32 expressions, so both backends pick
 * the same pixels even where a product lands within rounding of a whole number.
 * (TensorFlow.js computes these in float64, and can pick a neighbouring pixel there.)
 */

export interface ResizeAttrs {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

const fr = Math.fround;

/** TensorFlow's CalculateResizeScale, as a float32 value. */
export function resizeScale(inSize: number, outSize: number, alignCorners: boolean): number {
  return alignCorners && outSize > 1 ? fr((inSize - 1) / (outSize - 1)) : fr(inSize / outSize);
}

export interface BilinearTap {
  lower: number;
  upper: number;
  lerp: number;
}

/** The two input indices output index `o` interpolates between, and the weight of the upper one. */
export function bilinearTap(o: number, inSize: number, scale: number, halfPixelCenters: boolean): BilinearTap {
  const src = halfPixelCenters ? fr(fr(fr(o + 0.5) * scale) - 0.5) : fr(o * scale);
  const f = Math.floor(src);
  const upper = Math.min(Math.ceil(src), inSize - 1);
  return { lower: Math.min(Math.max(f, 0), upper), upper, lerp: fr(src - f) };
}

/** The input index that output index `o` copies. */
export function nearestIndex(o: number, inSize: number, scale: number, a: ResizeAttrs): number {
  const v = a.halfPixelCenters ? fr(fr(o + 0.5) * scale) : fr(o * scale);
  const f = Math.floor(v);
  const i = a.alignCorners && v - f >= 0.5 ? f + 1 : f;
  return Math.min(i, inSize - 1);
}

/** Output shape of a resize of NHWC `xShape` to `size`, with the checks every resize op shares. */
export function resizeOutputShape(xShape: readonly number[], size: readonly number[], a: ResizeAttrs, op: string): number[] {
  if (xShape.length !== 4) throw new Error(`${op}: input must be NHWC (rank 4), got shape ${shapeString(xShape)}`);
  if (size.length !== 2 || !size.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(`${op}: size must be two positive integers [height, width], got ${JSON.stringify(size)}`);
  }
  if (xShape[1] < 1 || xShape[2] < 1) throw new Error(`${op}: input image ${shapeString(xShape)} is empty`);
  if (a.alignCorners && a.halfPixelCenters) throw new Error(`${op}: alignCorners and halfPixelCenters cannot both be true (as in TensorFlow)`);
  return [xShape[0], size[0], size[1], xShape[3]];
}
