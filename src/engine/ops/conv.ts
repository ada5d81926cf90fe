import { engine } from '../engine.ts';
import { type ConvAttrs, type Padding, convGeometry, pair } from '../conv_geometry.ts';
import { shapeString } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

export interface Conv2DOptions {
  strides?: number | [number, number];
  padding?: Padding;
  dilations?: number | [number, number];
}

export function convAttrs(o: Conv2DOptions, op: string): ConvAttrs {
  const strides = pair(o.strides, 1, 'strides', op);
  const dilations = pair(o.dilations, 1, 'dilations', op);
  if ((strides[0] > 1 || strides[1] > 1) && (dilations[0] > 1 || dilations[1] > 1)) {
    throw new Error(`${op}: strides > 1 together with dilation > 1 is not supported (Keras forbids it too)`);
  }
  return { strides, dilations, padding: o.padding ?? 'valid' };
}

/** 2-D convolution (cross-correlation, as Keras), x NHWC, filter HWIO. */
export function conv2d(x: Tensor, filter: Tensor, o: Conv2DOptions = {}): Tensor {
  const a = convAttrs(o, 'conv2d');
  convGeometry(x.shape, filter.shape, a, 'conv2d');
  return engine.runOp('conv2d', { x, filter }, { ...a });
}

/**
 * Gradient of conv2d with respect to its input, given dy and the filter. With
 * `reluOutput` (the output of a ReLU that followed the convolution), dy is first
 * zeroed where that output is not positive: the ReLU's backward pass fused in.
 */
export function conv2dBackpropInput(dy: Tensor, filter: Tensor, inputShape: readonly number[], o: Conv2DOptions & { reluOutput?: Tensor } = {}): Tensor {
  const a = convAttrs(o, 'conv2dBackpropInput');
  const g = convGeometry(inputShape, filter.shape, a, 'conv2dBackpropInput');
  const want = [g.batch, g.outH, g.outW, g.outC];
  if (dy.rank !== 4 || dy.shape.some((d, i) => d !== want[i])) {
    throw new Error(`conv2dBackpropInput: dy ${shapeString(dy.shape)} does not match the conv output ${shapeString(want)} for input ${shapeString(inputShape)}`);
  }
  const m = o.reluOutput;
  if (m && (m.rank !== 4 || m.shape.some((d, i) => d !== want[i]))) {
    throw new Error(`conv2dBackpropInput: reluOutput ${shapeString(m.shape)} does not match dy ${shapeString(dy.shape)}`);
  }
  return engine.runOp('conv2dBackpropInput', m ? { dy, filter, mask: m } : { dy, filter }, { ...a, inputShape: [...inputShape] });
}

export type FusedActivation = 'linear' | 'relu';

/**
 * conv2d, bias and activation in one kernel (what a Keras Conv2D layer computes):
 * activation(conv2d(x, filter) + bias). Gradients are those of the three ops, with
 * the ReLU's backward pass fused into the input gradient's kernel.
 */
export function fusedConv2d(x: Tensor, filter: Tensor, bias: Tensor, o: Conv2DOptions & { activation?: FusedActivation } = {}): Tensor {
  const a = convAttrs(o, 'fusedConv2d');
  const g = convGeometry(x.shape, filter.shape, a, 'fusedConv2d');
  if (bias.rank !== 1 || bias.shape[0] !== g.outC) {
    throw new Error(`fusedConv2d: bias ${shapeString(bias.shape)} does not match the filter's ${g.outC} output channels`);
  }
  const activation = o.activation ?? 'linear';
  if (activation !== 'linear' && activation !== 'relu') throw new Error(`fusedConv2d: activation '${activation}' is not fused (use 'linear' or 'relu')`);
  return engine.runOp('fusedConv2d', { x, filter, bias }, { ...a, activation });
}

/** Gradient of conv2d with respect to its filter, given the input x and dy. */
export function conv2dBackpropFilter(x: Tensor, dy: Tensor, filterShape: readonly number[], o: Conv2DOptions = {}): Tensor {
  const a = convAttrs(o, 'conv2dBackpropFilter');
  const g = convGeometry(x.shape, filterShape, a, 'conv2dBackpropFilter');
  const want = [g.batch, g.outH, g.outW, g.outC];
  if (dy.rank !== 4 || dy.shape.some((d, i) => d !== want[i])) {
    throw new Error(`conv2dBackpropFilter: dy ${shapeString(dy.shape)} does not match the conv output ${shapeString(want)} for input ${shapeString(x.shape)}`);
  }
  return engine.runOp('conv2dBackpropFilter', { x, dy }, { ...a, filterShape: [...filterShape] });
}
