/**
 * model_config parsing for every Keras version, on configs written the way
 * each version writes them, and the errors for what is not supported.
 */
import { describe, expect, it } from 'vitest';
import { parseKerasJson, parseModelConfig } from '../../src/models/keras/config.ts';
import { countParams, formatSummary, inferShapes } from '../../src/models/keras/summary_shapes.ts';
import { SUPPORTED_LAYER_CLASSES, type LayerSpec, type ModelSpec } from '../../src/models/keras/spec.ts';
import { smallConvnetSpec, vgg16Spec } from '../../src/models/keras/architectures.ts';

const seenClasses = new Set<string>();

function shapes(spec: ModelSpec): Record<string, (number | null)[]> {
  for (const l of spec.layers) seenClasses.add(l.className);
  return Object.fromEntries(inferShapes(spec).map((i) => [i.layer.name, i.outputShape]));
}

function layer(spec: ModelSpec, name: string): LayerSpec {
  const l = spec.layers.find((x) => x.name === name);
  if (!l) throw new Error(`no layer ${name}`);
  return l;
}

describe('Keras 1 configs', () => {
  const keras1Sequential = {
    class_name: 'Sequential',
    config: [
      {
        class_name: 'Convolution2D',
        config: {
          name: 'convolution2d_1', trainable: true, batch_input_shape: [null, 32, 32, 3], input_dtype: 'float32',
          nb_filter: 8, nb_row: 3, nb_col: 5, init: 'glorot_uniform', activation: 'relu', border_mode: 'same',
          subsample: [2, 2], dim_ordering: 'tf', W_regularizer: null, b_regularizer: null, bias: true,
        },
      },
      { class_name: 'MaxPooling2D', config: { name: 'maxpooling2d_1', trainable: true, pool_size: [2, 2], strides: null, border_mode: 'valid', dim_ordering: 'tf' } },
      { class_name: 'AtrousConvolution2D', config: { name: 'atrous', nb_filter: 4, nb_row: 3, nb_col: 3, atrous_rate: [2, 2], border_mode: 'valid', subsample: [1, 1], activation: 'linear', dim_ordering: 'tf', bias: false } },
      { class_name: 'Flatten', config: { name: 'flatten_1', trainable: true } },
      { class_name: 'Dropout', config: { name: 'dropout_1', trainable: true, p: 0.25 } },
      { class_name: 'Dense', config: { name: 'dense_1', trainable: true, output_dim: 10, init: 'glorot_uniform', activation: 'softmax', bias: true, input_dim: null } },
      { class_name: 'Activation', config: { name: 'activation_1', trainable: true, activation: 'tanh' } },
    ],
  };

  it('Sequential as a list: Keras 1 keys mapped to Keras 2 ones, InputLayer synthesised', () => {
    const spec = parseModelConfig(keras1Sequential, { kerasVersion: '1.2.2' });
    expect(spec.kind).toBe('sequential');
    expect(spec.name).toBe('sequential');
    expect(spec.kerasVersion).toBe('1.2.2');
    expect(spec.inputs).toEqual(['convolution2d_1_input']);
    expect(spec.outputs).toEqual(['activation_1']);
    expect(spec.inputShape).toEqual([null, 32, 32, 3]);
    expect(layer(spec, 'convolution2d_1').config).toEqual({
      filters: 8, kernel_size: [3, 5], strides: [2, 2], padding: 'same', dilation_rate: [1, 1], activation: 'relu', use_bias: true,
    });
    expect(layer(spec, 'maxpooling2d_1').config).toEqual({ pool_size: [2, 2], strides: [2, 2], padding: 'valid' });
    expect(layer(spec, 'atrous')).toMatchObject({ className: 'Conv2D', config: { dilation_rate: [2, 2], use_bias: false } });
    expect(layer(spec, 'dropout_1').config).toEqual({ rate: 0.25 });
    expect(layer(spec, 'dense_1').config).toEqual({ units: 10, activation: 'softmax', use_bias: true });
    expect(layer(spec, 'maxpooling2d_1').inbound).toEqual(['convolution2d_1']);
    expect(shapes(spec)).toEqual({
      convolution2d_1_input: [null, 32, 32, 3],
      convolution2d_1: [null, 16, 16, 8],
      maxpooling2d_1: [null, 8, 8, 8],
      atrous: [null, 4, 4, 4],
      flatten_1: [null, 64],
      dropout_1: [null, 64],
      dense_1: [null, 10],
      activation_1: [null, 10],
    });
    expect(countParams(spec).total).toBe(3 * 5 * 3 * 8 + 8 + 3 * 3 * 8 * 4 + 64 * 10 + 10);
  });

  it('Model with Merge (concat and sum), ZeroPadding2D 4-tuple, BatchNormalization mode 0', () => {
    const conv = (name: string, n: number) => ({
      class_name: 'Convolution2D',
      name,
      config: { name, nb_filter: n, nb_row: 1, nb_col: 1, border_mode: 'valid', subsample: [1, 1], activation: 'linear', dim_ordering: 'tf', bias: true },
      inbound_nodes: [[['pad', 0, 0]]],
    });
    const spec = parseModelConfig({
      class_name: 'Model',
      config: {
        name: 'model_1',
        layers: [
          { class_name: 'InputLayer', name: 'input_1', config: { batch_input_shape: [null, 6, 6, 3], input_dtype: 'float32', sparse: false, name: 'input_1' }, inbound_nodes: [] },
          { class_name: 'ZeroPadding2D', name: 'pad', config: { name: 'pad', padding: [1, 2, 0, 3], dim_ordering: 'tf' }, inbound_nodes: [[['input_1', 0, 0]]] },
          conv('a', 4),
          conv('b', 4),
          { class_name: 'Merge', name: 'cat', config: { name: 'cat', mode: 'concat', concat_axis: -1 }, inbound_nodes: [[['a', 0, 0], ['b', 0, 0]]] },
          { class_name: 'Merge', name: 'sum', config: { name: 'sum', mode: 'sum' }, inbound_nodes: [[['a', 0, 0], ['b', 0, 0]]] },
          { class_name: 'BatchNormalization', name: 'bn', config: { name: 'bn', epsilon: 0.001, mode: 0, axis: -1, momentum: 0.99 }, inbound_nodes: [[['cat', 0, 0]]] },
        ],
        input_layers: [['input_1', 0, 0]],
        output_layers: [['bn', 0, 0], ['sum', 0, 0]],
      },
    });
    expect(layer(spec, 'pad').config).toEqual({ padding: [[1, 2], [0, 3]] });
    expect(layer(spec, 'cat')).toMatchObject({ className: 'Concatenate', config: { axis: -1 }, inbound: ['a', 'b'] });
    expect(layer(spec, 'sum')).toMatchObject({ className: 'Add', config: {}, inbound: ['a', 'b'] });
    expect(layer(spec, 'bn').config).toEqual({ axis: -1, epsilon: 0.001, momentum: 0.99, center: true, scale: true });
    expect(shapes(spec)).toMatchObject({ pad: [null, 9, 9, 3], cat: [null, 9, 9, 8], sum: [null, 9, 9, 4], bn: [null, 9, 9, 8] });
    expect(spec.outputs).toEqual(['bn', 'sum']);
    expect(countParams(spec)).toEqual({ total: 16 + 16 + 32, trainable: 16 + 16 + 16, nonTrainable: 16 });
  });

  it("rejects 'th' dim ordering (channels first)", () => {
    const th = structuredClone(keras1Sequential);
    (th.config[0].config as Record<string, unknown>).dim_ordering = 'th';
    expect(() => parseModelConfig(th, { fileName: 'old.h5' })).toThrow(
      /^old\.h5: layer 'convolution2d_1' \(Convolution2D\): dim_ordering 'th' \(channels first\) is not supported/,
    );
    const def = structuredClone(keras1Sequential);
    (def.config[0].config as Record<string, unknown>).dim_ordering = 'default';
    expect(() => parseModelConfig(def, { backend: 'theano' })).toThrow(/dim_ordering 'default'/);
    expect(parseModelConfig(def, { backend: 'tensorflow' }).layers).toHaveLength(8);
  });
});

