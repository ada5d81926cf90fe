/**
 * Every Keras layer class in the registry (src/models/layers, `supportedLayerClasses()`),
 * in small Keras configs that exercise each config variant that changes the maths,
 * against TensorFlow.js: every layer's output and the input gradient of a seeded
 * random projection of the output, on generated weights and a seeded batch of two
 * inputs (odd sizes). A coverage test asserts that every registered class is built by
 * some case below, so a layer added without a case here fails.
 *
 * The reference is tfjs-layers built from the same config (test/helpers/tfjs_keras.ts).
 * Where tfjs-layers lacks a layer or computes it differently from Keras, the helper
 * builds it with a class written there from Keras's formula with tf ops, and the case
 * says so (`reference`): TFOpLambda, SlicingOpLambda, Subtract, Normalization,
 * LocallyConnected2D, AutoContrast, the augmentation and dropout identities tfjs
 * lacks, GlobalPooling keepdims, ReLU threshold / negative_slope, ELU alpha != 1,
 * activations tfjs has no name for, Conv2D groups, Conv2DTranspose output_padding,
 * dilated convolutions (tfjs has no gradient for them), AveragePooling2D 'same'
 * (tfjs's gradient is wrong at borders), BatchNormalization without gamma, and
 * tf.image.resize's half-pixel grid: bilinear UpSampling2D is Keras >= 2.3's
 * tf.image.resize (half-pixel centres) while tfjs-layers' UpSampling2D (and Keras <=
 * 2.2) use TF 1's grid; tfjs-layers' Resizing uses align_corners; tfjs-cpu's resize
 * gradients ignore half_pixel_centers. Keras's behaviour is the reference each time.
 *
 * Measure (`rel`): max |ours - tf| / max |tf| over a layer's output (or the gradient).
 * Single layers on values in [-1, 1): float32 rounding of sums of at most a few
 * hundred terms in different orders, measured at most 4e-7 (forward) and 6e-7
 * (gradient) over all cases; the default tolerance 1e-5 leaves > 10x headroom and is
 * 4 orders of magnitude below a wrong tap, padding, axis or branch (rel ~1e-1). Cases
 * with their own tolerance say why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as cs from '../../src/index.ts';
import { readModelArchitecture } from '../../src/models/load_model.ts';
import { Model } from '../../src/models/model.ts';
import { supportedLayerClasses } from '../../src/models/layers/index.ts';
import { Random } from '../../src/engine/random.ts';
import {
  generatedWeightArrays,
  kinkFlips,
  rel,
  resizeMatrix,
  setFastConvolutionGradients,
  tfjsKerasModel,
  type HostTensor,
} from '../helpers/tfjs_keras.ts';
import { tfjs } from '../helpers/tfjs.ts';

type Json = Record<string, unknown>;

/** A reference to 'name' (its first call) or 'name@k' (its k-th): [layer, node, tensor]. */
const ref = (i: string): [string, number, number] => {
  const at = i.lastIndexOf('@');
  return at < 0 ? [i, 0, 0] : [i.slice(0, at), Number(i.slice(at + 1)), 0];
};

/** A Keras 2 functional config written layer by layer (one input 'x'). */
class Graph {
  readonly layers: Json[] = [];
  private n = 0;
  constructor(inputShape: (number | null)[]) {
    this.layers.push({ class_name: 'InputLayer', name: 'x', config: { batch_input_shape: [null, ...inputShape], dtype: 'float32', name: 'x' }, inbound_nodes: [] });
  }
  /** Adds a layer called on `inputs`; `kwargs` go on every reference of the node (as tf.keras writes them). */
  add(className: string, config: Json, inputs: string | string[], kwargs: Json = {}, name?: string): string {
    const n = name ?? `${className.toLowerCase()}_${++this.n}`;
    const ins = Array.isArray(inputs) ? inputs : [inputs];
    this.layers.push({ class_name: className, name: n, config: { name: n, trainable: true, dtype: 'float32', ...config }, inbound_nodes: [ins.map((i) => [...ref(i), kwargs])] });
    return n;
  }
  /** Calls an existing layer again (a shared layer); its k-th call's output is named 'name@k'. */
  again(name: string, inputs: string | string[]): string {
    const l = this.layers.find((x) => x.name === name)!;
    const nodes = l.inbound_nodes as unknown[][];
    nodes.push((Array.isArray(inputs) ? inputs : [inputs]).map((i) => [...ref(i), {}]));
    return `${name}@${nodes.length - 1}`;
  }
  /** A TFOpLambda as tf.keras's SavedModel metadata writes it: one flat reference per node, the operands in its kwargs. */
  tfop(fn: string, input: string | string[], kwargs: Json = {}): string {
    const n = `tf.${fn}_${++this.n}`;
    const ins = Array.isArray(input) ? input : [input];
    const node = ins.length === 1 ? [ins[0], 0, 0, { ...kwargs, name: null }] : ins.map((i) => [i, 0, 0, { ...kwargs, name: null }]);
    this.layers.push({ class_name: 'TFOpLambda', name: n, config: { name: n, trainable: true, dtype: 'float32', function: fn }, inbound_nodes: [node] });
    return n;
  }
  slice(input: string, spec: unknown[]): string {
    const n = `tf.__operators__.getitem_${++this.n}`;
    this.layers.push({
      class_name: 'SlicingOpLambda',
      name: n,
      config: { name: n, trainable: true, dtype: 'float32', function: '__operators__.getitem' },
      inbound_nodes: [[input, 0, 0, { slice_spec: { class_name: '__tuple__', items: spec } }]],
    });
    return n;
  }
  model(output: string): Json {
    return { class_name: 'Functional', config: { name: 'case', layers: this.layers, input_layers: [['x', 0, 0]], output_layers: [[output, 0, 0]] } };
  }
  /** The same model as Keras 3 writes it: `module` / `registered_name`, `batch_shape`, nodes as {args, kwargs} of __keras_tensor__ objects, flat input / output references. */
  keras3(output: string): Json {
    const kt = (name: string) => ({ class_name: '__keras_tensor__', config: { shape: null, dtype: 'float32', keras_history: [name, 0, 0] } });
    const layers = this.layers.map((l) => {
      const cfg = { ...(l.config as Json) };
      if (l.class_name === 'InputLayer') {
        cfg.batch_shape = cfg.batch_input_shape;
        delete cfg.batch_input_shape;
      }
      cfg.dtype = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
      const nodes = (l.inbound_nodes as unknown[][][]).map((node) => {
        const refs = node.map((r) => ({ ...kt(r[0] as string), config: { shape: null, dtype: 'float32', keras_history: [r[0], r[1], r[2]] } }));
        return { args: refs.length === 1 ? refs : [refs], kwargs: {} };
      });
      return { module: 'keras.layers', class_name: l.class_name, config: cfg, registered_name: null, name: l.name, inbound_nodes: nodes };
    });
    return { module: 'keras', class_name: 'Functional', config: { name: 'case', trainable: true, layers, input_layers: ['x', 0, 0], output_layers: [output, 0, 0] }, registered_name: 'Functional' };
  }
}

