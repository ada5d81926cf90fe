import { engine } from '../engine.ts';
import { depthwiseGeometry } from '../conv_geometry.ts';
import { shapeString } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { convAttrs, type Conv2DOptions } from './conv.ts';

/**
 * Depthwise 2-D convolution (TensorFlow's DepthwiseConv2dNative, Keras DepthwiseConv2D):
 * x NHWC, filter [kH, kW, C, M] with M the depth multiplier; each input channel c is
 * convolved with its own M filters, and output channel c * M + m holds filter m of channel c:
 *   y[n, oy, ox, c*M + m] = sum over (ky, kx) of x[n, oy*sH + ky*dH - padTop, ox*sW + kx*dW - padLeft, c] * w[ky, kx, c, m]
 * Strides, dilations and 'valid' / 'same' padding are conv2d's.
 */
export function depthwiseConv2d(x: Tensor, filter: Tensor, o: Conv2DOptions = {}): Tensor {
  const a = convAttrs(o, 'depthwiseConv2d');
  depthwiseGeometry(x.shape, filter.shape, a, 'depthwiseConv2d');
  return engine.runOp('depthwiseConv2d', { x, filter }, { ...a });
}

function checkDy(dy: Tensor, xShape: readonly number[], filterShape: readonly number[], o: Conv2DOptions, op: string) {
  const a = convAttrs(o, op);
  const g = depthwiseGeometry(xShape, filterShape, a, op);
  const want = [g.batch, g.outH, g.outW, g.outC];
  if (dy.rank !== 4 || dy.shape.some((d, i) => d !== want[i])) {
    throw new Error(`${op}: dy ${shapeString(dy.shape)} does not match the depthwise conv output ${shapeString(want)} for input ${shapeString(xShape)}`);
  }
  return a;
}

/** Gradient of depthwiseConv2d with respect to its input (inputShape), given dy and the filter. */
export function depthwiseConv2dBackpropInput(dy: Tensor, filter: Tensor, inputShape: readonly number[], o: Conv2DOptions = {}): Tensor {
  const a = checkDy(dy, inputShape, filter.shape, o, 'depthwiseConv2dBackpropInput');
  return engine.runOp('depthwiseConv2dBackpropInput', { dy, filter }, { ...a, inputShape: [...inputShape] });
}

/** Gradient of depthwiseConv2d with respect to its filter (filterShape [kH, kW, C, M]), given x and dy. */
export function depthwiseConv2dBackpropFilter(x: Tensor, dy: Tensor, filterShape: readonly number[], o: Conv2DOptions = {}): Tensor {
  const a = checkDy(dy, x.shape, filterShape, o, 'depthwiseConv2dBackpropFilter');
  return engine.runOp('depthwiseConv2dBackpropFilter', { x, dy }, { ...a, filterShape: [...filterShape] });
}