describe('Keras 2.0-2.2 and tf.keras 2.x configs', () => {
  it('Sequential as {name, layers} (Keras 2.2.3+), first layer carrying batch_input_shape', () => {
    const spec = parseModelConfig({
      class_name: 'Sequential',
      config: {
        name: 'sequential_7',
        layers: [
          { class_name: 'Conv2D', config: { name: 'c', batch_input_shape: [null, 9, 9, 1], filters: 2, kernel_size: 3, strides: 2, padding: 'same', data_format: 'channels_last', dilation_rate: 1, activation: 'relu', use_bias: false } },
          { class_name: 'GlobalMaxPooling2D', config: { name: 'g', data_format: 'channels_last' } },
        ],
      },
    });
    expect(spec.name).toBe('sequential_7');
    expect(layer(spec, 'c').config).toEqual({ filters: 2, kernel_size: [3, 3], strides: [2, 2], padding: 'same', dilation_rate: [1, 1], activation: 'relu', use_bias: false });
    expect(shapes(spec)).toEqual({ c_input: [null, 9, 9, 1], c: [null, 5, 5, 2], g: [null, 2] });
    expect(countParams(spec).total).toBe(18);
  });

  it('tf.keras Functional: InputLayer, ReLU, LeakyReLU, BN axis [3], pooling, Add, Reshape, padding forms', () => {
    const node = (...names: string[]) => [names.map((n) => [n, 0, 0, {}])];
    const spec = parseModelConfig(
      {
        class_name: 'Functional',
        config: {
          name: 'model',
          layers: [
            { class_name: 'InputLayer', name: 'input_1', config: { batch_input_shape: [null, 8, 8, 3], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' }, inbound_nodes: [] },
            { class_name: 'ZeroPadding2D', name: 'zp', config: { name: 'zp', padding: [[1, 1], [2, 2]], data_format: 'channels_last' }, inbound_nodes: node('input_1') },
            { class_name: 'Conv2D', name: 'conv', config: { name: 'conv', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'linear', use_bias: true }, inbound_nodes: node('zp') },
            { class_name: 'BatchNormalization', name: 'bn', config: { name: 'bn', axis: [3], momentum: 0.9, epsilon: 1e-5, center: false, scale: true }, inbound_nodes: node('conv') },
            { class_name: 'ReLU', name: 'relu6', config: { name: 'relu6', max_value: 6.0, negative_slope: 0.0, threshold: 0.0 }, inbound_nodes: node('bn') },
            { class_name: 'LeakyReLU', name: 'leaky', config: { name: 'leaky', alpha: 0.1 }, inbound_nodes: node('bn') },
            { class_name: 'Add', name: 'add', config: { name: 'add' }, inbound_nodes: node('relu6', 'leaky') },
            { class_name: 'SpatialDropout2D', name: 'sd', config: { name: 'sd', rate: 0.1, data_format: 'channels_last' }, inbound_nodes: node('add') },
            { class_name: 'PReLU', name: 'prelu', config: { name: 'prelu', shared_axes: [1, 2] }, inbound_nodes: node('sd') },
            { class_name: 'AveragePooling2D', name: 'avg', config: { name: 'avg', pool_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last' }, inbound_nodes: node('prelu') },
            { class_name: 'GlobalAveragePooling2D', name: 'gap', config: { name: 'gap', data_format: 'channels_last', keepdims: true }, inbound_nodes: node('avg') },
            { class_name: 'Reshape', name: 'rs', config: { name: 'rs', target_shape: [2, -1] }, inbound_nodes: node('gap') },
            { class_name: 'Dense', name: 'dense', config: { name: 'dense', units: 3, activation: 'sigmoid', use_bias: true }, inbound_nodes: node('rs') },
          ],
          input_layers: [['input_1', 0, 0]],
          output_layers: [['dense', 0, 0]],
        },
        keras_version: '2.9.0',
        backend: 'tensorflow',
      },
    );
    expect(spec.kind).toBe('functional');
    expect(spec.kerasVersion).toBe('2.9.0');
    expect(layer(spec, 'bn').config).toEqual({ axis: 3, epsilon: 1e-5, momentum: 0.9, center: false, scale: true });
    expect(layer(spec, 'relu6').config).toEqual({ max_value: 6, negative_slope: 0, threshold: 0 });
    expect(layer(spec, 'leaky').config).toEqual({ alpha: 0.1 });
    expect(layer(spec, 'gap').config).toEqual({ keepdims: true });
    expect(shapes(spec)).toEqual({
      input_1: [null, 8, 8, 3],
      zp: [null, 10, 12, 3],
      conv: [null, 8, 10, 4],
      bn: [null, 8, 10, 4],
      relu6: [null, 8, 10, 4],
      leaky: [null, 8, 10, 4],
      add: [null, 8, 10, 4],
      sd: [null, 8, 10, 4],
      prelu: [null, 8, 10, 4],
      avg: [null, 4, 5, 4],
      gap: [null, 1, 1, 4],
      rs: [null, 2, 2],
      dense: [null, 2, 3],
    });
    expect(inferShapes(spec).find((i) => i.layer.name === 'prelu')!.weights).toMatchObject([{ role: 'alpha', shape: [1, 1, 4], trainable: true }]);
    const bn = inferShapes(spec).find((i) => i.layer.name === 'bn')!;
    expect(bn.weights.map((w) => [w.role, w.shape, w.trainable])).toEqual([
      ['gamma', [4], true],
      ['moving_mean', [4], false],
      ['moving_variance', [4], false],
    ]);
    // not a chain: the Connected to column, one extra row per extra input
    const summary = formatSummary(spec).split('\n').map((l) => l.trimEnd());
    expect(summary).toContain('add (Add)                       (None, 8, 10, 4)     0           relu6[0][0]');
    expect(summary).toContain(' '.repeat(65) + 'leaky[0][0]');
  });

  it('a frozen layer (trainable false) counts as non-trainable', () => {
    const cfg = { class_name: 'Sequential', config: [{ class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3], trainable: false } }] };
    expect(countParams(parseModelConfig(cfg))).toEqual({ total: 8, trainable: 0, nonTrainable: 8 });
  });
});

describe('Keras 3 legacy h5 configs', () => {
  const tensor = (layerName: string, shape: (number | null)[]) => ({
    class_name: '__keras_tensor__',
    config: { shape, dtype: 'float32', keras_history: [layerName, 0, 0] },
  });
  const dtype = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  const keras3Functional = {
    module: 'keras',
    class_name: 'Functional',
    config: {
      name: 'functional',
      trainable: true,
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 16, 16, 3], dtype: 'float32', sparse: false, name: 'input_layer' }, registered_name: null, name: 'input_layer', inbound_nodes: [] },
        {
          module: 'keras.layers', class_name: 'Conv2D', registered_name: null, name: 'conv2d',
          config: { name: 'conv2d', trainable: true, dtype, filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'relu', use_bias: true },
          build_config: { input_shape: [null, 16, 16, 3] },
          inbound_nodes: [{ args: [tensor('input_layer', [null, 16, 16, 3])], kwargs: {} }],
        },
        {
          module: 'keras.layers', class_name: 'Conv2D', registered_name: null, name: 'conv2d_1',
          config: { name: 'conv2d_1', trainable: true, dtype, filters: 2, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: { module: 'keras.activations', class_name: 'function', config: 'gelu', registered_name: 'function' }, use_bias: false },
          inbound_nodes: [{ args: [tensor('input_layer', [null, 16, 16, 3])], kwargs: {} }],
        },
        {
          module: 'keras.layers', class_name: 'Concatenate', registered_name: null, name: 'concatenate',
          config: { name: 'concatenate', trainable: true, dtype, axis: -1 },
          inbound_nodes: [{ args: [[tensor('conv2d', [null, 16, 16, 4]), tensor('conv2d_1', [null, 16, 16, 2])]], kwargs: {} }],
        },
        {
          module: 'keras.layers', class_name: 'LeakyReLU', registered_name: null, name: 'leaky_re_lu',
          config: { name: 'leaky_re_lu', trainable: true, dtype, negative_slope: 0.2 },
          inbound_nodes: [{ args: [tensor('concatenate', [null, 16, 16, 6])], kwargs: {} }],
        },
        {
          module: 'keras.layers', class_name: 'MaxPooling2D', registered_name: null, name: 'max_pooling2d',
          config: { name: 'max_pooling2d', trainable: true, dtype, pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' },
          inbound_nodes: [{ args: [tensor('leaky_re_lu', [null, 16, 16, 6])], kwargs: {} }],
        },
        {
          module: 'keras.layers', class_name: 'Flatten', registered_name: null, name: 'flatten',
          config: { name: 'flatten', trainable: true, dtype, data_format: 'channels_last' },
          inbound_nodes: [{ args: [tensor('max_pooling2d', [null, 8, 8, 6])], kwargs: {} }],
        },
        {
          module: 'keras.layers', class_name: 'Dense', registered_name: null, name: 'dense',
          config: { name: 'dense', trainable: true, dtype, units: 5, activation: 'softmax', use_bias: true },
          inbound_nodes: [{ args: [tensor('flatten', [null, 384])], kwargs: {} }],
        },
      ],
      input_layers: ['input_layer', 0, 0],
      output_layers: [['dense', 0, 0]],
    },
    registered_name: 'Functional',
  };

  it('Functional: batch_shape, nested layer objects, __keras_tensor__ inbound nodes, flat input_layers', () => {
    const spec = parseModelConfig(keras3Functional, { kerasVersion: '3.3.3', backend: 'tensorflow' });
    expect(spec.inputs).toEqual(['input_layer']);
    expect(spec.outputs).toEqual(['dense']);
    expect(spec.inputShape).toEqual([null, 16, 16, 3]);
    expect(layer(spec, 'concatenate').inbound).toEqual(['conv2d', 'conv2d_1']);
    expect(layer(spec, 'conv2d_1').config).toMatchObject({ activation: 'gelu', use_bias: false });
    expect(layer(spec, 'leaky_re_lu').config).toEqual({ alpha: 0.2 });
    expect(shapes(spec)).toEqual({
      input_layer: [null, 16, 16, 3],
      conv2d: [null, 16, 16, 4],
      conv2d_1: [null, 16, 16, 2],
      concatenate: [null, 16, 16, 6],
      leaky_re_lu: [null, 16, 16, 6],
      max_pooling2d: [null, 8, 8, 6],
      flatten: [null, 384],
      dense: [null, 5],
    });
  });

  it('Sequential with an InputLayer carrying batch_shape', () => {
    const spec = parseModelConfig({
      module: 'keras',
      class_name: 'Sequential',
      config: {
        name: 'sequential',
        trainable: true,
        layers: [
          { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 28, 28, 1], dtype: 'float32', sparse: false, name: 'input_layer' }, registered_name: null },
          { module: 'keras.layers', class_name: 'Conv2D', config: { name: 'conv2d', filters: 3, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'relu', use_bias: true }, registered_name: null, build_config: { input_shape: [null, 28, 28, 1] } },
        ],
      },
      registered_name: null,
      build_config: { input_shape: [null, 28, 28, 1] },
    });
    expect(spec.layers.map((l) => [l.name, l.className, l.inbound])).toEqual([
      ['input_layer', 'InputLayer', []],
      ['conv2d', 'Conv2D', ['input_layer']],
    ]);
    expect(shapes(spec).conv2d).toEqual([null, 26, 26, 3]);
  });
});