interface Case {
  name: string;
  /** Write the config as Keras 3 does (see Graph.keras3). */
  keras3Format?: boolean;
  /** Input shape without the batch axis. */
  input: number[];
  /** The Keras version the config is read as (default 2.4.0, tf.keras). */
  keras?: string;
  /** Input values uniform in this range (default [-1, 1)). */
  range?: [number, number];
  build: (g: Graph) => string;
  /** The same model in a form tfjs-layers reads, where the case tests a Keras config form it does not (Keras 1 paddings). */
  tfjsForm?: (g: Graph) => string;
  /** Forward / gradient tolerances (default 1e-5), with the reason. */
  tol?: number;
  gradTol?: number;
  /** The classes written from Keras's formulas that the TF.js model must use (see the module comment); none: tfjs-layers' own. */
  formulas?: string[];
}

const conv = (filters: number, k: number | number[], o: Json = {}) => ({ filters, kernel_size: typeof k === 'number' ? [k, k] : k, strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: true, ...o });
const sl = (start: number | null, stop: number | null = null, step: number | null = null) => ({ start, stop, step });
const ALL = sl(null);

const ACTIVATIONS = ['linear', 'relu', 'relu6', 'sigmoid', 'hard_sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'softsign', 'swish', 'silu', 'mish', 'gelu', 'softmax', 'log_softmax', 'exponential', 'leaky_relu', 'hard_swish'];

const CASES: Case[] = [
  // ---- core ----
  { name: 'Dense relu then softmax (rank 2)', input: [7], build: (g) => g.add('Dense', { units: 3, activation: 'softmax' }, g.add('Dense', { units: 5, activation: 'relu' }, 'x')) },
  { name: 'Dense without bias on a rank-4 input (last axis)', input: [3, 4, 5], build: (g) => g.add('Dense', { units: 6, activation: 'tanh', use_bias: false }, 'x') },
  {
    name: 'Activation: every name (Keras 2 hard_sigmoid), values in [-8, 8)',
    input: [3, 5, 2],
    range: [-8, 8],
    build: (g) => g.add('Concatenate', { axis: -1 }, ACTIVATIONS.map((a) => g.add('Activation', { activation: a }, 'x'))),
    formulas: ['KerasActivation'], // exponential, leaky_relu, hard_swish, silu: names tfjs-layers lacks
  },
  {
    name: 'Activation: Keras 3 hard_sigmoid (relu6(x + 3) / 6) and hard_silu',
    input: [4, 3],
    range: [-5, 5],
    keras: '3.3.3',
    build: (g) => g.add('Concatenate', { axis: -1 }, [g.add('Activation', { activation: 'hard_sigmoid' }, 'x'), g.add('Activation', { activation: 'hard_silu' }, 'x')]),
    formulas: ['KerasActivation'],
  },
  { name: 'Flatten, Reshape with -1, Permute', input: [3, 4, 5], build: (g) => g.add('Permute', { dims: [2, 1] }, g.add('Reshape', { target_shape: [-1, 6] }, g.add('Flatten', {}, g.add('Permute', { dims: [3, 1, 2] }, 'x')))) },
  {
    name: "Flatten data_format='channels_first' in a channels-last model (Keras moves axis 1 last before flattening)",
    input: [3, 4, 5],
    build: (g) => g.add('Dense', { units: 4 }, g.add('Flatten', { data_format: 'channels_first' }, 'x')),
  },
  {
    name: 'a channels-first model: Conv2D, MaxPooling2D, Flatten, all channels_first',
    input: [2, 7, 6],
    build: (g) =>
      g.add('Dense', { units: 3 }, g.add('Flatten', { data_format: 'channels_first' }, g.add('MaxPooling2D', { pool_size: [2, 2], strides: [2, 2], padding: 'valid', data_format: 'channels_first' }, g.add('Conv2D', conv(4, 3, { data_format: 'channels_first', activation: 'relu' }), 'x')))),
  },
  {
    name: 'inference identities: Dropout, SpatialDropout2D, AlphaDropout, GaussianDropout, GaussianNoise, ActivityRegularization',
    input: [5, 4, 3],
    build: (g) => {
      let y = 'x';
      for (const [c, cfg] of [['Dropout', { rate: 0.5 }], ['SpatialDropout2D', { rate: 0.5, data_format: 'channels_last' }], ['AlphaDropout', { rate: 0.3 }], ['GaussianDropout', { rate: 0.3 }], ['GaussianNoise', { stddev: 1 }], ['ActivityRegularization', { l1: 0.1, l2: 0.1 }]] as const) y = g.add(c, cfg, y);
      return g.add('Conv2D', conv(2, 1), y);
    },
    formulas: ['KerasInferenceIdentity'], // SpatialDropout2D, ActivityRegularization; tfjs's own for the others
  },
  { name: 'SpatialDropout1D (rank 3)', input: [6, 4], build: (g) => g.add('Dense', { units: 3 }, g.add('SpatialDropout1D', { rate: 0.5 }, 'x')) },
  { name: 'SpatialDropout3D (rank 5)', input: [2, 3, 4, 2], build: (g) => g.add('Dense', { units: 3 }, g.add('SpatialDropout3D', { rate: 0.5, data_format: 'channels_last' }, 'x')), formulas: ['KerasInferenceIdentity'] },
  {
    name: 'augmentation layers: the identity at inference',
    input: [6, 5, 3],
    range: [0, 1],
    build: (g) => {
      let y = 'x';
      const layers: [string, Json][] = [
        ['RandomFlip', { mode: 'horizontal' }], ['RandomRotation', { factor: 0.2 }], ['RandomZoom', { height_factor: 0.2 }], ['RandomTranslation', { height_factor: 0.1, width_factor: 0.1 }],
        ['RandomContrast', { factor: 0.3 }], ['RandomBrightness', { factor: 0.2 }], ['RandomHeight', { factor: 0.2 }], ['RandomWidth', { factor: 0.2 }],
        ['RandomColorJitter', { value_range: [0, 1] }], ['RandomGrayscale', { factor: 0.5 }], ['RandomHue', { factor: 0.2, value_range: [0, 1] }], ['RandomSaturation', { factor: 0.2, value_range: [0, 1] }],
        ['RandomSharpness', { factor: 0.2, value_range: [0, 1] }], ['RandomShear', { x_factor: 0.2 }], ['RandomPosterization', { factor: [1, 4], value_range: [0, 1] }], ['RandomInvert', { factor: 0.5, value_range: [0, 1] }],
        ['RandomColorDegeneration', { factor: 0.5 }], ['RandomErasing', { factor: 0.5 }], ['RandomGaussianBlur', { factor: 0.5 }], ['RandomPerspective', { factor: 0.5 }],
      ];
      for (const [c, cfg] of layers) y = g.add(c, cfg, y);
      return g.add('Conv2D', conv(2, 1), y);
    },
    formulas: ['KerasInferenceIdentity'], // tfjs has only RandomWidth / RandomHeight, and runs them randomly at inference
  },
  {
    name: 'AutoContrast (Keras 3; active at inference): value_range [0, 1] and [0, 255]',
    input: [5, 6, 3],
    range: [0.2, 0.9],
    keras: '3.8.0',
    build: (g) => g.add('Add', {}, [g.add('AutoContrast', { value_range: [0, 1] }, 'x'), g.add('AutoContrast', { value_range: [0, 255] }, 'x')]),
    formulas: ['KerasAutoContrast'], // keras.layers.AutoContrast.transform_images with tf ops
  },
  // ---- convolutions ----
  { name: "Conv2D 'valid' 3x3, odd sizes", input: [7, 9, 3], build: (g) => g.add('Conv2D', conv(4, 3), 'x') },
  { name: "Conv2D 'same' stride 2, relu (fused)", input: [7, 9, 3], build: (g) => g.add('Conv2D', conv(5, 3, { strides: [2, 2], padding: 'same', activation: 'relu' }), 'x') },
  { name: "Conv2D 'valid' stride 2, 2x4 kernel, no bias, tanh", input: [8, 9, 2], build: (g) => g.add('Conv2D', conv(3, [2, 4], { strides: [2, 2], use_bias: false, activation: 'tanh' }), 'x') },
  { name: "Conv2D dilation 2, 'same' and 'valid'", input: [9, 8, 2], build: (g) => g.add('Conv2D', conv(2, 3, { dilation_rate: [2, 2] }), g.add('Conv2D', conv(3, 3, { dilation_rate: [2, 2], padding: 'same' }), 'x')), formulas: ['KerasDilatedConv'] },
  { name: "Conv2D groups 2 'same', groups 3 'valid' stride 2", input: [7, 8, 6], build: (g) => g.add('Conv2D', conv(6, 3, { groups: 3, strides: [2, 2] }), g.add('Conv2D', conv(6, 3, { groups: 2, padding: 'same', activation: 'relu' }), 'x')), formulas: ['GroupedConv2D'] },
  { name: "DepthwiseConv2D 'valid', multiplier 1", input: [7, 8, 3], build: (g) => g.add('DepthwiseConv2D', { kernel_size: [3, 3], strides: [1, 1], padding: 'valid', depth_multiplier: 1, use_bias: true, activation: 'linear' }, 'x') },
  { name: "DepthwiseConv2D 'same' stride 2, multiplier 2, relu6", input: [7, 9, 3], build: (g) => g.add('DepthwiseConv2D', { kernel_size: [3, 3], strides: [2, 2], padding: 'same', depth_multiplier: 2, use_bias: true, activation: 'relu6' }, 'x') },
  { name: "DepthwiseConv2D dilation 2 'same', multiplier 2, no bias", input: [8, 7, 2], build: (g) => g.add('DepthwiseConv2D', { kernel_size: [3, 3], padding: 'same', depth_multiplier: 2, dilation_rate: [2, 2], use_bias: false }, 'x'), formulas: ['KerasDilatedConv'] },
  { name: "SeparableConv2D 'same' stride 2, multiplier 1, relu", input: [9, 7, 3], build: (g) => g.add('SeparableConv2D', { filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same', depth_multiplier: 1, activation: 'relu', use_bias: true }, 'x') },
  { name: "SeparableConv2D 'valid', multiplier 2, no bias", input: [7, 8, 2], build: (g) => g.add('SeparableConv2D', { filters: 3, kernel_size: [3, 2], padding: 'valid', depth_multiplier: 2, use_bias: false }, 'x') },
  { name: "SeparableConv2D dilation 2 'same'", input: [8, 8, 2], build: (g) => g.add('SeparableConv2D', { filters: 3, kernel_size: [3, 3], padding: 'same', depth_multiplier: 1, dilation_rate: [2, 2] }, 'x'), formulas: ['KerasDilatedConv'] },
  { name: "Conv2DTranspose stride 2 'same', and 'valid' with kernel 3 > stride 2", input: [4, 5, 3], build: (g) => g.add('Conv2DTranspose', { filters: 2, kernel_size: [3, 3], strides: [2, 2], padding: 'valid' }, g.add('Conv2DTranspose', { filters: 3, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu' }, 'x')) },
  { name: "Conv2DTranspose kernel 2 < stride 3 'valid', no bias", input: [3, 4, 2], build: (g) => g.add('Conv2DTranspose', { filters: 3, kernel_size: [2, 2], strides: [3, 3], padding: 'valid', use_bias: false }, 'x') },
  {
    name: "Conv2DTranspose output_padding 1 ('same' stride 2) and (0, 1) ('valid' stride (2, 3))",
    input: [4, 3, 2],
    build: (g) => g.add('Conv2DTranspose', { filters: 2, kernel_size: [3, 3], strides: [2, 3], padding: 'valid', output_padding: [0, 1] }, g.add('Conv2DTranspose', { filters: 3, kernel_size: [3, 3], strides: [2, 2], padding: 'same', output_padding: [1, 1] }, 'x')),
    formulas: ['KerasConv2DTranspose'],
  },
  { name: 'LocallyConnected2D 3x3 stride 1, relu', input: [6, 5, 2], build: (g) => g.add('LocallyConnected2D', { filters: 3, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', activation: 'relu', use_bias: true }, 'x'), formulas: ['LocallyConnected2D'] },
  { name: 'LocallyConnected2D 2x3 stride 2, no bias', input: [7, 8, 3], build: (g) => g.add('LocallyConnected2D', { filters: 2, kernel_size: [2, 3], strides: [2, 2], padding: 'valid', use_bias: false }, 'x'), formulas: ['LocallyConnected2D'] },
  // ---- pooling ----
  { name: 'MaxPooling2D 2x2 (default strides), odd sizes', input: [7, 9, 2], build: (g) => g.add('MaxPooling2D', { pool_size: [2, 2], strides: null, padding: 'valid' }, 'x') },
  { name: "MaxPooling2D 3x3 stride 2 'same' and 'valid'", input: [9, 8, 3], build: (g) => g.add('MaxPooling2D', { pool_size: [3, 3], strides: [2, 2], padding: 'valid' }, g.add('MaxPooling2D', { pool_size: [3, 3], strides: [1, 1], padding: 'same' }, 'x')) },
  { name: "AveragePooling2D 2x3 'valid' stride 2", input: [7, 9, 2], build: (g) => g.add('AveragePooling2D', { pool_size: [2, 3], strides: [2, 2], padding: 'valid' }, 'x') },
  { name: "AveragePooling2D 3x3 'same' (stride 1 and 2)", input: [7, 8, 2], build: (g) => g.add('AveragePooling2D', { pool_size: [3, 3], strides: [2, 2], padding: 'same' }, g.add('AveragePooling2D', { pool_size: [3, 3], strides: [1, 1], padding: 'same' }, 'x')), formulas: ['KerasAveragePooling2D'] },
  { name: 'GlobalAveragePooling2D and GlobalMaxPooling2D', input: [5, 6, 3], build: (g) => g.add('Concatenate', { axis: -1 }, [g.add('GlobalAveragePooling2D', {}, 'x'), g.add('GlobalMaxPooling2D', {}, 'x')]) },
  {
    name: 'GlobalAveragePooling2D / GlobalMaxPooling2D keepdims, broadcast back (squeeze-excite)',
    input: [5, 6, 3],
    build: (g) => g.add('Multiply', {}, ['x', g.add('Add', {}, [g.add('GlobalAveragePooling2D', { keepdims: true }, 'x'), g.add('GlobalMaxPooling2D', { keepdims: true }, 'x')])]),
    formulas: ['KerasGlobalPooling2D'],
  },
  // ---- merging ----
  {
    name: 'Add (3 inputs), Subtract, Multiply, Average, Maximum, Minimum',
    input: [5, 4, 3],
    build: (g) => {
      const a = g.add('Conv2D', conv(3, 1), 'x');
      const b = g.add('Conv2D', conv(3, 1), 'x');
      const parts = [g.add('Add', {}, ['x', a, b]), g.add('Subtract', {}, [a, b]), g.add('Multiply', {}, [a, 'x']), g.add('Average', {}, [a, b]), g.add('Maximum', {}, [a, b]), g.add('Minimum', {}, [a, b])];
      return g.add('Concatenate', { axis: -1 }, parts);
    },
    formulas: ['Subtract'],
  },
  {
    name: 'Concatenate on axes 1, 2 and 3',
    input: [3, 4, 2],
    build: (g) => {
      const rows = g.add('Concatenate', { axis: 1 }, ['x', 'x']);
      const cols = g.add('Concatenate', { axis: 2 }, ['x', g.add('Conv2D', conv(2, 1), 'x')]);
      const chans = g.add('Concatenate', { axis: 3 }, ['x', g.add('Conv2D', conv(3, 1), 'x')]);
      return g.add('Concatenate', { axis: -1 }, [rows, cols, chans].map((t) => g.add('Flatten', {}, t)));
    },
  },
  // ---- normalisation ----
  { name: 'BatchNormalization axis -1, epsilon 1e-5', input: [5, 4, 3], build: (g) => g.add('BatchNormalization', { axis: -1, epsilon: 1e-5, center: true, scale: true }, 'x') },
  { name: 'BatchNormalization axis [3] (a list), on a Dense output (axis 1)', input: [4, 3, 5], build: (g) => g.add('BatchNormalization', { axis: 1 }, g.add('Dense', { units: 4 }, g.add('Flatten', {}, g.add('BatchNormalization', { axis: [3] }, 'x')))) },
  { name: 'BatchNormalization scale=False and center=False', input: [4, 5, 3], build: (g) => g.add('BatchNormalization', { axis: 3, scale: true, center: false }, g.add('BatchNormalization', { axis: 3, scale: false }, 'x')), formulas: ['KerasBatchNormalization'] },
  { name: 'LayerNormalization axis -1', input: [4, 5, 6], build: (g) => g.add('LayerNormalization', { axis: [-1], epsilon: 1e-3 }, 'x') },
  { name: 'LayerNormalization axes [1, 2, 3], center=False', input: [3, 4, 5], build: (g) => g.add('LayerNormalization', { axis: [1, 2, 3], epsilon: 1e-5, center: false }, 'x'), formulas: ['KerasLayerNormalization'] },
  { name: 'LayerNormalization axes [2, 3], scale=False', input: [3, 4, 5], build: (g) => g.add('LayerNormalization', { axis: [2, 3], epsilon: 1e-3, scale: false }, 'x'), formulas: ['KerasLayerNormalization'] },
  // ---- activation layers ----
  { name: 'ReLU plain, max_value 6', input: [4, 5, 3], range: [-8, 8], build: (g) => g.add('ReLU', { max_value: 6 }, g.add('ReLU', {}, 'x')) },
  { name: 'ReLU negative_slope 0.1; negative_slope 0.2 with max_value 1', input: [4, 5, 3], range: [-2, 2], build: (g) => g.add('Concatenate', { axis: -1 }, [g.add('ReLU', { negative_slope: 0.1 }, 'x'), g.add('ReLU', { negative_slope: 0.2, max_value: 1 }, 'x')]), formulas: ['KerasReLU'] },
  {
    name: 'ReLU threshold 0.5; threshold -0.5 with max_value 0.8 (Keras clips the part above the threshold to [0, max_value])',
    input: [4, 5, 3],
    build: (g) => g.add('Concatenate', { axis: -1 }, [g.add('ReLU', { threshold: 0.5 }, 'x'), g.add('ReLU', { threshold: -0.5, max_value: 0.8 }, 'x'), g.add('ReLU', { threshold: -0.3, negative_slope: 0.5, max_value: 0.6 }, 'x')]),
    formulas: ['KerasReLU'], // keras.backend.relu step by step
  },
  { name: 'LeakyReLU default alpha 0.3 and alpha 0.1', input: [4, 5, 3], build: (g) => g.add('LeakyReLU', { alpha: 0.1 }, g.add('LeakyReLU', {}, 'x')) },
  { name: 'LeakyReLU negative_slope (Keras 3)', input: [4, 5, 3], keras: '3.3.3', build: (g) => g.add('LeakyReLU', { negative_slope: 0.05 }, 'x'), tfjsForm: (g) => g.add('LeakyReLU', { alpha: 0.05 }, 'x') },
  { name: 'PReLU per element, and shared over rows and columns', input: [4, 5, 3], build: (g) => g.add('PReLU', { shared_axes: [1, 2] }, g.add('PReLU', {}, 'x')) },
  { name: 'ELU alpha 1, and alpha 0.5', input: [4, 5, 3], range: [-3, 3], build: (g) => g.add('ELU', { alpha: 0.5 }, g.add('ELU', { alpha: 1 }, 'x')), formulas: ['KerasELU'] }, // tfjs-layers' ELU for alpha 1
  { name: 'ThresholdedReLU theta 0.3', input: [4, 5, 3], build: (g) => g.add('ThresholdedReLU', { theta: 0.3 }, 'x'), formulas: ['KerasThresholdedReLU'] }, // tfjs's has no gradient
  { name: 'Softmax on axes -1, 1 and 2', input: [3, 4, 5], range: [-3, 3], build: (g) => g.add('Concatenate', { axis: -1 }, [g.add('Softmax', { axis: -1 }, 'x'), g.add('Softmax', { axis: 1 }, 'x'), g.add('Softmax', { axis: 2 }, 'x')]), formulas: ['KerasSoftmax'] }, // tfjs: last axis only
  // ---- preprocessing ----
  { name: 'Rescaling 1/127.5 with offset -1; per-channel scale and offset', input: [4, 5, 3], range: [0, 255], build: (g) => g.add('Rescaling', { scale: [0.5, 1, 2], offset: [0, 0.1, -0.1] }, g.add('Rescaling', { scale: 1 / 127.5, offset: -1 }, 'x')) },
  {
    name: 'Normalization: mean / variance in the config (per channel, and one number), invert',
    input: [4, 5, 3],
    build: (g) => g.add('Normalization', { axis: -1, mean: 0.5, variance: 4, invert: true }, g.add('Normalization', { axis: -1, mean: [0.1, -0.2, 0.3], variance: [0.5, 2, 1e-16] }, 'x')),
    formulas: ['Normalization'],
  },
  { name: 'Normalization: mean / variance / count stored as weights (an adapted layer)', input: [4, 5, 3], build: (g) => g.add('Normalization', { axis: -1 }, 'x'), formulas: ['Normalization'] },
  {
    name: 'Resizing bilinear up (odd) and down, nearest, crop_to_aspect_ratio',
    input: [5, 7, 2],
    keras: '2.12.0',
    build: (g) => {
      const up = g.add('Resizing', { height: 9, width: 8, interpolation: 'bilinear' }, 'x');
      const down = g.add('Resizing', { height: 3, width: 4, interpolation: 'bilinear' }, up);
      const near = g.add('Resizing', { height: 4, width: 11, interpolation: 'nearest' }, down);
      return g.add('Resizing', { height: 6, width: 6, interpolation: 'bilinear', crop_to_aspect_ratio: true }, near);
    },
    formulas: ['KerasResize'], // tf.image.resize's half-pixel grid
  },
  {
    name: 'CenterCrop of a larger input, and of a smaller one (smart_resize)',
    input: [6, 9, 2],
    keras: '2.12.0',
    build: (g) => g.add('CenterCrop', { height: 7, width: 8 }, g.add('CenterCrop', { height: 3, width: 4 }, 'x')),
    formulas: ['KerasResize'], // tfjs-layers' CenterCrop uses cropAndResize, shifts a crop by 1 where the margin is 1, and has no gradient
  },
  { name: 'UpSampling2D nearest (2, 3)', input: [3, 4, 2], build: (g) => g.add('UpSampling2D', { size: [2, 3], interpolation: 'nearest', data_format: 'channels_last' }, 'x'), formulas: ['KerasResize'] }, // tfjs's forward agrees; its resize gradient does not
  {
    name: 'UpSampling2D bilinear (3, 2), tf.keras 2.4: half-pixel centres',
    input: [3, 4, 2],
    build: (g) => g.add('UpSampling2D', { size: [3, 2], interpolation: 'bilinear', data_format: 'channels_last' }, 'x'),
    formulas: ['KerasResize'], // Keras >= 2.3 resizes with tf.image.resize (half-pixel); tfjs-layers' UpSampling2D uses TF 1's grid
  },
  {
    name: 'UpSampling2D bilinear (2, 3), Keras 2.2.4: TF 1 resize_bilinear',
    input: [3, 4, 2],
    keras: '2.2.4',
    build: (g) => g.add('UpSampling2D', { size: [2, 3], interpolation: 'bilinear', data_format: 'channels_last' }, 'x'),
    formulas: ['KerasResize'], // TF 1's grid (tfjs-layers' own forward); tfjs-cpu's ResizeBilinearGrad swaps rows and columns here
  },
  // ---- reshaping ----
  { name: 'ZeroPadding2D 1, (1, 2), ((1, 0), (2, 3))', input: [3, 4, 2], build: (g) => g.add('ZeroPadding2D', { padding: [[1, 0], [2, 3]] }, g.add('ZeroPadding2D', { padding: [1, 2] }, g.add('ZeroPadding2D', { padding: 1 }, 'x'))) },
  {
    name: "ZeroPadding2D in Keras 1's forms: (top, bottom, left, right) and {'top_pad': ...}",
    input: [3, 4, 2],
    keras: '1.2.2',
    build: (g) => g.add('ZeroPadding2D', { padding: { top_pad: 2, bottom_pad: 0, left_pad: 1, right_pad: 3 } }, g.add('ZeroPadding2D', { padding: [1, 0, 0, 2] }, 'x')),
    tfjsForm: (g) => g.add('ZeroPadding2D', { padding: [[2, 0], [1, 3]] }, g.add('ZeroPadding2D', { padding: [[1, 0], [0, 2]] }, 'x')),
  },
  { name: 'Cropping2D 1, (1, 2), ((2, 0), (1, 3))', input: [9, 11, 2], build: (g) => g.add('Cropping2D', { cropping: [[2, 0], [1, 3]] }, g.add('Cropping2D', { cropping: [1, 2] }, g.add('Cropping2D', { cropping: 1 }, 'x'))) },
  {
    name: 'a Keras 3 functional config: residual Add, shared nothing, {args, kwargs} nodes',
    input: [6, 5, 3],
    keras: '3.3.3',
    keras3Format: true,
    build: (g) => {
      const a = g.add('Conv2D', conv(3, 3, { padding: 'same', activation: 'relu' }), 'x');
      const b = g.add('BatchNormalization', { axis: -1 }, g.add('Conv2D', conv(3, 3, { padding: 'same' }), a));
      return g.add('Dense', { units: 4, activation: 'softmax' }, g.add('GlobalAveragePooling2D', {}, g.add('Add', {}, ['x', b])));
    },
  },
  {
    name: 'a shared layer: one Conv2D called three times (its weights once)',
    input: [6, 5, 3],
    build: (g) => {
      const c = g.add('Conv2D', conv(3, 3, { padding: 'same', activation: 'tanh' }), 'x');
      const twice = g.again(c, c);
      const thrice = g.again(c, twice);
      return g.add('Concatenate', { axis: -1 }, [c, twice, thrice]);
    },
  },
  // ---- tf ops in a functional model (tf.keras 2.x TFOpLambda / SlicingOpLambda) ----
  {
    name: 'TFOpLambda arithmetic: constants (number, per-channel list) and a tensor operand',
    input: [4, 3, 3],
    build: (g) => {
      const c = g.add('Conv2D', conv(3, 1), 'x');
      const ops = [
        g.tfop('__operators__.add', 'x', { y: 3 }),
        g.tfop('math.add', 'x', { y: [c, 0, 0] }),
        g.tfop('__operators__.sub', 'x', { y: [[0.5, -1, 2]] }),
        g.tfop('math.subtract', c, { y: ['x', 0, 0] }),
        g.tfop('math.multiply', 'x', { y: 0.16666666666666666 }),
        g.tfop('__operators__.mul', 'x', { y: [c, 0, 0] }),
        g.tfop('math.truediv', 'x', { y: 4 }),
        g.tfop('__operators__.truediv', c, { y: [2, 4, 8] }),
        g.tfop('math.maximum', 'x', { y: 0.2 }),
        g.tfop('math.minimum', 'x', { y: [c, 0, 0] }),
      ];
      return g.add('Concatenate', { axis: -1 }, ops);
    },
    formulas: ['TFOpLambda'],
  },
  {
    name: 'TFOpLambda unary functions (log, sqrt, rsqrt on positive values)',
    input: [3, 4, 2],
    range: [0.1, 3],
    build: (g) => {
      const fns = ['nn.relu', 'nn.relu6', 'math.sigmoid', 'nn.sigmoid', 'math.tanh', 'nn.silu', 'nn.swish', 'math.exp', 'math.log', 'math.sqrt', 'math.rsqrt', 'math.square', 'math.negative', '__operators__.neg', 'math.abs', 'nn.softmax', 'identity'];
      const shifted = g.tfop('math.subtract', 'x', { y: 1.5 });
      const outs = fns.map((f) => g.tfop(f, ['nn.relu', 'nn.relu6', 'math.tanh', 'nn.silu', 'math.abs', '__operators__.neg'].includes(f) ? shifted : 'x'));
      // tf.nn.softmax along axis 1 (rows)
      outs.push(g.tfop('nn.softmax', 'x', { axis: 1 }));
      return g.add('Concatenate', { axis: -1 }, outs);
    },
    formulas: ['TFOpLambda'],
  },
  {
    name: 'TFOpLambda nn.gelu exact and approximate=True',
    input: [3, 4, 2],
    range: [-3, 3],
    build: (g) => g.add('Concatenate', { axis: -1 }, [g.tfop('nn.gelu', 'x'), g.tfop('nn.gelu', 'x', { approximate: false }), g.tfop('nn.gelu', 'x', { approximate: true })]),
    formulas: ['TFOpLambda'], // tf.nn.gelu, both forms
  },
  {
    name: 'TFOpLambda reductions (axis lists, negative axes, keepdims) and shape functions',
    input: [3, 4, 5],
    build: (g) => {
      const m = g.tfop('math.reduce_mean', 'x', { axis: [1, 2], keepdims: true });
      const s = g.tfop('math.reduce_sum', 'x', { axis: -1, keepdims: true });
      const mx = g.tfop('math.reduce_max', 'x', { axis: [1], keepdims: true });
      const mn = g.tfop('math.reduce_min', 'x', { axis: [-2], keepdims: true });
      const r = g.tfop('reshape', g.tfop('math.add', g.tfop('math.add', m, { y: [s, 0, 0] }), { y: [mx, 0, 0] }), { shape: [-1, 60] });
      const t = g.tfop('transpose', g.tfop('reshape', 'x', { shape: [-1, 12, 5] }), { perm: [0, 2, 1] });
      const e = g.tfop('expand_dims', g.tfop('reshape', g.tfop('math.multiply', mn, { y: ['x', 0, 0] }), { shape: [-1, 60] }), { axis: -1 });
      const flat = g.tfop('reshape', t, { shape: [-1, 60] });
      return g.tfop('concat', [g.tfop('expand_dims', r, { axis: 2 }), e, g.tfop('expand_dims', flat, { axis: -1 })], { axis: -1 });
    },
    formulas: ['TFOpLambda'],
  },
  {
    name: 'SlicingOpLambda: ranges, steps, negative bounds, an index (axis dropped), an ellipsis',
    input: [7, 8, 5],
    build: (g) => {
      const a = g.slice('x', [ALL, sl(1, 6), sl(null, null, 2), ALL]); // [:, 1:6, ::2, :]
      const b = g.slice('x', [ALL, sl(-5, -1, 2), sl(2, null, 3), sl(1, 3)]); // [:, -5:-1:2, 2::3, 1:3]
      const c = g.slice('x', [{ class_name: '__ellipsis__' }, 2]); // [..., 2]
      const d = g.slice('x', [ALL, -1]); // [:, -1]
      return g.add('Concatenate', { axis: -1 }, [g.add('Flatten', {}, a), g.add('Flatten', {}, b), g.add('Flatten', {}, c), g.add('Flatten', {}, d)]);
    },
    formulas: ['SlicingOpLambda'], // Python's x[...] as tf.stridedSlice
  },
];

/** Every class name (canonical) the cases' specs contain, filled as they run. */
const exercised = new Set<string>();
const measured: string[] = [];

beforeAll(async () => {
  await cs.setBackend('cpu');
  await tfjs();
});

afterAll(() => {
  console.log(`[layers_vs_tfjs] measured (rel = max|ours - tf| / max|tf|):\n  ${measured.join('\n  ')}`);
});

describe('every layer class against TF.js (forward and input gradient)', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const g = new Graph(c.input);
      const built = c.build(g);
      const config = { ...(c.keras3Format ? g.keras3(built) : g.model(built)), keras_version: c.keras ?? '2.4.0' };
      let tfjsConfig: Json = config;
      if (c.tfjsForm) {
        const h = new Graph(c.input);
        tfjsConfig = { ...h.model(c.tfjsForm(h)), keras_version: c.keras ?? '2.4.0' };
      }
      const spec = await readModelArchitecture(new TextEncoder().encode(JSON.stringify(config)), { fileName: 'case.json' });
      for (const l of spec.layers) exercised.add(l.className);
      const weights = generatedWeightArrays(spec, 4321);
      // the generator fills PReLU's alpha with 0.25 everywhere, which would hide a layout error
      const ar = new Random(23);
      for (const ws of weights.values()) for (const w of ws) if (w.role === 'alpha') w.values.forEach((_, i) => (w.values[i] = ar.uniform(0, 0.5)));
      const model = new Model(spec, weights);
      const tfm = await tfjsKerasModel(tfjsConfig, weights, { kerasVersion: c.keras ?? '2.4.0' });
      try {
        const rnd = new Random(17);
        const [lo, hi] = c.range ?? [-1, 1];
        const shape = [2, ...c.input];
        const x: HostTensor = { shape, values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rnd.uniform(lo, hi)) };
        const names = model.layerNames.filter((n) => model.layer(n).className !== 'InputLayer');
        const out = spec.outputs[0];
        const outShape = model.storedShape(out).map((d, i) => (i === 0 ? 2 : d!)) as number[];
        const w = Float32Array.from({ length: outShape.reduce((a, b) => a * b, 1) }, () => rnd.uniform(-1, 1));

        // ours: every layer's output and d sum(out * w) / dx, one pass
        // a model whose input feeds only channels-first layers takes it channels-last (held layout)
        const ourShape = [2, ...(model.inputShape as number[])];
        const toHeld = (v: Float32Array, [b, ch, h, wd]: number[]) => {
          const o = new Float32Array(v.length);
          for (let i = 0; i < b; i++) for (let k = 0; k < ch; k++) for (let y = 0; y < h; y++) for (let z = 0; z < wd; z++) o[((i * h + y) * wd + z) * ch + k] = v[((i * ch + k) * h + y) * wd + z];
          return o;
        };
        const held = ourShape.join() !== shape.join();
        const xt = cs.tensor(held ? toHeld(x.values, shape) : x.values, ourShape);
        const wt = cs.tensor(w, outShape);
        const ours = new Map<string, Float32Array>();
        const { value, grads } = cs.gradientsOf(() => {
          const outs = model.run(xt, [...names, out]);
          names.forEach((n, i) => ours.set(n, Float32Array.from(outs[i].dataSync() as Float32Array)));
          return { value: cs.sum(cs.mul(outs[outs.length - 1], wt)), wrt: [xt] };
        });
        const ourGrad = Float32Array.from(grads[0].dataSync() as Float32Array);
        cs.dispose([xt, wt, value, ...grads]);

        // TF.js: the same (kinks that the engines' rounding puts on different sides nudged, see kinkFlips)
        const score = (o: tf.Tensor[]) => tf.sum(tf.mul(o[0], tf.tensor(w, o[0].shape))) as tf.Scalar;
        let run = tfm.outputsAndGradient(x, score);
        const flips = kinkFlips(spec.layers, (n) => ours.get(n), (n) => run.outputs.get(n), Number(/^\d+/.exec(c.keras ?? '2')![0]));
        if (flips.count > 0) run = tfm.outputsAndGradient(x, score, flips.nudges);

        const tol = c.tol ?? 1e-5;
        let worst = 0;
        let worstAt = '';
        for (const n of names) {
          const t = run.outputs.get(n);
          expect(t, `TF.js has no output for ${n}`).toBeDefined();
          const stored = model.storedShape(n).map((d, i) => (i === 0 ? 2 : d));
          if (stored.length === 4 && stored.join() !== t!.shape.join()) {
            // a channels-first output held channels-last: TF.js's (N, C, H, W) compared as (N, H, W, C)
            expect([t!.shape[0], t!.shape[2], t!.shape[3], t!.shape[1]], n).toEqual(stored);
            const e = rel(ours.get(n)!, toHeld(t!.values, t!.shape));
            if (e > worst) [worst, worstAt] = [e, n];
            expect(e, n).toBeLessThanOrEqual(tol);
            continue;
          }
          expect(t!.shape, n).toEqual(stored);
          const e = rel(ours.get(n)!, t!.values);
          if (e > worst) [worst, worstAt] = [e, n];
          expect(e, `${n} (${model.layer(n).className})`).toBeLessThanOrEqual(tol);
        }
        const eg = rel(ourGrad, held ? toHeld(run.gradient.values, shape) : run.gradient.values);
        // (a reference that is all zero would make any comparison pass)
        expect(run.gradient.values.some((v) => v !== 0), 'TF.js gradient is all zero').toBe(true);
        for (const n of names) expect(run.outputs.get(n)!.values.some((v) => v !== 0), `TF.js output of ${n} is all zero`).toBe(true);
        measured.push(
          `${c.name}: forward ${worst.toExponential(1)} (${worstAt}), gradient ${eg.toExponential(1)}` +
            (flips.count ? `; ${flips.count} kink input(s) nudged` : '') +
            (tfm.substitutions.size ? `; reference ${[...new Set([...tfm.substitutions.values()].map((s) => s.split(' -> ')[1]))].join(', ')}` : ''),
        );
        expect(flips.largest).toBeLessThanOrEqual(tol);
        expect(eg, 'input gradient').toBeLessThanOrEqual(c.gradTol ?? 1e-5);
        // the TF.js side used exactly the formula classes the case names (tfjs-layers' own classes otherwise)
        expect([...new Set([...tfm.substitutions.values()].map((s) => s.split(' -> ')[1]))].sort()).toEqual([...(c.formulas ?? [])].sort());
      } finally {
        model.dispose();
        tfm.dispose();
      }
    });
  }

  it('covers every class in the layer registry', () => {
    // runs after the cases (vitest runs a file's tests in order)
    const missing = supportedLayerClasses().filter((cls) => !exercised.has(cls));
    expect(missing, 'registered layer classes no case builds').toEqual([]);
  });
});

describe('the references themselves', () => {
  it("the interpolation matrices equal tf.image.resizeBilinear / resizeNearestNeighbor with half_pixel_centers (their forward is TF's)", () => {
    const r = new Random(5);
    const x = tf.tensor(Float32Array.from({ length: 2 * 5 * 7 * 3 }, () => r.uniform(-1, 1)), [2, 5, 7, 3]) as tf.Tensor4D;
    for (const [oh, ow] of [[9, 8], [3, 4], [5, 13], [2, 2]]) {
      for (const method of ['bilinear', 'nearest'] as const) {
        const want = (method === 'bilinear' ? tf.image.resizeBilinear(x, [oh, ow], false, true) : tf.image.resizeNearestNeighbor(x, [oh, ow], false, true)).dataSync();
        const rh = resizeMatrix(5, oh, method);
        const rw = resizeMatrix(7, ow, method);
        const got = new Float32Array(2 * oh * ow * 3);
        const xv = x.dataSync();
        for (let b = 0; b < 2; b++)
          for (let i = 0; i < oh; i++)
            for (let j = 0; j < ow; j++)
              for (let k = 0; k < 3; k++) {
                let v = 0;
                for (let p = 0; p < 5; p++) for (let q = 0; q < 7; q++) v += rh[i * 5 + p] * rw[j * 7 + q] * xv[((b * 5 + p) * 7 + q) * 3 + k];
                got[((b * oh + i) * ow + j) * 3 + k] = v;
              }
        // float32 lerp in TF's order vs weights times values: a few ulps
        expect(rel(got, want), `${method} 5x7 -> ${oh}x${ow}`).toBeLessThanOrEqual(1e-6);
      }
    }
    // and TF 1's grid (Keras <= 2.2) equals tfjs's legacy resize
    const want = tf.image.resizeBilinear(x, [10, 21]).dataSync();
    const rh = resizeMatrix(5, 10, 'legacy-bilinear');
    const rw = resizeMatrix(7, 21, 'legacy-bilinear');
    const xv = x.dataSync();
    let worst = 0;
    for (let b = 0; b < 2; b++)
      for (let i = 0; i < 10; i++)
        for (let j = 0; j < 21; j++)
          for (let k = 0; k < 3; k++) {
            let v = 0;
            for (let p = 0; p < 5; p++) for (let q = 0; q < 7; q++) v += rh[i * 5 + p] * rw[j * 7 + q] * xv[((b * 5 + p) * 7 + q) * 3 + k];
            worst = Math.max(worst, Math.abs(v - want[((b * 10 + i) * 21 + j) * 3 + k]));
          }
    expect(worst).toBeLessThanOrEqual(1e-6);
    x.dispose();
  });

  it("the fast tfjs-cpu convolution gradient kernels equal tfjs-cpu's own", () => {
    const r = new Random(6);
    const t = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.uniform(-1, 1)), shape);
    const cases: [number[], number[], number, 'same' | 'valid'][] = [
      [[2, 7, 9, 3], [3, 3, 3, 4], 1, 'same'],
      [[1, 8, 7, 2], [3, 3, 2, 5], 2, 'same'],
      [[2, 9, 8, 3], [3, 2, 3, 2], 2, 'valid'],
      [[1, 6, 6, 4], [1, 1, 4, 3], 2, 'valid'],
      [[1, 5, 7, 2], [2, 2, 2, 3], 3, 'same'],
    ];
    for (const [xs, ws, s, pad] of cases) {
      const x = t(xs) as tf.Tensor4D;
      const w = t(ws) as tf.Tensor4D;
      const grads = () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad), tf.sin(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad)))))([x, w]).map((g) => g.dataSync());
      setFastConvolutionGradients(true);
      const fast = grads();
      setFastConvolutionGradients(false);
      const slow = grads();
      setFastConvolutionGradients(true);
      // float32 sums of up to 3*3*5 = 45 (dx) and 2*8*7/4 (dW) products in different orders
      expect(rel(fast[0], slow[0]), `dx ${xs} * ${ws} stride ${s} ${pad}`).toBeLessThanOrEqual(1e-6);
      expect(rel(fast[1], slow[1]), `dW ${xs} * ${ws} stride ${s} ${pad}`).toBeLessThanOrEqual(1e-6);
      tf.dispose([x, w]);
    }
  });
});
