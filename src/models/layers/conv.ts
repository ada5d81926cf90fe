/** Convolution layers: Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, LocallyConnected2D. */
import { engine } from '../../engine/engine.ts';
import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { Padding, Pair } from '../keras/spec.ts';
import { activationFunction, type ActivationName } from './activation_functions.ts';
import type { ConfigReader } from './config_reader.ts';
import { defineLayer, type LayerResult, type WeightDecl } from './layer_definition.ts';
import { image, known, windowedShape } from './shape_utils.ts';

/** `Conv2D` (Keras 1 `Convolution2D` / `AtrousConvolution2D` are mapped here). */
export interface Conv2DConfig {
  filters: number;
  kernel_size: Pair;
  strides: Pair;
  padding: Padding;
  dilation_rate: Pair;
  activation: ActivationName;
  use_bias: boolean;
  /** Grouped convolution (tf.keras >= 2.3); present only when above 1. */
  groups?: number;
}

/** strides and dilation_rate, which Keras forbids above 1 together. */
function stridesAndDilation(r: ConfigReader, stridesKey: string, dilationKey: string): { strides: Pair; dilation_rate: Pair } {
  const strides = r.pair(stridesKey, [1, 1]);
  const dilation_rate = r.pair(dilationKey, [1, 1]);
  if ((strides[0] > 1 || strides[1] > 1) && (dilation_rate[0] > 1 || dilation_rate[1] > 1)) {
    r.fail(`strides ${JSON.stringify(strides)} together with dilation_rate ${JSON.stringify(dilation_rate)} is not supported (Keras forbids both above 1)`);
  }
  return { strides, dilation_rate };
}

function withBias(decls: WeightDecl[], useBias: boolean, units: number): WeightDecl[] {
  return useBias ? [...decls, { role: 'bias', shape: [units], init: 'small' }] : decls;
}

/** Applies bias and activation after a linear op, keeping the pre-activation value. */
function finish(y: Tensor, bias: Tensor | undefined, act: ActivationName): LayerResult {
  const z = bias ? ops.biasAdd(y, bias) : y;
  return act === 'linear' ? { out: z } : { out: activationFunction(act)(z), pre: z };
}

defineLayer<Conv2DConfig>({
  className: 'Conv2D',
  aliases: ['Convolution2D', 'AtrousConvolution2D'],
  kind: 'conv',
  config(r) {
    r.dataFormat();
    const keras1 = r.has('nb_filter');
    const c: Conv2DConfig = {
      filters: r.positiveInt(keras1 ? 'nb_filter' : 'filters'),
      kernel_size: keras1 ? [r.positiveInt('nb_row'), r.positiveInt('nb_col')] : r.pair('kernel_size'),
      ...stridesAndDilation(r, keras1 ? 'subsample' : 'strides', keras1 ? 'atrous_rate' : 'dilation_rate'),
      padding: r.padding(keras1 ? 'border_mode' : 'padding'),
      activation: r.activation(),
      use_bias: r.bool(keras1 ? 'bias' : 'use_bias', true),
    };
    const groups = r.positiveInt('groups', 1);
    if (groups > 1) {
      if (c.filters % groups !== 0) r.fail(`filters ${c.filters} is not divisible by groups ${groups}`);
      c.groups = groups;
    }
    return c;
  },
  outputShape(c, inputs, ctx) {
    const x = image(inputs, ctx);
    const g = c.groups ?? 1;
    if (g > 1 && x[3] !== null && x[3] % g !== 0) ctx.fail(`the input's ${x[3]} channels are not divisible by groups ${g}`);
    return windowedShape(x, c.kernel_size, c.strides, c.dilation_rate, c.padding, c.filters, ctx);
  },
  weights(c, inputs, ctx) {
    const cin = known(inputs[0][3], 'input channel count', ctx) / (c.groups ?? 1);
    return withBias([{ role: 'kernel', shape: [...c.kernel_size, cin, c.filters], init: 'he' }], c.use_bias, c.filters);
  },
  hasPreActivation: (c) => c.activation !== 'linear',
  build(c, ctx) {
    const kernel = ctx.tensor('kernel');
    const bias = c.use_bias ? ctx.tensor('bias') : undefined;
    const conv = { strides: c.strides, padding: c.padding, dilations: c.dilation_rate };
    const groups = c.groups ?? 1;
    return (xs, o) => {
      const x = xs[0];
      if (groups > 1) {
        const cin = x.shape[3] / groups;
        const per = c.filters / groups;
        const parts: Tensor[] = [];
        for (let g = 0; g < groups; g++) {
          const xg = ops.slice(x, [0, 0, 0, g * cin], [-1, -1, -1, cin]);
          const kg = ops.slice(kernel, [0, 0, 0, g * per], [-1, -1, -1, per]);
          parts.push(ops.conv2d(xg, kg, conv));
        }
        return finish(ops.concat(parts, 3), bias, c.activation);
      }
      // bias and ReLU in the convolution's kernel, unless the pre-activation value is asked for
      if (bias && (c.activation === 'linear' || (c.activation === 'relu' && !o.pre))) {
        return { out: ops.fusedConv2d(x, kernel, bias, { ...conv, activation: c.activation }) };
      }
      return finish(ops.conv2d(x, kernel, conv), bias, c.activation);
    };
  },
});

