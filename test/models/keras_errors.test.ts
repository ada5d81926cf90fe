/**
 * Bad input gives one clear KerasFileError naming the file, through the
 * path and the bytes paths; the wasm module survives, and no file stays
 * open and no temporary in-memory file is left behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import h5wasm from 'h5wasm/node';
import { writeKerasH5, type LayerToWrite } from '../../src/models/keras/fixture_writer.ts';
import { loadKerasModel, readKerasFile } from '../../src/models/keras/load.ts';
import { h5wasmMemory, h5wasmNode, memoryFsTempFiles, openFileCount, releaseHdf5Memory } from '../../src/models/keras/hdf5_file.ts';
import { KerasFileError } from '../../src/models/keras/spec.ts';
import { kerasFixture } from './keras_helpers.ts';

let tmp: string;
let openAtStart: number;
const good = kerasFixture('keras2_conv2d_single_layer.h5');

const conv5to6 = (kernelShape: number[], withBias = true): LayerToWrite[] => [
  {
    name: 'conv2d_1',
    weights: [
      { name: 'conv2d_1/kernel:0', shape: kernelShape, values: new Float32Array(kernelShape.reduce((a, b) => a * b, 1)) },
      ...(withBias ? [{ name: 'conv2d_1/bias:0', shape: [6], values: new Float32Array(6) }] : []),
    ],
  },
];
const conv5to6Config = {
  class_name: 'Sequential',
  config: [{ class_name: 'Conv2D', config: { name: 'conv2d_1', batch_input_shape: [null, 5, 5, 5], filters: 6, kernel_size: [3, 3], padding: 'valid' } }],
};

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convscope-keras-'));
  // warm both h5wasm builds up, then count what is open
  await readKerasFile(good);
  await readKerasFile(fs.readFileSync(good));
  openAtStart = await openFileCount();
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<KerasFileError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KerasFileError);
    return err as KerasFileError;
  }
  throw new Error('expected a KerasFileError');
}

function file(name: string, bytes?: Uint8Array | string): string {
  const p = path.join(tmp, name);
  if (bytes !== undefined) fs.writeFileSync(p, bytes);
  return p;
}

describe('not a readable HDF5 file', () => {
  it('a text file', async () => {
    const p = file('notes.h5', 'hello, not HDF5 at all\n'.repeat(50));
    const e = await failure(readKerasFile(p));
    expect(e.message).toBe(`${p}: not an HDF5 file (no HDF5 signature found)`);
    expect(e.fileName).toBe(p);
  });
  it('an empty file', async () => {
    const p = file('empty.h5', '');
    expect((await failure(readKerasFile(p))).message).toMatch(/empty\.h5: not an HDF5 file \(only 0 bytes/);
  });
  it('a truncated file', async () => {
    const p = file('trunc.h5', fs.readFileSync(kerasFixture('cats_and_dogs_small_1.h5')).subarray(0, 100000));
    expect((await failure(readKerasFile(p))).message).toBe(
      `${p}: truncated HDF5 file: it has 100000 bytes but its superblock says 1534808`,
    );
  });
  it('a file cut inside its superblock', async () => {
    const p = file('trunc20.h5', fs.readFileSync(good).subarray(0, 20));
    expect((await failure(readKerasFile(p))).message).toMatch(/trunc20\.h5: truncated or corrupt HDF5 file/);
  });
  it('a corrupt file (valid header, garbage inside)', async () => {
    const bytes = new Uint8Array(fs.readFileSync(good));
    bytes.fill(0xab, 200, bytes.length - 200);
    const p = file('corrupt.h5', bytes);
    expect((await failure(readKerasFile(p))).message).toMatch(/^.*corrupt\.h5: (the HDF5 library cannot open it|HDF5 read error)/);
  });
  it('a missing file', async () => {
    const p = path.join(tmp, 'nope.h5');
    expect((await failure(readKerasFile(p))).message).toBe(`${p}: file not found`);
  });
});

describe('HDF5 but not a usable Keras file', () => {
  it('no model_config and no layer_names', async () => {
    const p = file('data.h5');
    await h5wasm.ready;
    const f = new h5wasm.File(p, 'w');
    f.create_dataset({ name: 'x', data: new Float32Array([1, 2, 3]) });
    f.create_attribute('title', 'some data');
    f.close();
    expect((await failure(readKerasFile(p))).message).toBe(
      `${p}: an HDF5 file, but not a Keras model or weights file (no model_config or layer_names attribute, no Keras 3 layers group)`,
    );
  });
  it('a Keras 3 .weights.h5 file', async () => {
    const p = file('k3.weights.h5');
    const f = new h5wasm.File(p, 'w');
    f.create_group('layers').create_group('dense').create_group('vars').create_dataset({ name: '0', data: new Float32Array(4), shape: [2, 2] });
    f.close();
    // read as a Keras 3 weights-only file: layers/<name>/vars/<i> in creation order
    const k3 = await readKerasFile(p);
    expect(k3.kind).toBe('weights');
    expect([...k3.weights.keys()]).toEqual(['dense']);
    expect(k3.weights.get('dense')!.map((w) => [w.name, w.shape])).toEqual([['dense/vars/0', [2, 2]]]);
  });
  it('an unsupported layer class', async () => {
    const p = file('rnn.h5');
    await writeKerasH5(p, {
      kind: 'model',
      kerasVersion: '2.1.6',
      backend: 'tensorflow',
      modelConfig: { class_name: 'Sequential', config: [{ class_name: 'LSTM', config: { name: 'lstm_1', units: 4, batch_input_shape: [null, 10, 3] } }] },
      layers: [{ name: 'lstm_1', weights: [{ name: 'lstm_1/kernel:0', shape: [3, 16], values: new Float32Array(48) }] }],
    });
    const e = await failure(readKerasFile(p));
    expect(e.message).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: layer 'lstm_1' has class 'LSTM', which is not supported\\. Supported layer classes: Activation, ActivityRegularization, Add, `));
  });
  it('a weight whose shape contradicts the config', async () => {
    const p = file('bad_shape.h5');
    await writeKerasH5(p, { kind: 'model', kerasVersion: '2.1.3', backend: 'tensorflow', modelConfig: conv5to6Config, layers: conv5to6([3, 3, 4, 6]) });
    expect((await failure(readKerasFile(p))).message).toBe(
      `${p}: layer 'conv2d_1' (Conv2D): weight 'kernel' ('conv2d_1/kernel:0') has shape [3, 3, 4, 6] in the file, ` +
        'but the model implies [3, 3, 5, 6] (layer input (None, 5, 5, 5))',
    );
  });
  it('a missing weight', async () => {
    const p = file('no_bias.h5');
    await writeKerasH5(p, { kind: 'model', kerasVersion: '2.1.3', modelConfig: conv5to6Config, layers: conv5to6([3, 3, 5, 6], false) });
    expect((await failure(readKerasFile(p))).message).toBe(
      `${p}: layer 'conv2d_1' (Conv2D) has 1 weight(s) in the file ('conv2d_1/kernel:0' [3, 3, 5, 6]), ` +
        'but its config implies 2: kernel [3, 3, 5, 6], bias [6]',
    );
  });
  it('weight_names pointing at no dataset; layer_names naming no group', async () => {
    const p1 = file('dangling_weight.h5');
    await writeKerasH5(p1, { kind: 'model', modelConfig: conv5to6Config, layers: conv5to6([3, 3, 5, 6]) });
    let f = new h5wasm.File(p1, 'a');
    const g = f.get('model_weights/conv2d_1') as InstanceType<typeof h5wasm.Group>;
    g.delete_attribute('weight_names');
    g.create_attribute('weight_names', ['conv2d_1/kernel:0', 'conv2d_1/bias_missing:0'], [2], 'A30');
    f.close();
    expect((await failure(readKerasFile(p1))).message).toBe(
      `${p1}: layer 'conv2d_1': weight 'conv2d_1/bias_missing:0' listed in weight_names is not in the file`,
    );
    const p2 = file('ghost_layer.h5');
    await writeKerasH5(p2, { kind: 'model', modelConfig: conv5to6Config, layers: conv5to6([3, 3, 5, 6]) });
    f = new h5wasm.File(p2, 'a');
    const mw = f.get('model_weights') as InstanceType<typeof h5wasm.Group>;
    mw.delete_attribute('layer_names');
    mw.create_attribute('layer_names', ['conv2d_1', 'ghost'], [2], 'A10');
    f.close();
    expect((await failure(readKerasFile(p2))).message).toBe(`${p2}: layer 'ghost' is listed in layer_names but has no group in the file`);
  });
  it('model_config that is not JSON', async () => {
    const p = file('bad_json.h5');
    await writeKerasH5(p, { kind: 'model', modelConfig: '{"class_name": "Sequential", ', layers: [] });
    expect((await failure(readKerasFile(p))).message).toMatch(/bad_json\.h5: model_config is not valid JSON/);
  });
  it('a weights-only file loaded without an architecture', async () => {
    const e = await failure(loadKerasModel(kerasFixture('squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5')));
    expect(e.message).toMatch(/squeezenet_weights_tf_dim_ordering_tf_kernels_notop\.h5: a weights-only file \(no model_config\): say which architecture it holds with --arch/);
  });
});

describe('damaged files that would hang or abort the HDF5 library', () => {
  // keras1_conv2d_single_layer.h5 keeps its vlen strings (keras_version,
  // model_config) in a global heap collection at byte 2144.
  const keras1 = () => new Uint8Array(fs.readFileSync(kerasFixture('keras1_conv2d_single_layer.h5')));
  const patch = (b: Uint8Array, edits: [number, number][]) => {
    for (const [i, v] of edits) b[i] = v;
    return b;
  };

  it('a zero-size object in a global heap (HDF5 would loop forever) is rejected up front', async () => {
    const bytes = patch(keras1(), [[2947, 174], [2953, 29], [2976, 19]]);
    const p = file('heap_loop.h5', bytes);
    expect((await failure(readKerasFile(p))).message).toBe(`${p}: corrupt HDF5 file (damaged global heap at byte 2144)`);
    expect((await failure(readKerasFile(bytes, { fileName: 'heap_loop.h5' }))).message).toBe(
      'heap_loop.h5: corrupt HDF5 file (damaged global heap at byte 2144)',
    );
  });

  it('fresh h5wasm instances can replace the current ones (what happens after an abort)', async () => {
    const before = (await h5wasmNode()).module;
    const beforeMem = (await h5wasmMemory()).module;
    releaseHdf5Memory();
    expect((await readKerasFile(good)).weights.get('conv2d_1')![0].shape).toEqual([3, 3, 5, 6]);
    expect((await readKerasFile(fs.readFileSync(good))).weights.get('conv2d_1')![0].shape).toEqual([3, 3, 5, 6]);
    expect((await h5wasmNode()).module).not.toBe(before);
    expect((await h5wasmMemory()).module).not.toBe(beforeMem);
    openAtStart = await openFileCount();
  });

  it('a damaged global heap that has crashed the library (abort, or out-of-bounds trap) is rejected up front', async () => {
    // Before the check, this file made the wasm code abort or trap depending on its memory
    // layout; such crashes are still caught (KerasFileError, fresh instance next time).
    const edits: [number, number][] = [
      [2935, 65], [2936, 101], [2938, 134], [2941, 109], [2945, 164], [2946, 116], [2950, 99], [2952, 71], [2957, 183], [2958, 184],
      [2959, 92], [2963, 132], [2968, 243], [2976, 23], [2979, 71], [2981, 18], [2983, 145], [2989, 98], [2992, 155], [2996, 161],
    ];
    const p = file('heap_abort.h5', patch(keras1(), edits));
    expect((await failure(readKerasFile(p))).message).toBe(`${p}: corrupt HDF5 file (damaged global heap at byte 2144)`);
    expect((await failure(readKerasFile(patch(keras1(), edits), { fileName: 'mem.h5' }))).message).toBe(
      'mem.h5: corrupt HDF5 file (damaged global heap at byte 2144)',
    );
    expect((await readKerasFile(good)).weights.get('conv2d_1')![0].shape).toEqual([3, 3, 5, 6]);
  });

  it('randomly damaged copies of the fixtures: a KerasFileError or a successful read, never anything else', async () => {
    const names = ['keras2_cnn_batch_norm.h5', 'keras2_functional_12net.h5', 'keras1_conv2d_single_layer.h5', 'keras2_conv2d_single_layer.h5'];
    const originals = names.map((n) => new Uint8Array(fs.readFileSync(kerasFixture(n))));
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
    let failures = 0;
    for (let it = 0; it < 120; it++) {
      const bytes = originals[it % originals.length].slice();
      const start = Math.floor(rand() * bytes.length);
      for (let k = 1 + Math.floor(rand() * 16); k > 0; k--) bytes[Math.min(bytes.length - 1, start + Math.floor(rand() * 64))] = Math.floor(rand() * 256);
      try {
        if (it % 2) await readKerasFile(bytes, { fileName: `fuzz${it}.h5` });
        else await readKerasFile(file('fuzz.h5', bytes));
      } catch (err) {
        expect(err, String(err)).toBeInstanceOf(KerasFileError);
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(0);
  });
});

describe('bytes (in-memory FS) path', () => {
  it('names the file given in the options', async () => {
    const text = new TextEncoder().encode('GIF89a... not HDF5');
    expect((await failure(readKerasFile(text, { fileName: 'upload.h5' }))).message).toBe('upload.h5: not an HDF5 file (no HDF5 signature found)');
    const cut = new Uint8Array(fs.readFileSync(good)).slice(0, 3000);
    expect((await failure(readKerasFile(cut.buffer, { fileName: 'cut.h5' }))).message).toBe(
      'cut.h5: truncated HDF5 file: it has 3000 bytes but its superblock says 11752',
    );
    const rnn = fs.readFileSync(path.join(tmp, 'rnn.h5'));
    expect((await failure(readKerasFile(rnn))).message).toMatch(/^<in-memory \.h5>: layer 'lstm_1' has class 'LSTM'/);
    const bad = fs.readFileSync(path.join(tmp, 'bad_shape.h5'));
    expect((await failure(readKerasFile(bad, { fileName: 'bad_shape.h5' }))).message).toMatch(/^bad_shape\.h5: layer 'conv2d_1' \(Conv2D\): weight 'kernel'/);
  });
});

describe('after all those errors', () => {
  it('no file is left open, no temporary file left, and both paths still read a good file', async () => {
    expect(await openFileCount()).toBe(openAtStart);
    expect(await memoryFsTempFiles()).toEqual([]);
    const a = await readKerasFile(good);
    const b = await readKerasFile(fs.readFileSync(good));
    expect(a.weights.get('conv2d_1')![0].values).toEqual(b.weights.get('conv2d_1')![0].values);
    expect(await openFileCount()).toBe(openAtStart);
  });
});