describe('standalone JSON (model.to_json(), tfjs model.json)', () => {
  it('parses to_json output with its keras_version and backend', () => {
    const json = JSON.stringify({ ...smallConvnetKerasJson(), keras_version: '2.1.6', backend: 'tensorflow' });
    const spec = parseKerasJson(json);
    expect(spec.kerasVersion).toBe('2.1.6');
    expect(spec.backend).toBe('tensorflow');
    expect(countParams(spec).total).toBe(3453121);
  });
  it('unwraps {modelTopology} and {model_config}', () => {
    expect(parseKerasJson(JSON.stringify({ modelTopology: { model_config: smallConvnetKerasJson() } })).layers).toHaveLength(13);
    expect(parseModelConfig({ model_config: smallConvnetKerasJson() }).layers).toHaveLength(13);
  });
  it('names the file on bad JSON', () => {
    expect(() => parseKerasJson('{"class_name": ', { fileName: 'model.json' })).toThrow(/^model\.json: not a Keras JSON config/);
  });
});

function smallConvnetKerasJson(): Record<string, unknown> {
  // Model A written as Keras 2.1 would (architectures.ts builds the same config)
  return JSON.parse(JSON.stringify({ class_name: 'Sequential', config: smallConvnetSpecLayersAsKeras() })) as Record<string, unknown>;
}

