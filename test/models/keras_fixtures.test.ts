/**
 * The real Keras files in fixtures/keras/: every one loads; layer lists,
 * classes, output shapes and parameter counts match the figures Keras gives
 * for them (tables written by hand from each file's config and weight
 * shapes); values equal a direct h5wasm read; the bytes path equals the path
 * path; the configs agree with tfjs-layers' own Keras-JSON deserialiser.
 */
import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import h5wasm from 'h5wasm/node';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { readKerasFile, loadKerasModel, matchWeightsToSpec } from '../../src/models/keras/load.ts';
import { countParams, formatSummary, inferShapes } from '../../src/models/keras/summary_shapes.ts';
import { squeezeNetSpec } from '../../src/models/keras/architectures.ts';
import type { KerasFile, WeightArray } from '../../src/models/keras/spec.ts';
import { kerasFixture } from './keras_helpers.ts';

type Row = [name: string, className: string, outputShape: (number | null)[], params: number];

interface Expected {
  kind: 'model' | 'weights';
  kerasVersion: string;
  backend: string | undefined;
  modelKind?: 'sequential' | 'functional';
  rows?: Row[];
  total: number;
  trainable?: number;
}

// Hand-written from each file's model_config and weight shapes (and Keras' own summaries).
const EXPECTED: Record<string, Expected> = {
  'keras1_conv2d_single_layer.h5': {
    kind: 'model',
    kerasVersion: '1.2.2',
    backend: undefined, // Keras 1.2.2 wrote no backend attribute
    modelKind: 'sequential',
    rows: [
      ['convolution2d_1_input', 'InputLayer', [null, 5, 5, 5], 0],
      ['convolution2d_1', 'Conv2D', [null, 3, 3, 6], 276],
    ],
    total: 276,
  },
  'keras2_conv2d_single_layer.h5': {
    kind: 'model',
    kerasVersion: '2.1.3',
    backend: 'tensorflow',
    modelKind: 'sequential',
    rows: [
      ['conv2d_1_input', 'InputLayer', [null, 5, 5, 5], 0],
      ['conv2d_1', 'Conv2D', [null, 3, 3, 6], 276],
    ],
    total: 276,
  },
  'keras2_cnn_batch_norm.h5': {
    kind: 'model',
    kerasVersion: '2.1.3',
    backend: 'tensorflow',
    modelKind: 'sequential',
    rows: [
      ['conv2d_1_input', 'InputLayer', [null, 10, 10, 3], 0],
      ['conv2d_1', 'Conv2D', [null, 8, 8, 1], 28],
      ['batch_normalization_1', 'BatchNormalization', [null, 8, 8, 1], 4],
      ['activation_1', 'Activation', [null, 8, 8, 1], 0],
      ['conv2d_2', 'Conv2D', [null, 6, 6, 1], 10],
      ['flatten_1', 'Flatten', [null, 36], 0],
      ['dense_1', 'Dense', [null, 1], 37],
    ],
    total: 79,
    trainable: 77,
  },
  'keras2_functional_12net.h5': {
    kind: 'model',
    kerasVersion: '2.2.0',
    backend: 'tensorflow',
    modelKind: 'functional',
    rows: [
      ['input_2', 'InputLayer', [null, null, null, 3], 0],
      ['conv1', 'Conv2D', [null, null, null, 10], 280],
      ['PReLU1', 'PReLU', [null, null, null, 10], 10],
      ['max_pooling2d_2', 'MaxPooling2D', [null, null, null, 10], 0],
      ['conv2', 'Conv2D', [null, null, null, 16], 1456],
      ['PReLU2', 'PReLU', [null, null, null, 16], 16],
      ['conv3', 'Conv2D', [null, null, null, 32], 4640],
      ['PReLU3', 'PReLU', [null, null, null, 32], 32],
      ['conv4-1', 'Conv2D', [null, null, null, 2], 66],
      ['conv4-2', 'Conv2D', [null, null, null, 4], 132],
    ],
    total: 6632,
  },
  'cats_and_dogs_small_1.h5': {
    kind: 'model',
    kerasVersion: '2.1.6',
    backend: 'tensorflow',
    modelKind: 'sequential',
    rows: [
      ['conv2d_4_input', 'InputLayer', [null, 50, 50, 3], 0],
      ['conv2d_4', 'Conv2D', [null, 48, 48, 32], 896],
      ['max_pooling2d_4', 'MaxPooling2D', [null, 24, 24, 32], 0],
      ['conv2d_5', 'Conv2D', [null, 22, 22, 64], 18496],
      ['max_pooling2d_5', 'MaxPooling2D', [null, 11, 11, 64], 0],
      ['conv2d_6', 'Conv2D', [null, 9, 9, 64], 36928],
      ['max_pooling2d_6', 'MaxPooling2D', [null, 4, 4, 64], 0],
      ['flatten_2', 'Flatten', [null, 1024], 0],
      ['dropout_1', 'Dropout', [null, 1024], 0],
      ['dense_3', 'Dense', [null, 128], 131200],
      ['dense_4', 'Dense', [null, 1], 129],
    ],
    total: 187649,
  },
  'squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5': {
    kind: 'weights',
    kerasVersion: '2.0.0',
    backend: 'tensorflow',
    total: 722496,
  },
};