export interface DepthwiseConv2DConfig {
  kernel_size: Pair;
  strides: Pair;
  padding: Padding;
  dilation_rate: Pair;
  depth_multiplier: number;
  activation: ActivationName;
  use_bias: boolean;
}

function depthwiseConfig(r: ConfigReader): DepthwiseConv2DConfig {
  r.dataFormat();
  return {
    kernel_size: r.pair('kernel_size'),
    ...stridesAndDilation(r, 'strides', 'dilation_rate'),
    padding: r.padding(),
    depth_multiplier: r.positiveInt('depth_multiplier', 1),
    activation: r.activation(),
    use_bias: r.bool('use_bias', true),
  };
}

defineLayer<DepthwiseConv2DConfig>({
  className: 'DepthwiseConv2D',
  kind: 'conv',
  config: depthwiseConfig,
  outputShape(c, inputs, ctx) {
    const x = image(inputs, ctx);
    return windowedShape(x, c.kernel_size, c.strides, c.dilation_rate, c.padding, x[3] === null ? null : x[3] * c.depth_multiplier, ctx);
  },
  weights(c, inputs, ctx) {
    const cin = known(inputs[0][3], 'input channel count', ctx);
    const k: WeightDecl = { role: 'depthwise_kernel', shape: [...c.kernel_size, cin, c.depth_multiplier], init: 'he', fanIn: c.kernel_size[0] * c.kernel_size[1] };
    return withBias([k], c.use_bias, cin * c.depth_multiplier);
  },
  hasPreActivation: (c) => c.activation !== 'linear',
  build(c, ctx) {
    const kernel = ctx.tensor('depthwise_kernel');
    const bias = c.use_bias ? ctx.tensor('bias') : undefined;
    const conv = { strides: c.strides, padding: c.padding, dilations: c.dilation_rate };
    return (xs) => finish(ops.depthwiseConv2d(xs[0], kernel, conv), bias, c.activation);
  },
});

export interface SeparableConv2DConfig extends DepthwiseConv2DConfig {
  filters: number;
}