function smallConvnetSpecLayersAsKeras(): unknown[] {
  const conv = (name: string, f: number, first = false) => ({
    class_name: 'Conv2D',
    config: { name, filters: f, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'relu', use_bias: true, ...(first ? { batch_input_shape: [null, 150, 150, 3] } : {}) },
  });
  const pool = (name: string) => ({ class_name: 'MaxPooling2D', config: { name, pool_size: [2, 2], strides: [2, 2], padding: 'valid', data_format: 'channels_last' } });
  return [
    conv('conv2d_1', 32, true), pool('max_pooling2d_1'), conv('conv2d_2', 64), pool('max_pooling2d_2'),
    conv('conv2d_3', 128), pool('max_pooling2d_3'), conv('conv2d_4', 128), pool('max_pooling2d_4'),
    { class_name: 'Flatten', config: { name: 'flatten_1' } },
    { class_name: 'Dropout', config: { name: 'dropout_1', rate: 0.5 } },
    { class_name: 'Dense', config: { name: 'dense_1', units: 512, activation: 'relu', use_bias: true } },
    { class_name: 'Dense', config: { name: 'dense_2', units: 1, activation: 'sigmoid', use_bias: true } },
  ];
}

describe('architectures built by the product', () => {
  it("Model A matches SPEC.md's summary", () => {
    const infos = inferShapes(smallConvnetSpec());
    expect(infos.slice(1).map((i) => i.outputShape.slice(1))).toEqual([
      [148, 148, 32], [74, 74, 32], [72, 72, 64], [36, 36, 64], [34, 34, 128], [17, 17, 128],
      [15, 15, 128], [7, 7, 128], [6272], [6272], [512], [1],
    ]);
    expect(countParams(smallConvnetSpec()).total).toBe(3453121);
    expect(JSON.stringify(smallConvnetSpec())).toBe(JSON.stringify(parseModelConfig(smallConvnetKerasJson())));
  });
  it('VGG16 with and without top', () => {
    const top = vgg16Spec();
    expect(countParams(top)).toEqual({ total: 138357544, trainable: 138357544, nonTrainable: 0 });
    expect(top.layers.map((l) => l.name)).toEqual([
      'input_1', 'block1_conv1', 'block1_conv2', 'block1_pool', 'block2_conv1', 'block2_conv2', 'block2_pool',
      'block3_conv1', 'block3_conv2', 'block3_conv3', 'block3_pool', 'block4_conv1', 'block4_conv2', 'block4_conv3', 'block4_pool',
      'block5_conv1', 'block5_conv2', 'block5_conv3', 'block5_pool', 'flatten', 'fc1', 'fc2', 'predictions',
    ]);
    expect(shapes(top).block5_conv3).toEqual([null, 14, 14, 512]);
    const notop = vgg16Spec({ includeTop: false });
    expect(notop.inputShape).toEqual([null, null, null, 3]);
    expect(countParams(notop).total).toBe(14714688);
    expect(shapes(vgg16Spec({ includeTop: false, inputShape: [150, 150, 3] })).block5_pool).toEqual([null, 4, 4, 512]);
    expect(shapes(vgg16Spec({ includeTop: false, inputShape: [64, 64, 3] })).block5_pool).toEqual([null, 2, 2, 512]);
  });
});