const FILES = Object.keys(EXPECTED);
const loaded = new Map<string, KerasFile>();

beforeAll(async () => {
  for (const f of FILES) loaded.set(f, await readKerasFile(kerasFixture(f)));
});

/** Bitwise equality of two float arrays (vitest's toEqual is slow on big typed arrays). */
function sameFloats(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A KerasFile with every weight's values replaced by their length, for structural comparison. */
function withoutValues(k: KerasFile): unknown {
  const weights = [...k.weights].map(([n, ws]) => [n, ws.map((w) => ({ ...w, values: w.values.length }))]);
  return { ...k, fileName: '', weights };
}

function weightCount(ws: Map<string, WeightArray[]>): number {
  let n = 0;
  for (const arr of ws.values()) for (const w of arr) n += w.values.length;
  return n;
}

describe('real Keras fixture files', () => {
  for (const f of FILES) {
    it(`${f}: kind, version, layers, classes, output shapes, params`, () => {
      const k = loaded.get(f)!;
      const e = EXPECTED[f];
      expect(k.kind).toBe(e.kind);
      expect(k.kerasVersion).toBe(e.kerasVersion);
      expect(k.backend).toBe(e.backend);
      expect(weightCount(k.weights)).toBe(e.total);
      if (e.kind === 'weights') {
        expect(k.model).toBeUndefined();
        expect(k.normalised).toBe(false);
        return;
      }
      const spec = k.model!;
      expect(spec.kind).toBe(e.modelKind);
      const infos = inferShapes(spec);
      expect(infos.map((i): Row => [i.layer.name, i.layer.className, i.outputShape, i.params])).toEqual(e.rows);
      const counts = countParams(spec);
      expect(counts.total).toBe(e.total);
      expect(counts.trainable).toBe(e.trainable ?? e.total);
      expect(counts.nonTrainable).toBe(e.total - (e.trainable ?? e.total));
      // every weight sits in its layer in the canonical order with the config's shape
      for (const i of infos) {
        const ws = k.weights.get(i.layer.name)!;
        expect(ws.map((w) => w.role)).toEqual(i.weights.map((x) => x.role));
        expect(ws.map((w) => w.shape)).toEqual(i.weights.map((x) => x.shape));
      }
    });
  }

  it('layer order comes from layer_names, not the alphabetical HDF5 listing', () => {
    expect(loaded.get('keras2_cnn_batch_norm.h5')!.layerOrder).toEqual([
      'conv2d_1', 'batch_normalization_1', 'activation_1', 'conv2d_2', 'flatten_1', 'dense_1',
    ]);
    expect(loaded.get('keras2_functional_12net.h5')!.layerOrder).toEqual([
      'input_2', 'conv1', 'PReLU1', 'max_pooling2d_2', 'conv2', 'PReLU2', 'conv3', 'PReLU3', 'conv4-1', 'conv4-2',
    ]);
  });

  it('cats_and_dogs_small_1.h5 prints the Keras 2 summary', () => {
    const text = formatSummary(loaded.get('cats_and_dogs_small_1.h5')!.model!);
    const expected = `Model: "sequential"
_________________________________________________________________
Layer (type)                 Output Shape              Param #
=================================================================
conv2d_4 (Conv2D)            (None, 48, 48, 32)        896
_________________________________________________________________
max_pooling2d_4 (MaxPooling2 (None, 24, 24, 32)        0
_________________________________________________________________
conv2d_5 (Conv2D)            (None, 22, 22, 64)        18496
_________________________________________________________________
max_pooling2d_5 (MaxPooling2 (None, 11, 11, 64)        0
_________________________________________________________________
conv2d_6 (Conv2D)            (None, 9, 9, 64)          36928
_________________________________________________________________
max_pooling2d_6 (MaxPooling2 (None, 4, 4, 64)          0
_________________________________________________________________
flatten_2 (Flatten)          (None, 1024)              0
_________________________________________________________________
dropout_1 (Dropout)          (None, 1024)              0
_________________________________________________________________
dense_3 (Dense)              (None, 128)               131200
_________________________________________________________________
dense_4 (Dense)              (None, 1)                 129
=================================================================
Total params: 187,649
Trainable params: 187,649
Non-trainable params: 0
_________________________________________________________________`;
    expect(text.split('\n').map((l) => l.trimEnd()).join('\n')).toBe(expected);
    // table rows are padded to the full 65 columns, as Keras pads them
    for (const line of text.split('\n').slice(1, -4)) expect(line.length).toBe(65);
  });

  it('keras2_cnn_batch_norm.h5: moving mean/variance are non-trainable (79 = 77 + 2)', () => {
    const text = formatSummary(loaded.get('keras2_cnn_batch_norm.h5')!.model!);
    expect(text).toContain('batch_normalization_1 (Batch (None, 8, 8, 1)           4');
    expect(text).toContain('Total params: 79\nTrainable params: 77\nNon-trainable params: 2');
  });

  it('keras2_functional_12net.h5 prints the Connected to column, cells cut as Keras cuts them', () => {
    const lines = formatSummary(loaded.get('keras2_functional_12net.h5')!.model!).split('\n').map((l) => l.trimEnd());
    expect(lines[0]).toBe('Model: "model_2"');
    expect(lines[1]).toBe('_'.repeat(98));
    expect(lines[2]).toBe('Layer (type)                    Output Shape         Param #     Connected to');
    expect(lines).toContain('input_2 (InputLayer)            (None, None, None, 3 0');
    expect(lines).toContain('conv1 (Conv2D)                  (None, None, None, 1 280         input_2[0][0]');
    expect(lines).toContain('conv4-2 (Conv2D)                (None, None, None, 4 132         PReLU3[0][0]');
    expect(lines.slice(-4)).toEqual(['Total params: 6,632', 'Trainable params: 6,632', 'Non-trainable params: 0', '_'.repeat(98)]);
  });

  it('12net: functional graph from inbound_nodes, two output heads', () => {
    const spec = loaded.get('keras2_functional_12net.h5')!.model!;
    expect(spec.inputs).toEqual(['input_2']);
    expect(spec.outputs).toEqual(['conv4-1', 'conv4-2']);
    expect(spec.inputShape).toEqual([null, null, null, 3]);
    const byName = new Map(spec.layers.map((l) => [l.name, l]));
    expect(byName.get('conv4-1')!.inbound).toEqual(['PReLU3']);
    expect(byName.get('conv4-2')!.inbound).toEqual(['PReLU3']);
    const prelu = byName.get('PReLU1')!;
    expect(prelu.className === 'PReLU' && prelu.config.shared_axes).toEqual([1, 2]);
    const head = byName.get('conv4-1')!;
    expect(head.className === 'Conv2D' && head.config.activation).toBe('softmax');
    // PReLU alpha stored under another group name: PReLU1/PReLU1_1/alpha:0
    expect(loaded.get('keras2_functional_12net.h5')!.weights.get('PReLU1')![0]).toMatchObject({
      name: 'PReLU1_1/alpha:0',
      shape: [1, 1, 10],
      role: 'alpha',
    });
  });

  it('Keras 1 file: Convolution2D normalised to Conv2D, InputLayer synthesised, kernel already HWIO', () => {
    const k = loaded.get('keras1_conv2d_single_layer.h5')!;
    const [input, conv] = k.model!.layers;
    expect(input).toEqual({
      name: 'convolution2d_1_input',
      className: 'InputLayer',
      config: { batch_input_shape: [null, 5, 5, 5] },
      inbound: [],
      trainable: true,
    });
    expect(conv.className).toBe('Conv2D');
    expect(conv.config).toEqual({
      filters: 6,
      kernel_size: [3, 3],
      strides: [1, 1],
      padding: 'valid',
      dilation_rate: [1, 1],
      activation: 'linear',
      use_bias: true,
    });
    const [kernel, bias] = k.weights.get('convolution2d_1')!;
    expect(kernel).toMatchObject({ name: 'convolution2d_1_W:0', shape: [3, 3, 5, 6], role: 'kernel' });
    expect(bias).toMatchObject({ name: 'convolution2d_1_b:0', shape: [6], role: 'bias' });
  });

  it('squeezenet weights: 62 layer names in file order, nested groups, weight names unlike layer names', async () => {
    const k = loaded.get('squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5')!;
    expect(k.layerOrder).toHaveLength(62);
    expect(k.layerOrder.slice(0, 11)).toEqual([
      'input_4', 'conv1', 'relu_conv1', 'pool1', 'fire2/squeeze1x1', 'fire2/relu_squeeze1x1', 'fire2/expand1x1',
      'fire2/expand3x3', 'fire2/relu_expand1x1', 'fire2/relu_expand3x3', 'fire2/concat',
    ]);
    expect(k.layerOrder[61]).toBe('fire9/concat');
    expect(k.weights.get('conv1')!.map((w) => [w.name, w.shape])).toEqual([
      ['conv1_3/kernel:0', [3, 3, 3, 64]],
      ['conv1_3/bias:0', [64]],
    ]);
    expect(k.weights.get('fire9/expand3x3')!.map((w) => [w.name, w.shape])).toEqual([
      ['fire9/expand3x3_1/kernel:0', [3, 3, 64, 256]],
      ['fire9/expand3x3_1/bias:0', [256]],
    ]);
    expect(k.weights.get('pool5')).toEqual([]);
    // matched against SqueezeNet v1.1's architecture (keras-squeezenet), by name
    const spec = squeezeNetSpec();
    const matched = matchWeightsToSpec(spec, k);
    expect(countParams(spec).total).toBe(722496);
    expect(matched.get('fire2/expand3x3')!.map((w) => w.role)).toEqual(['kernel', 'bias']);
    const shapes = new Map(inferShapes(spec).map((i) => [i.layer.name, i.outputShape]));
    expect(shapes.get('conv1')).toEqual([null, 113, 113, 64]);
    expect(shapes.get('pool1')).toEqual([null, 56, 56, 64]);
    expect(shapes.get('fire3/concat')).toEqual([null, 56, 56, 128]);
    expect(shapes.get('pool5')).toEqual([null, 13, 13, 256]);
    expect(shapes.get('fire9/concat')).toEqual([null, 13, 13, 512]);
    const viaLoad = await loadKerasModel(kerasFixture('squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5'), { spec });
    expect(sameFloats(viaLoad.weights.get('fire5/squeeze1x1')![0].values, matched.get('fire5/squeeze1x1')![0].values)).toBe(true);
  });
});

describe('values equal a direct h5wasm read', () => {
  const cases: [file: string, dataset: string, layer: string, index: number][] = [
    ['keras1_conv2d_single_layer.h5', 'model_weights/convolution2d_1/convolution2d_1_W:0', 'convolution2d_1', 0],
    ['keras2_conv2d_single_layer.h5', 'model_weights/conv2d_1/conv2d_1/kernel:0', 'conv2d_1', 0],
    ['keras2_cnn_batch_norm.h5', 'model_weights/batch_normalization_1/batch_normalization_1/moving_variance:0', 'batch_normalization_1', 3],
    ['keras2_cnn_batch_norm.h5', 'model_weights/batch_normalization_1/batch_normalization_1/gamma:0', 'batch_normalization_1', 0],
    ['keras2_functional_12net.h5', 'model_weights/conv3/conv3_1/kernel:0', 'conv3', 0],
    ['keras2_functional_12net.h5', 'model_weights/PReLU3/PReLU3_1/alpha:0', 'PReLU3', 0],
    ['cats_and_dogs_small_1.h5', 'model_weights/dense_3/dense_3/kernel:0', 'dense_3', 0],
    ['cats_and_dogs_small_1.h5', 'model_weights/dense_4/dense_4/bias:0', 'dense_4', 1],
    ['squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5', 'fire4/expand3x3/fire4/expand3x3_3/kernel:0', 'fire4/expand3x3', 0],
    ['squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5', 'conv1/conv1_3/bias:0', 'conv1', 1],
  ];
  it.each(cases)('%s %s', async (file, dataset, layer, index) => {
    await h5wasm.ready;
    const f = new h5wasm.File(kerasFixture(file), 'r');
    try {
      const ds = f.get(dataset) as InstanceType<typeof h5wasm.Dataset>;
      const w = loaded.get(file)!.weights.get(layer)![index];
      expect(w.shape).toEqual(ds.shape);
      expect(sameFloats(w.values, ds.value as Float32Array)).toBe(true);
      expect(w.values.length).toBeGreaterThan(0);
    } finally {
      f.close();
    }
  });
});

describe('the bytes path (in-memory FS, as in a browser) equals the path path', () => {
  for (const f of FILES) {
    it(f, async () => {
      const buf = fs.readFileSync(kerasFixture(f));
      const fromU8 = await readKerasFile(new Uint8Array(buf), { fileName: f });
      const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
      const fromAb = await readKerasFile(ab, { fileName: f });
      const fromPath = loaded.get(f)!;
      for (const k of [fromU8, fromAb]) {
        expect(k.fileName).toBe(f);
        expect(withoutValues(k)).toEqual(withoutValues(fromPath));
        for (const [layer, ws] of k.weights) {
          ws.forEach((w, i) => expect(sameFloats(w.values, fromPath.weights.get(layer)![i].values), `${layer} #${i}`).toBe(true));
        }
      }
    });
  }
});

describe('cross-check with tfjs-layers (its own Keras JSON deserialiser)', () => {
  // tfjs-layers cannot read HDF5 itself; it can rebuild a model from the
  // Keras 2 model_config. Shapes, parameter counts and weight order/shapes
  // must agree, and tfjs must accept our arrays through setWeights.
  const keras2 = FILES.filter((f) => EXPECTED[f].kind === 'model' && EXPECTED[f].kerasVersion.startsWith('2'));
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  it.each(keras2)('%s', async (f) => {
    await h5wasm.ready;
    const h = new h5wasm.File(kerasFixture(f), 'r');
    const config = JSON.parse(h.attrs.model_config.value as string) as object;
    h.close();
    const model = await tfl.models.modelFromJSON({ modelTopology: config } as unknown as tf.io.ModelJSON);
    const k = loaded.get(f)!;
    const infos = new Map(inferShapes(k.model!).map((i) => [i.layer.name, i]));
    expect(model.countParams()).toBe(EXPECTED[f].total);
    for (const layer of model.layers) {
      const info = infos.get(layer.name)!;
      expect(info, layer.name).toBeDefined();
      expect(info.outputShape).toEqual(layer.outputShape);
      expect(info.params).toBe(layer.countParams());
      const ours = k.weights.get(layer.name)!;
      expect(ours.map((w) => w.role)).toEqual(layer.weights.map((w) => w.name.split('/').pop()!.replace(/_\d+$/, '')));
      expect(ours.map((w) => w.shape)).toEqual(layer.weights.map((w) => w.shape));
      const values = ours.map((w) => tf.tensor(w.values, w.shape));
      layer.setWeights(values); // throws on any shape mismatch
      layer.getWeights().forEach((t, i) => expect(sameFloats(t.dataSync() as Float32Array, ours[i].values)).toBe(true));
      tf.dispose(values);
    }
    model.dispose();
  });
});
