/**
 * Files written by fixture_writer.ts (into test/.generated/keras, git-ignored):
 * Model A as a full Keras 2 model file, VGG16 weights-only files in the
 * Keras ImageNet layout (the full-size no-top file, and a reduced-width
 * with-top file), plus odd files for the Theano / Keras 1 / Keras 3 paths.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import h5wasm from 'h5wasm/node';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  NormalRng,
  vgg16WeightsFileName,
  writeKerasH5,
  writeSmallConvnetModelFile,
  writeVgg16WeightsFile,
} from '../../src/models/keras/fixture_writer.ts';
import { loadKerasModel, readKerasFile } from '../../src/models/keras/load.ts';
import { readFloat32Dataset } from '../../src/models/keras/hdf5_file.ts';
import { countParams, formatSummary, inferShapes } from '../../src/models/keras/summary_shapes.ts';
import { smallConvnetKerasConfig, vgg16Spec } from '../../src/models/keras/architectures.ts';
import { parseModelConfig } from '../../src/models/keras/config.ts';
import type { KerasFile } from '../../src/models/keras/spec.ts';
import { generatedDir } from './keras_helpers.ts';

const dir = generatedDir('keras');
const modelA = path.join(dir, 'cats_and_dogs_small_2.h5');
const vggNotop = path.join(dir, vgg16WeightsFileName(false));
const vggTopSmall = path.join(dir, vgg16WeightsFileName(true, true));

function sameFloats(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

type H5File = InstanceType<typeof h5wasm.File>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;
async function withRaw<T>(p: string, fn: (f: H5File) => T): Promise<T> {
  await h5wasm.ready;
  const f = new h5wasm.File(p, 'r');
  try {
    return fn(f);
  } finally {
    f.close();
  }
}

let fileA: KerasFile;

beforeAll(async () => {
  await writeSmallConvnetModelFile(modelA, { seed: 1234 });
  await writeVgg16WeightsFile(vggNotop, { includeTop: false, seed: 1234 });
  await writeVgg16WeightsFile(vggTopSmall, { includeTop: true, seed: 1234, widthDivisor: 16 });
  fileA = await readKerasFile(modelA);
});

describe('generated Model A (cats vs dogs 150x150, full Keras 2 model file)', () => {
  it('gives 3,453,121 params and the SPEC.md output shapes', () => {
    expect(fileA.kind).toBe('model');
    expect(fileA.kerasVersion).toBe('2.1.6');
    expect(fileA.backend).toBe('tensorflow');
    const infos = inferShapes(fileA.model!);
    expect(infos.map((i) => [i.layer.name, i.layer.className, i.outputShape.slice(1)])).toEqual([
      ['conv2d_1_input', 'InputLayer', [150, 150, 3]],
      ['conv2d_1', 'Conv2D', [148, 148, 32]],
      ['max_pooling2d_1', 'MaxPooling2D', [74, 74, 32]],
      ['conv2d_2', 'Conv2D', [72, 72, 64]],
      ['max_pooling2d_2', 'MaxPooling2D', [36, 36, 64]],
      ['conv2d_3', 'Conv2D', [34, 34, 128]],
      ['max_pooling2d_3', 'MaxPooling2D', [17, 17, 128]],
      ['conv2d_4', 'Conv2D', [15, 15, 128]],
      ['max_pooling2d_4', 'MaxPooling2D', [7, 7, 128]],
      ['flatten_1', 'Flatten', [6272]],
      ['dropout_1', 'Dropout', [6272]],
      ['dense_1', 'Dense', [512]],
      ['dense_2', 'Dense', [1]],
    ]);
    expect(countParams(fileA.model!)).toEqual({ total: 3453121, trainable: 3453121, nonTrainable: 0 });
    let n = 0;
    for (const ws of fileA.weights.values()) for (const w of ws) n += w.values.length;
    expect(n).toBe(3453121);
    expect(formatSummary(fileA.model!)).toContain('dense_1 (Dense)              (None, 512)               3211776');
  });

  it('has the model.save layout', async () => {
    await withRaw(modelA, (f) => {
      expect(Object.keys(f.attrs).sort()).toEqual(['backend', 'keras_version', 'model_config', 'training_config']);
      expect(f.keys().sort()).toEqual(['model_weights']);
      const mw = f.get('model_weights') as InstanceType<typeof h5wasm.Group>;
      expect(mw.attrs.layer_names.value).toEqual(fileA.layerOrder);
      expect(fileA.layerOrder).toHaveLength(12);
      expect((mw.get('conv2d_1') as InstanceType<typeof h5wasm.Group>).attrs.weight_names.value).toEqual(['conv2d_1/kernel:0', 'conv2d_1/bias:0']);
      const empty = (mw.get('flatten_1') as InstanceType<typeof h5wasm.Group>).attrs.weight_names;
      expect(empty.value).toBeInstanceOf(Float64Array);
      expect(empty.shape).toEqual([0]);
      const k = f.get('model_weights/conv2d_1/conv2d_1/kernel:0') as H5Dataset;
      expect(k.shape).toEqual([3, 3, 3, 32]);
      expect(sameFloats(k.value as Float32Array, fileA.weights.get('conv2d_1')![0].values)).toBe(true);
      const d = f.get('model_weights/dense_1/dense_1/kernel:0') as H5Dataset;
      expect(d.shape).toEqual([6272, 512]);
      expect(sameFloats(d.value as Float32Array, fileA.weights.get('dense_1')![0].values)).toBe(true);
      expect(JSON.parse(f.attrs.model_config.value as string)).toEqual(smallConvnetKerasConfig());
    });
  });

  it('weights are He-normal scaled (activations stay sane)', () => {
    for (const [layer, fanIn] of [['conv2d_1', 27], ['conv2d_4', 9 * 128], ['dense_1', 6272]] as const) {
      const v = fileA.weights.get(layer)![0].values;
      let s = 0;
      let s2 = 0;
      for (const x of v) {
        s += x;
        s2 += x * x;
      }
      const mean = s / v.length;
      const std = Math.sqrt(s2 / v.length - mean * mean);
      expect(Math.abs(mean)).toBeLessThan(0.2 * std);
      expect(std / Math.sqrt(2 / fanIn)).toBeGreaterThan(0.9);
      expect(std / Math.sqrt(2 / fanIn)).toBeLessThan(1.1);
    }
  });

  it('tfjs-layers rebuilds it from the model_config, takes the weights, predicts a probability', async () => {
    await tf.setBackend('cpu');
    const model = await tfl.models.modelFromJSON({ modelTopology: smallConvnetKerasConfig() } as unknown as tf.io.ModelJSON);
    expect(model.countParams()).toBe(3453121);
    for (const layer of model.layers) {
      layer.setWeights(fileA.weights.get(layer.name)!.map((w) => tf.tensor(w.values, w.shape)));
    }
    const x = tf.randomUniform([1, 150, 150, 3], 0, 1, 'float32', 7);
    const y = (model.predict(x) as tf.Tensor).dataSync()[0];
    expect(y).toBeGreaterThan(0);
    expect(y).toBeLessThan(1);
    model.dispose();
  });
});

describe('generated VGG16 weights-only files (Keras ImageNet layout)', () => {
  it('no top, full size: 14,714,688 params, layer_names with weightless layers, Keras-1-style weight names', async () => {
    const file = await readKerasFile(vggNotop);
    expect(file.kind).toBe('weights');
    expect(file.kerasVersion).toBe('2.0.2');
    expect(file.backend).toBe('tensorflow');
    expect(file.layerOrder).toEqual(vgg16Spec({ includeTop: false }).layers.map((l) => l.name));
    expect(file.layerOrder.slice(0, 4)).toEqual(['input_1', 'block1_conv1', 'block1_conv2', 'block1_pool']);
    expect(file.weights.get('block1_conv1')!.map((w) => [w.name, w.shape])).toEqual([
      ['block1_conv1_W_1:0', [3, 3, 3, 64]],
      ['block1_conv1_b_1:0', [64]],
    ]);
    expect(file.weights.get('block5_conv3')!.map((w) => w.shape)).toEqual([[3, 3, 512, 512], [512]]);
    const spec = vgg16Spec({ includeTop: false, inputShape: [150, 150, 3] });
    const { weights } = await loadKerasModel(vggNotop, { spec });
    let n = 0;
    for (const ws of weights.values()) for (const w of ws) n += w.values.length;
    expect(n).toBe(14714688);
    expect(countParams(spec).total).toBe(14714688);
    await withRaw(vggNotop, (f) => {
      expect(Object.keys(f.attrs).sort()).toEqual(['backend', 'keras_version', 'layer_names']);
      const ds = f.get('block4_conv2/block4_conv2_W_1:0') as H5Dataset;
      expect(sameFloats(ds.value as Float32Array, weights.get('block4_conv2')![0].values)).toBe(true);
      expect((f.get('block1_pool') as InstanceType<typeof h5wasm.Group>).attrs.weight_names.shape).toEqual([0]);
    });
  });

  it('with top (reduced width): flatten/fc1/fc2/predictions, loads by name into a with-top and a no-top VGG16', async () => {
    const file = await readKerasFile(vggTopSmall);
    expect(file.layerOrder.slice(-5)).toEqual(['block5_pool', 'flatten', 'fc1', 'fc2', 'predictions']);
    const spec = vgg16Spec({ includeTop: true, widthDivisor: 16 });
    const { weights } = await loadKerasModel(vggTopSmall, { spec });
    expect(weights.get('fc1')!.map((w) => w.shape)).toEqual([[7 * 7 * 32, 256], [256]]);
    expect(weights.get('predictions')!.map((w) => [w.role, w.shape])).toEqual([['kernel', [256, 1000]], ['bias', [1000]]]);
    const notop = await loadKerasModel(vggTopSmall, { spec: vgg16Spec({ includeTop: false, widthDivisor: 16 }) });
    expect(notop.weights.has('fc1')).toBe(false);
    expect(sameFloats(notop.weights.get('block3_conv2')![0].values, weights.get('block3_conv2')![0].values)).toBe(true);
  });

  it('a no-top file cannot fill a with-top model', async () => {
    await expect(loadKerasModel(vggNotop, { spec: vgg16Spec() })).rejects.toThrow(
      /vgg16_weights_tf_dim_ordering_tf_kernels_notop\.h5: layer 'fc1' \(Dense\) needs weights \(kernel \[25088, 4096\], bias \[4096\]\) but the file has none for it/,
    );
  });

  it('generation is deterministic in the seed', async () => {
    const a = path.join(dir, 'det_a.h5');
    const b = path.join(dir, 'det_b.h5');
    const c = path.join(dir, 'det_c.h5');
    await writeVgg16WeightsFile(a, { includeTop: false, seed: 5, widthDivisor: 16 });
    await writeVgg16WeightsFile(b, { includeTop: false, seed: 5, widthDivisor: 16 });
    await writeVgg16WeightsFile(c, { includeTop: false, seed: 6, widthDivisor: 16 });
    // the same layers, weights and values bit for bit (not the same bytes: HDF5 stamps each
    // dataset with the time it was written, so two files written across a second boundary differ)
    const [ra, rb] = [(await readKerasFile(a)).weights, (await readKerasFile(b)).weights];
    expect([...rb.keys()]).toEqual([...ra.keys()]);
    expect([...ra.values()].filter((ws) => ws.length > 0).length).toBe(13); // the 13 convolutions
    for (const [layer, ws] of ra) {
      const other = rb.get(layer)!;
      expect(other.map((w) => w.shape), layer).toEqual(ws.map((w) => w.shape));
      ws.forEach((w, i) => expect(sameFloats(w.values, other[i].values), `${layer} weight ${i}`).toBe(true));
    }
    const wa = ra.get('block1_conv1')![0].values;
    const wc = (await readKerasFile(c)).weights.get('block1_conv1')![0].values;
    expect(sameFloats(wa, wc)).toBe(false);
    for (const p of [a, b, c]) fs.rmSync(p);
  });
});

describe('big weights: streamed writing, block-wise reading', () => {
  it('a weight over 16 MB is written in row blocks (chunked) and reads back identical, whole or in blocks', async () => {
    const p = path.join(dir, 'streamed.h5');
    const shape = [4501, 1000]; // 18 MB, rows not a multiple of the block
    const rng = new NormalRng(99);
    const expected = new Float32Array(shape[0] * shape[1]);
    rng.fill(expected, 1);
    let at = 0;
    await writeKerasH5(p, {
      kind: 'weights',
      layers: [{ name: 'big', weights: [{ name: 'big_W:0', shape, fill: (block) => { block.set(expected.subarray(at, at + block.length)); at += block.length; } }] }],
    });
    expect(at).toBe(expected.length);
    await withRaw(p, (f) => {
      const ds = f.get('big/big_W:0') as H5Dataset;
      expect(ds.metadata.chunks).not.toBeNull();
      expect(sameFloats(ds.value as Float32Array, expected)).toBe(true);
      const blocks = readFloat32Dataset(ds as never, 1 << 20); // 1 MB blocks: 262 rows each
      expect(blocks.shape).toEqual(shape);
      expect(sameFloats(blocks.values, expected)).toBe(true);
    });
    const file = await readKerasFile(p);
    expect(sameFloats(file.weights.get('big')![0].values, expected)).toBe(true);
    fs.rmSync(p);
  });
});

describe('old and new Keras layouts written by writeKerasH5', () => {
  const seq = (layers: unknown[]) => ({ class_name: 'Sequential', config: layers });
  const iota = (n: number) => Float32Array.from({ length: n }, (_, i) => i + 1);

  it('Keras 1 + Theano model file: conv kernels are flipped spatially (as Keras 2 converts them)', async () => {
    const p = path.join(dir, 'keras1_theano_tf_ordering.h5');
    const kernel = iota(3 * 2 * 2 * 3); // HWIO [3, 2, 2, 3]
    await writeKerasH5(p, {
      kind: 'model',
      kerasVersion: '1.2.2',
      backend: 'theano',
      modelConfig: seq([{ class_name: 'Convolution2D', config: { name: 'c', batch_input_shape: [null, 5, 5, 2], nb_filter: 3, nb_row: 3, nb_col: 2, border_mode: 'valid', subsample: [1, 1], dim_ordering: 'tf', bias: true, activation: 'linear' } }]),
      layers: [{ name: 'c', weights: [{ name: 'c_W', shape: [3, 2, 2, 3], values: kernel }, { name: 'c_b', shape: [3], values: iota(3) }] }],
    });
    const k = (await readKerasFile(p)).weights.get('c')![0];
    expect(k.shape).toEqual([3, 2, 2, 3]);
    const at = (v: Float32Array, y: number, x: number, i: number, o: number) => v[((y * 2 + x) * 2 + i) * 3 + o];
    for (let y = 0; y < 3; y++)
      for (let x = 0; x < 2; x++)
        for (let i = 0; i < 2; i++) for (let o = 0; o < 3; o++) expect(at(k.values, y, x, i, o)).toBe(at(kernel, 2 - y, 1 - x, i, o));
  });

  it("Keras 1 + Theano weights-only file: (out, in, rows, cols) kernels become HWIO, flipped", async () => {
    const p = path.join(dir, 'keras1_theano_weights.h5');
    const oihw = iota(3 * 2 * 3 * 2); // [out 3, in 2, rows 3, cols 2]
    await writeKerasH5(p, {
      kind: 'weights',
      backend: 'theano',
      layers: [
        { name: 'input_1', weights: [] },
        { name: 'c', weights: [{ name: 'c_W', shape: [3, 2, 3, 2], values: oihw }, { name: 'c_b', shape: [3], values: iota(3) }] },
      ],
    });
    const spec = parseModelConfig(seq([{ class_name: 'Conv2D', config: { name: 'c', batch_input_shape: [null, 5, 5, 2], filters: 3, kernel_size: [3, 2] } }]));
    const { weights } = await loadKerasModel(p, { spec });
    const k = weights.get('c')![0];
    expect(k.shape).toEqual([3, 2, 2, 3]);
    for (let y = 0; y < 3; y++)
      for (let x = 0; x < 2; x++)
        for (let i = 0; i < 2; i++)
          for (let o = 0; o < 3; o++) expect(k.values[((y * 2 + x) * 2 + i) * 3 + o]).toBe(oihw[((o * 2 + i) * 3 + (2 - y)) * 2 + (1 - x)]);
  });

  it('Keras 1 BatchNormalization names (running_mean, running_std) in any stored order', async () => {
    const p = path.join(dir, 'keras1_bn.h5');
    const v = (x: number) => Float32Array.of(x, x);
    await writeKerasH5(p, {
      kind: 'model',
      kerasVersion: '1.2.2',
      modelConfig: seq([{ class_name: 'BatchNormalization', config: { name: 'bn', batch_input_shape: [null, 4, 2], mode: 0, axis: -1, epsilon: 0.001 } }]),
      layers: [
        {
          name: 'bn',
          weights: [
            { name: 'bn_running_std', shape: [2], values: v(4) },
            { name: 'bn_beta', shape: [2], values: v(2) },
            { name: 'bn_gamma', shape: [2], values: v(1) },
            { name: 'bn_running_mean', shape: [2], values: v(3) },
          ],
        },
      ],
    });
    const ws = (await readKerasFile(p)).weights.get('bn')!;
    expect(ws.map((w) => [w.role, w.values[0]])).toEqual([['gamma', 1], ['beta', 2], ['moving_mean', 3], ['moving_variance', 4]]);
  });

  it('Keras 3 legacy h5: weight names without :0, layer_names split in two attributes', async () => {
    const p = path.join(dir, 'keras3_legacy.h5');
    const dtype = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
    await writeKerasH5(p, {
      kind: 'model',
      kerasVersion: '3.3.3',
      backend: 'tensorflow',
      splitLayerNames: 2,
      modelConfig: {
        module: 'keras',
        class_name: 'Sequential',
        config: {
          name: 'sequential',
          trainable: true,
          dtype,
          layers: [
            { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 6, 6, 1], dtype: 'float32', sparse: false, name: 'input_layer' }, registered_name: null },
            { module: 'keras.layers', class_name: 'Conv2D', config: { name: 'conv2d', trainable: true, dtype, filters: 2, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'relu', use_bias: true }, registered_name: null },
            { module: 'keras.layers', class_name: 'BatchNormalization', config: { name: 'batch_normalization', trainable: true, dtype, axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true }, registered_name: null },
            { module: 'keras.layers', class_name: 'Flatten', config: { name: 'flatten', trainable: true, dtype, data_format: 'channels_last' }, registered_name: null },
            { module: 'keras.layers', class_name: 'Dense', config: { name: 'dense', trainable: true, dtype, units: 1, activation: 'sigmoid', use_bias: true }, registered_name: null },
          ],
        },
        registered_name: null,
      },
      layers: [
        { name: 'input_layer', weights: [] },
        { name: 'conv2d', weights: [{ name: 'conv2d/kernel', shape: [3, 3, 1, 2], values: iota(18) }, { name: 'conv2d/bias', shape: [2], values: iota(2) }] },
        {
          name: 'batch_normalization',
          weights: ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((r) => ({ name: `batch_normalization/${r}`, shape: [2], values: iota(2) })),
        },
        { name: 'flatten', weights: [] },
        { name: 'dense', weights: [{ name: 'dense/kernel', shape: [32, 1], values: iota(32) }, { name: 'dense/bias', shape: [1], values: iota(1) }] },
      ],
    });
    await withRaw(p, (f) => {
      const mw = f.get('model_weights') as InstanceType<typeof h5wasm.Group>;
      expect(Object.keys(mw.attrs).filter((a) => a.startsWith('layer_names')).sort()).toEqual(['layer_names0', 'layer_names1']);
    });
    const file = await readKerasFile(p);
    expect(file.layerOrder).toEqual(['input_layer', 'conv2d', 'batch_normalization', 'flatten', 'dense']);
    expect(file.weights.get('dense')!.map((w) => [w.name, w.role, w.shape])).toEqual([
      ['dense/kernel', 'kernel', [32, 1]],
      ['dense/bias', 'bias', [1]],
    ]);
    expect(countParams(file.model!)).toEqual({ total: 20 + 8 + 33, trainable: 20 + 4 + 33, nonTrainable: 4 });
  });
});