describe('unsupported configs give one clear error', () => {
  const seq = (layers: unknown[]) => ({ class_name: 'Sequential', config: layers });
  const dense = { class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 4] } };

  it('unknown layer class: names the layer and class and lists the supported ones', () => {
    const cfg = seq([dense, { class_name: 'LSTM', config: { name: 'lstm_1', units: 4 } }]);
    expect(() => parseModelConfig(cfg, { fileName: 'rnn.h5' })).toThrow(
      "rnn.h5: layer 'lstm_1' has class 'LSTM', which is not supported. Supported layer classes: " + SUPPORTED_LAYER_CLASSES.join(', '),
    );
  });
  it('nested models are flattened: inner layers named by path, the outer row collapsed in the summary', () => {
    const inner = { class_name: 'Sequential', config: { name: 'base', layers: [
      { class_name: 'Conv2D', config: { name: 'c1', batch_input_shape: [null, 6, 6, 1], filters: 2, kernel_size: 3 } },
      { class_name: 'Flatten', config: { name: 'f' } },
    ] } };
    const spec = parseModelConfig(seq([{ class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 6, 6, 1] } }, inner, { class_name: 'Dense', config: { name: 'd', units: 3 } }]));
    expect(spec.layers.map((l) => [l.name, l.inbound])).toEqual([['in', []], ['base/c1', ['in']], ['base/f', ['base/c1']], ['d', ['base/f']]]);
    expect(spec.layers[1].scope).toEqual(['base']);
    expect(shapes(spec)).toEqual({ in: [null, 6, 6, 1], 'base/c1': [null, 4, 4, 2], 'base/f': [null, 32], d: [null, 3] });
    const table = formatSummary(spec);
    expect(table).toContain('base (Sequential)');
    expect(table).not.toContain('base/c1');
    expect(formatSummary(spec, { expand: true })).toContain('base/c1 (Conv2D)');
    expect(countParams(spec).total).toBe(3 * 3 * 2 + 2 + 32 * 3 + 3);
  });
  it('channels_first, groups, bad padding, unknown activation, shared layers', () => {
    const conv = (extra: Record<string, unknown>) =>
      seq([{ class_name: 'Conv2D', config: { name: 'c', batch_input_shape: [null, 3, 8, 8], filters: 1, kernel_size: 3, ...extra } }]);
    // channels_first: Keras's shapes are (batch, channels, rows, cols)
    const cf = parseModelConfig(conv({ data_format: 'channels_first', filters: 4 }));
    expect(cf.layers[1].channelsFirst).toBe(true);
    expect(shapes(cf).c).toEqual([null, 4, 6, 6]);
    expect(() => inferShapes(parseModelConfig(conv({ groups: 3, filters: 3 })))).toThrow(/the input's 8 channels are not divisible by groups 3/);
    expect(() => parseModelConfig(conv({ padding: 'causal' }))).toThrow(/padding 'causal' is for 1-D convolutions/);
    expect(() => parseModelConfig(conv({ activation: 'sparkle' }))).toThrow(/activation "sparkle" is not supported/);
    expect(() => parseModelConfig(conv({ strides: [0, 0] }))).toThrow(/layer 'c' \(Conv2D\): strides must be positive integers, got \[0,0\]/);
    expect(() => parseModelConfig(conv({ use_bias: 'yes' }))).toThrow(/use_bias must be true or false, got "yes"/);
    const shared = {
      class_name: 'Model',
      config: {
        name: 'm',
        layers: [
          { class_name: 'InputLayer', name: 'i', config: { name: 'i', batch_input_shape: [null, 2] }, inbound_nodes: [] },
          { class_name: 'Dense', name: 'd', config: { name: 'd', units: 2 }, inbound_nodes: [[['i', 0, 0, {}]], [['d', 0, 0, {}]]] },
          { class_name: 'Activation', name: 'a', config: { name: 'a', activation: 'relu' }, inbound_nodes: [[['d', 1, 0, {}]]] },
        ],
        input_layers: [['i', 0, 0]],
        output_layers: [['a', 0, 0]],
      },
    };
    // a shared layer: one entry per call, the second using the first one's weights
    const s = parseModelConfig(shared);
    expect(s.layers.map((l) => [l.name, l.inbound, l.sharesWeightsOf])).toEqual([['i', [], undefined], ['d', ['i'], undefined], ['d@1', ['d'], 'd'], ['a', ['d@1'], undefined]]);
    expect(countParams(s).total).toBe(6);
  });
  it('Sequential without any input shape, model class unknown', () => {
    expect(() => parseModelConfig(seq([{ class_name: 'Dense', config: { name: 'd', units: 2 } }]))).toThrow(
      /first layer 'd' declares no input shape/,
    );
    expect(() => parseModelConfig({ class_name: 'Graph', config: {} })).toThrow(/model class 'Graph' is not supported/);
  });
  it('a Lambda layer is refused by name, with what its bytecode uses', () => {
    const code = btoa('\u00e3\u0000\u0000resize_images\u0000tf\u0000image');
    expect(() => parseModelConfig(seq([dense, { class_name: 'Lambda', config: { name: 'lam', function: [code, null, null], function_type: 'lambda' } }]))).toThrow(
      /layer 'lam' is a Lambda layer \(its bytecode uses: [^)]*resize_images[^)]*\): Keras saved it as Python bytecode.*--until LAYER/,
    );
  });
  it('shape errors name the layer', () => {
    const cfg = seq([{ class_name: 'Conv2D', config: { name: 'big', batch_input_shape: [null, 2, 2, 1], filters: 1, kernel_size: 3 } }]);
    expect(() => inferShapes(parseModelConfig(cfg), { fileName: 'tiny.h5' })).toThrow(/^tiny\.h5: layer 'big' \(Conv2D\): input \(None, 2, 2, 1\) is too small/);
  });
});

