import { engine } from '../engine.ts';
import { type ResizeAttrs, resizeOutputShape } from '../resize_geometry.ts';
import { shapeString } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

export interface ResizeOptions {
  /** Map the corner pixels' centres onto each other (scale (in - 1) / (out - 1)). Default false. */
  alignCorners?: boolean;
  /** Pixel centres at +0.5 (tf.image.resize in TF 2, Keras Resizing). Default false. */
  halfPixelCenters?: boolean;
}

function resizeAttrs(o: ResizeOptions): ResizeAttrs {
  return { alignCorners: o.alignCorners ?? false, halfPixelCenters: o.halfPixelCenters ?? false };
}

function forward(op: string, x: Tensor, size: readonly number[], o: ResizeOptions): Tensor {
  const a = resizeAttrs(o);
  resizeOutputShape(x.shape, size, a, op);
  return engine.runOp(op, { x }, { ...a, size: [size[0], size[1]] });
}

function backward(op: string, dy: Tensor, inputShape: readonly number[], o: ResizeOptions): Tensor {
  const a = resizeAttrs(o);
  if (dy.rank !== 4) throw new Error(`${op}: dy must be NHWC (rank 4), got shape ${shapeString(dy.shape)}`);
  const want = resizeOutputShape(inputShape, [dy.shape[1], dy.shape[2]], a, op);
  if (dy.shape.some((d, i) => d !== want[i])) {
    throw new Error(`${op}: dy ${shapeString(dy.shape)} does not match input ${shapeString(inputShape)} (batch and channels must agree)`);
  }
  return engine.runOp(op, { dy }, { ...a, inputShape: [...inputShape] });
}

/**
 * Bilinear resize of NHWC x to [height, width], exactly TensorFlow's ResizeBilinear
 * (tf.image.resize_bilinear / tf.compat.v1.image.resize with align_corners and
 * half_pixel_centers); the sampling rule is in src/engine/resize_geometry.ts.
 */
export function resizeBilinear(x: Tensor, size: readonly number[], o: ResizeOptions = {}): Tensor {
  return forward('resizeBilinear', x, size, o);
}

/** Gradient of resizeBilinear with respect to its input (of shape inputShape), given dy. */
export function resizeBilinearBackward(dy: Tensor, inputShape: readonly number[], o: ResizeOptions = {}): Tensor {
  return backward('resizeBilinearBackward', dy, inputShape, o);
}

/** Nearest-neighbour resize of NHWC x to [height, width], exactly TensorFlow's ResizeNearestNeighbor. */
export function resizeNearest(x: Tensor, size: readonly number[], o: ResizeOptions = {}): Tensor {
  return forward('resizeNearest', x, size, o);
}

/** Gradient of resizeNearest: each input pixel receives the sum of dy over the outputs that copied it. */
export function resizeNearestBackward(dy: Tensor, inputShape: readonly number[], o: ResizeOptions = {}): Tensor {
  return backward('resizeNearestBackward', dy, inputShape, o);
}