defineLayer<SeparableConv2DConfig>({
  className: 'SeparableConv2D',
  aliases: ['SeparableConvolution2D'],
  kind: 'conv',
  config: (r) => ({ filters: r.positiveInt('filters'), ...depthwiseConfig(r) }),
  outputShape: (c, inputs, ctx) => windowedShape(image(inputs, ctx), c.kernel_size, c.strides, c.dilation_rate, c.padding, c.filters, ctx),
  weights(c, inputs, ctx) {
    const cin = known(inputs[0][3], 'input channel count', ctx);
    const m = cin * c.depth_multiplier;
    return withBias(
      [
        { role: 'depthwise_kernel', shape: [...c.kernel_size, cin, c.depth_multiplier], init: 'he', fanIn: c.kernel_size[0] * c.kernel_size[1] },
        { role: 'pointwise_kernel', shape: [1, 1, m, c.filters], init: 'he' },
      ],
      c.use_bias,
      c.filters,
    );
  },
  hasPreActivation: (c) => c.activation !== 'linear',
  build(c, ctx) {
    const depthwise = ctx.tensor('depthwise_kernel');
    const pointwise = ctx.tensor('pointwise_kernel');
    const bias = c.use_bias ? ctx.tensor('bias') : undefined;
    const conv = { strides: c.strides, padding: c.padding, dilations: c.dilation_rate };
    return (xs, o) => {
      const d = ops.depthwiseConv2d(xs[0], depthwise, conv);
      if (bias && (c.activation === 'linear' || (c.activation === 'relu' && !o.pre))) {
        return { out: ops.fusedConv2d(d, pointwise, bias, { activation: c.activation }) };
      }
      return finish(ops.conv2d(d, pointwise), bias, c.activation);
    };
  },
});

export interface Conv2DTransposeConfig {
  filters: number;
  kernel_size: Pair;
  strides: Pair;
  padding: Padding;
  /** Extra rows/cols added to one side of the output (Keras's output_padding), or null. */
  output_padding: Pair | null;
  activation: ActivationName;
  use_bias: boolean;
}

/** Keras's deconv_output_length. */
function transposedLength(size: number | null, k: number, s: number, padding: Padding, outPad: number | null): number | null {
  if (size === null) return null;
  if (outPad === null) return padding === 'valid' ? size * s + Math.max(k - s, 0) : size * s;
  const pad = padding === 'same' ? Math.floor(k / 2) : 0;
  return (size - 1) * s + k - 2 * pad + outPad;
}

defineLayer<Conv2DTransposeConfig>({
  className: 'Conv2DTranspose',
  aliases: ['Deconvolution2D', 'Convolution2DTranspose'],
  kind: 'conv',
  config(r) {
    r.dataFormat();
    const dilation = r.pair('dilation_rate', [1, 1]);
    if (dilation[0] !== 1 || dilation[1] !== 1) r.fail(`dilation_rate ${JSON.stringify(dilation)} is not supported for transposed convolutions (only 1)`);
    const strides = r.pair('strides', [1, 1]);
    const output_padding = r.has('output_padding') ? r.pair('output_padding', undefined, 0) : null;
    if (output_padding && (output_padding[0] >= strides[0] || output_padding[1] >= strides[1])) {
      r.fail(`output_padding ${JSON.stringify(output_padding)} must be smaller than strides ${JSON.stringify(strides)}`);
    }
    return {
      filters: r.positiveInt('filters'),
      kernel_size: r.pair('kernel_size'),
      strides,
      padding: r.padding(),
      output_padding,
      activation: r.activation(),
      use_bias: r.bool('use_bias', true),
    };
  },
  outputShape(c, inputs, ctx) {
    const x = image(inputs, ctx);
    const op = c.output_padding;
    return [
      x[0],
      transposedLength(x[1], c.kernel_size[0], c.strides[0], c.padding, op ? op[0] : null),
      transposedLength(x[2], c.kernel_size[1], c.strides[1], c.padding, op ? op[1] : null),
      c.filters,
    ];
  },
  weights(c, inputs, ctx) {
    const cin = known(inputs[0][3], 'input channel count', ctx);
    // stored [rows, cols, filters, input channels]: the kernel of the convolution this one transposes
    return withBias([{ role: 'kernel', shape: [...c.kernel_size, c.filters, cin], init: 'he', fanIn: c.kernel_size[0] * c.kernel_size[1] * cin }], c.use_bias, c.filters);
  },
  hasPreActivation: (c) => c.activation !== 'linear',
  build(c, ctx) {
    const kernel = ctx.tensor('kernel');
    const bias = c.use_bias ? ctx.tensor('bias') : undefined;
    return (xs) => {
      const x = xs[0];
      const op = c.output_padding;
      const h = transposedLength(x.shape[1], c.kernel_size[0], c.strides[0], c.padding, op ? op[0] : null)!;
      const w = transposedLength(x.shape[2], c.kernel_size[1], c.strides[1], c.padding, op ? op[1] : null)!;
      const y = ops.conv2dBackpropInput(x, kernel, [x.shape[0], h, w, c.filters], { strides: c.strides, padding: c.padding });
      return finish(y, bias, c.activation);
    };
  },
});

