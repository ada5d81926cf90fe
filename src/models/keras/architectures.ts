/**
 * The architectures the product builds itself, written as the Keras 2 JSON
 * configs Keras would save for them (so they go through the same parser as
 * a user's file), and their parsed {@link ModelSpec}s:
 *
 * - VGG16 (`keras.applications.VGG16`), with or without top: layer names
 *   block1_conv1 .. block5_pool, flatten, fc1, fc2, predictions;
 * - Model A, the book's small cats-vs-dogs convnet (SPEC.md);
 * - SqueezeNet v1.1's convolutional base as the keras-squeezenet project
 *   builds it (matches the weights fixture).
 *
 * `widthDivisor` shrinks every conv / hidden dense width (for fast tests
 * only); the real models use 1.
 */
import { parseModelConfig } from './config.ts';
import type { ModelSpec } from './spec.ts';

type Json = Record<string, unknown>;

const VARIANCE_SCALING = {
  class_name: 'VarianceScaling',
  config: { scale: 1.0, mode: 'fan_avg', distribution: 'uniform', seed: null },
};
const ZEROS = { class_name: 'Zeros', config: {} };
/** The keys Keras 2 writes for every layer with a kernel and a bias (Conv2D, Dense). */
const WEIGHTED_LAYER_DEFAULTS = {
  use_bias: true,
  kernel_initializer: VARIANCE_SCALING,
  bias_initializer: ZEROS,
  kernel_regularizer: null,
  bias_regularizer: null,
  activity_regularizer: null,
  kernel_constraint: null,
  bias_constraint: null,
};

function conv2dConfig(
  name: string,
  filters: number,
  kernel: number,
  opts: { strides?: number; padding?: 'valid' | 'same'; activation?: string } = {},
): Json {
  return {
    name,
    trainable: true,
    filters,
    kernel_size: [kernel, kernel],
    strides: [opts.strides ?? 1, opts.strides ?? 1],
    padding: opts.padding ?? 'valid',
    data_format: 'channels_last',
    dilation_rate: [1, 1],
    activation: opts.activation ?? 'linear',
    ...WEIGHTED_LAYER_DEFAULTS,
  };
}

function poolConfig(name: string, size: number, stride: number): Json {
  return { name, trainable: true, pool_size: [size, size], padding: 'valid', strides: [stride, stride], data_format: 'channels_last' };
}

function denseConfig(name: string, units: number, activation: string): Json {
  return {
    name,
    trainable: true,
    units,
    activation,
    ...WEIGHTED_LAYER_DEFAULTS,
  };
}

/** Builds a Keras 2 functional ('Model') config layer by layer. */
class FunctionalBuilder {
  readonly layers: Json[] = [];
  add(className: string, config: Json, inbound: string[]): string {
    const name = config.name as string;
    this.layers.push({
      name,
      class_name: className,
      config,
      inbound_nodes: inbound.length ? [inbound.map((n) => [n, 0, 0, {}])] : [],
    });
    return name;
  }
  input(name: string, shape: (number | null)[]): string {
    return this.add('InputLayer', { batch_input_shape: [null, ...shape], dtype: 'float32', sparse: false, name }, []);
  }
  build(name: string, inputs: string[], outputs: string[]): Json {
    return {
      class_name: 'Model',
      config: {
        name,
        layers: this.layers,
        input_layers: inputs.map((n) => [n, 0, 0]),
        output_layers: outputs.map((n) => [n, 0, 0]),
      },
    };
  }
}

/** Options of the VGG16 architecture. */
export interface Vgg16Options {
  /** Include Flatten, fc1, fc2, predictions (default true). */
  includeTop?: boolean;
  /** Input [rows, cols, 3]; default [224, 224, 3] with top, [null, null, 3] without. */
  inputShape?: [number | null, number | null, number];
  /** Divide conv and fc widths by this (fast tests only; default 1). */
  widthDivisor?: number;
  /** Number of classes (default 1000). */
  classes?: number;
}

/** VGG16 block widths and depths. */
export const VGG16_BLOCKS: readonly { filters: number; convs: number }[] = [
  { filters: 64, convs: 2 },
  { filters: 128, convs: 2 },
  { filters: 256, convs: 3 },
  { filters: 512, convs: 3 },
  { filters: 512, convs: 3 },
];

/** The Keras 2 JSON config of `keras.applications.VGG16` (functional 'Model', name 'vgg16'). */
export function vgg16KerasConfig(opts: Vgg16Options = {}): Json {
  const top = opts.includeTop ?? true;
  const div = opts.widthDivisor ?? 1;
  const width = (n: number) => Math.max(1, Math.round(n / div));
  const shape = opts.inputShape ?? (top ? [224, 224, 3] : [null, null, 3]);
  const b = new FunctionalBuilder();
  let x = b.input('input_1', shape);
  VGG16_BLOCKS.forEach((blk, i) => {
    for (let j = 1; j <= blk.convs; j++) {
      x = b.add('Conv2D', conv2dConfig(`block${i + 1}_conv${j}`, width(blk.filters), 3, { padding: 'same', activation: 'relu' }), [x]);
    }
    x = b.add('MaxPooling2D', poolConfig(`block${i + 1}_pool`, 2, 2), [x]);
  });
  if (top) {
    x = b.add('Flatten', { name: 'flatten', trainable: true, data_format: 'channels_last' }, [x]);
    x = b.add('Dense', denseConfig('fc1', width(4096), 'relu'), [x]);
    x = b.add('Dense', denseConfig('fc2', width(4096), 'relu'), [x]);
    x = b.add('Dense', denseConfig('predictions', opts.classes ?? 1000, 'softmax'), [x]);
  }
  return b.build('vgg16', ['input_1'], [x]);
}