export interface LocallyConnected2DConfig {
  filters: number;
  kernel_size: Pair;
  strides: Pair;
  activation: ActivationName;
  use_bias: boolean;
}

defineLayer<LocallyConnected2DConfig>({
  className: 'LocallyConnected2D',
  kind: 'conv',
  config(r) {
    r.dataFormat();
    if (r.padding() !== 'valid') r.fail(`padding 'same' is not supported (Keras allows only 'valid' here)`);
    const impl = r.int('implementation', 1);
    if (impl !== 1) r.fail(`implementation ${impl} is not supported (only the default, 1)`);
    return { filters: r.positiveInt('filters'), kernel_size: r.pair('kernel_size'), strides: r.pair('strides', [1, 1]), activation: r.activation(), use_bias: r.bool('use_bias', true) };
  },
  outputShape(c, inputs, ctx) {
    const x = image(inputs, ctx);
    if (x[1] === null || x[2] === null) ctx.fail('needs a known input height and width');
    return windowedShape(x, c.kernel_size, c.strides, [1, 1], 'valid', c.filters, ctx);
  },
  weights(c, inputs, ctx) {
    const cin = known(inputs[0][3], 'input channel count', ctx);
    const out = windowedShape(inputs[0], c.kernel_size, c.strides, [1, 1], 'valid', c.filters, ctx);
    const [oh, ow] = [out[1] as number, out[2] as number];
    const k = c.kernel_size[0] * c.kernel_size[1] * cin;
    const decls: WeightDecl[] = [{ role: 'kernel', shape: [oh * ow, k, c.filters], init: 'he', fanIn: k }];
    return c.use_bias ? [...decls, { role: 'bias', shape: [oh, ow, c.filters], init: 'small' }] : decls;
  },
  hasPreActivation: (c) => c.activation !== 'linear',
  build(c, ctx) {
    // Each output position has its own kernel: patches (an exact one-hot convolution lays
    // every window out as kh*kw*cin channels, in Keras's row, col, channel order) times
    // that position's kernel, summed over the patch.
    const cin = ctx.inputShapes[0][3] as number;
    const [kh, kw] = c.kernel_size;
    const k = kh * kw * cin;
    const eye = new Float32Array(k * k);
    for (let i = 0; i < k; i++) eye[i * k + i] = 1; // [kh, kw, cin, k] with k = (row * kw + col) * cin + channel
    const patcher = ctx.upload(eye, [kh, kw, cin, k]);
    const kernel = ctx.tensor('kernel');
    const bias = c.use_bias ? ctx.tensor('bias') : undefined;
    const [, oh, ow] = ctx.outputShape as number[];
    return (xs) => {
      const x = xs[0];
      const b = x.shape[0];
      const y = engine.tidy(() => {
        const patches = ops.reshape(ops.conv2d(x, patcher, { strides: c.strides }), [b, oh * ow, k, 1]);
        let z = ops.reshape(ops.sum(ops.mul(patches, kernel), 2), [b, oh, ow, c.filters]);
        if (bias) z = ops.add(z, bias);
        return z;
      });
      return c.activation === 'linear' ? { out: y } : { out: activationFunction(c.activation)(y), pre: y };
    };
  },
});