/** VGG16 as a {@link ModelSpec}. */
export function vgg16Spec(opts: Vgg16Options = {}): ModelSpec {
  return parseModelConfig(vgg16KerasConfig(opts));
}

/** Options of Model A. */
export interface SmallConvnetOptions {
  /** Square input size (default 150). */
  inputSize?: number;
  /** Divide widths by this (fast tests only; default 1). */
  widthDivisor?: number;
}

/**
 * Model A's Keras 2.1 `Sequential` config (list form, as the book's Keras
 * wrote it): Conv2D(32) MaxPool Conv2D(64) MaxPool Conv2D(128) MaxPool
 * Conv2D(128) MaxPool Flatten Dropout(0.5) Dense(512, relu) Dense(1, sigmoid).
 */
export function smallConvnetKerasConfig(opts: SmallConvnetOptions = {}): Json {
  const n = opts.inputSize ?? 150;
  const div = opts.widthDivisor ?? 1;
  const width = (k: number) => Math.max(1, Math.round(k / div));
  const layers: Json[] = [];
  [32, 64, 128, 128].forEach((f, i) => {
    const conv = conv2dConfig(`conv2d_${i + 1}`, width(f), 3, { activation: 'relu' });
    if (i === 0) Object.assign(conv, { batch_input_shape: [null, n, n, 3], dtype: 'float32' });
    layers.push({ class_name: 'Conv2D', config: conv });
    layers.push({ class_name: 'MaxPooling2D', config: poolConfig(`max_pooling2d_${i + 1}`, 2, 2) });
  });
  layers.push({ class_name: 'Flatten', config: { name: 'flatten_1', trainable: true, data_format: 'channels_last' } });
  layers.push({ class_name: 'Dropout', config: { name: 'dropout_1', trainable: true, rate: 0.5, noise_shape: null, seed: null } });
  layers.push({ class_name: 'Dense', config: denseConfig('dense_1', width(512), 'relu') });
  layers.push({ class_name: 'Dense', config: denseConfig('dense_2', 1, 'sigmoid') });
  return { class_name: 'Sequential', config: layers };
}

/** Model A as a {@link ModelSpec}. */
export function smallConvnetSpec(opts: SmallConvnetOptions = {}): ModelSpec {
  return parseModelConfig(smallConvnetKerasConfig(opts));
}

/** SqueezeNet v1.1 fire modules: [id, squeeze, expand]. */
const FIRES: readonly [number, number, number][] = [
  [2, 16, 64],
  [3, 16, 64],
  [4, 32, 128],
  [5, 32, 128],
  [6, 48, 192],
  [7, 48, 192],
  [8, 64, 256],
  [9, 64, 256],
];

/**
 * SqueezeNet v1.1's convolutional base (no top) as keras-squeezenet builds
 * it: conv1 3x3/2 valid, relu_conv1, pool1 3x3/2; fire2, fire3, pool3,
 * fire4, fire5, pool5, fire6..fire9; a fire module is squeeze1x1 + relu,
 * expand1x1 + relu and expand3x3 ('same') + relu, concatenated on channels.
 */
export function squeezeNetKerasConfig(opts: { inputShape?: [number | null, number | null, number] } = {}): Json {
  const b = new FunctionalBuilder();
  let x = b.input('input_1', opts.inputShape ?? [227, 227, 3]);
  x = b.add('Conv2D', conv2dConfig('conv1', 64, 3, { strides: 2 }), [x]);
  x = b.add('Activation', { name: 'relu_conv1', trainable: true, activation: 'relu' }, [x]);
  x = b.add('MaxPooling2D', poolConfig('pool1', 3, 2), [x]);
  for (const [id, sq, ex] of FIRES) {
    const p = `fire${id}/`;
    const s = b.add('Conv2D', conv2dConfig(`${p}squeeze1x1`, sq, 1), [x]);
    const sr = b.add('Activation', { name: `${p}relu_squeeze1x1`, trainable: true, activation: 'relu' }, [s]);
    const e1 = b.add('Conv2D', conv2dConfig(`${p}expand1x1`, ex, 1), [sr]);
    const e3 = b.add('Conv2D', conv2dConfig(`${p}expand3x3`, ex, 3, { padding: 'same' }), [sr]);
    const r1 = b.add('Activation', { name: `${p}relu_expand1x1`, trainable: true, activation: 'relu' }, [e1]);
    const r3 = b.add('Activation', { name: `${p}relu_expand3x3`, trainable: true, activation: 'relu' }, [e3]);
    x = b.add('Concatenate', { name: `${p}concat`, trainable: true, axis: 3 }, [r1, r3]);
    if (id === 3) x = b.add('MaxPooling2D', poolConfig('pool3', 3, 2), [x]);
    if (id === 5) x = b.add('MaxPooling2D', poolConfig('pool5', 3, 2), [x]);
  }
  return b.build('squeezenet', ['input_1'], [x]);
}

/** SqueezeNet v1.1's convolutional base as a {@link ModelSpec}. */
export function squeezeNetSpec(opts: { inputShape?: [number | null, number | null, number] } = {}): ModelSpec {
  return parseModelConfig(squeezeNetKerasConfig(opts));
}
