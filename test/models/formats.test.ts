/**
 * Every model format is recognised from its bytes, and each kind of damage gives
 * one clear error naming the file: Keras 3 `.keras` archives with a missing or
 * corrupt member, TF.js model.json files with missing or short shards, nested
 * models whose inner weights are missing, files that are no model at all.
 * Also: Keras 3 `.weights.h5` with its config, `--until`, labels files, PIL's
 * grayscale conversion.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { sniffModelFormat } from '../../src/models/formats/sniff.ts';
import { openModelFile } from '../../src/models/formats/open_model_file.ts';
import { readModelFile, readModelArchitecture } from '../../src/models/load_model.ts';
import { writeKerasH5 } from '../../src/models/keras/fixture_writer.ts';
import { countParams } from '../../src/models/keras/summary_shapes.ts';
import { parseLabels } from '../../src/viz/labels.ts';
import { toGrayU8 } from '../../src/viz/image.ts';
import { fixturesDir, kerasFixture } from './keras_helpers.ts';

let tmp: string;
const KERAS3 = path.join(fixturesDir, 'keras/users/mnist_keras3.keras');
const DARKNET = path.join(fixturesDir, 'tfjs/tiny_darknet');

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convscope-formats-'));
});

const members = () => unzipSync(new Uint8Array(fs.readFileSync(KERAS3)));
const writeZip = (name: string, files: Record<string, Uint8Array>) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, zipSync(files));
  return p;
};

describe('formats are sniffed from the bytes', () => {
  it('HDF5, zip, JSON and anything else', () => {
    expect(sniffModelFormat(new Uint8Array(fs.readFileSync(kerasFixture('cats_and_dogs_small_1.h5'))))).toBe('hdf5');
    expect(sniffModelFormat(new Uint8Array(fs.readFileSync(KERAS3)))).toBe('keras-archive');
    expect(sniffModelFormat(new Uint8Array(fs.readFileSync(path.join(DARKNET, 'model.json'))))).toBe('json');
    expect(sniffModelFormat(strToU8('\uFEFF  {"class_name": "Sequential"}'))).toBe('json');
    expect(sniffModelFormat(strToU8('GIF89a'))).toBe('unknown');
  });
  it('a .keras archive renamed .h5 and an .h5 renamed .keras still load', async () => {
    const asH5 = path.join(tmp, 'really_keras3.h5');
    fs.copyFileSync(KERAS3, asH5);
    expect((await readModelFile(asH5)).format).toBe('Keras 3 archive (.keras)');
    const asKeras = path.join(tmp, 'really_h5.keras');
    fs.copyFileSync(kerasFixture('cats_and_dogs_small_1.h5'), asKeras);
    expect((await readModelFile(asKeras)).format).toBe('Keras HDF5 model');
  });
  it('a file that is no model names the formats that exist', async () => {
    const png = path.join(fixturesDir, 'images/chelsea_cat.png');
    expect((await failure(readModelFile(png))).message).toMatch(/chelsea_cat\.png: not a model file convscope can read; expected a Keras HDF5 file .* a Keras 3 archive \(\.keras\).* TensorFlow\.js layers model/);
    const empty = path.join(tmp, 'empty.h5');
    fs.writeFileSync(empty, '');
    expect((await failure(readModelFile(empty))).message).toMatch(/empty\.h5: the file is empty/);
    expect((await failure(readModelFile(path.join(tmp, 'absent.h5')))).message).toMatch(/absent\.h5: file not found/);
  });
});

describe('Keras 3 .keras archives', () => {
  it('the real file: config, metadata and weights in the layers/<name>/vars layout', async () => {
    const m = await readModelFile(KERAS3);
    expect(m.spec.kerasVersion).toBe('3.15.1');
    expect(countParams(m.spec).total).toBe(225034);
    expect(m.weights.get('conv2d')!.map((w) => [w.role, w.shape])).toEqual([['kernel', [3, 3, 1, 32]], ['bias', [32]]]);
  });
  it('missing weights, missing config, corrupt config, a damaged zip: one line each', async () => {
    const { 'config.json': config, 'metadata.json': meta } = members();
    expect((await failure(readModelFile(writeZip('no_weights.keras', { 'config.json': config, 'metadata.json': meta })))).message).toMatch(/no_weights\.keras: the \.keras archive has no model\.weights\.h5 member/);
    expect((await failure(readModelFile(writeZip('no_config.keras', { 'metadata.json': meta })))).message).toMatch(/no_config\.keras: a zip file without config\.json/);
    expect((await failure(readModelFile(writeZip('bad_config.keras', { 'config.json': strToU8('{ nope'), 'metadata.json': meta })))).message).toMatch(/bad_config\.keras: the \.keras archive's config\.json is not valid JSON/);
    const cut = path.join(tmp, 'cut.keras');
    fs.writeFileSync(cut, fs.readFileSync(KERAS3).subarray(0, 5000));
    expect((await failure(readModelFile(cut))).message).toMatch(/cut\.keras: a zip file, but it cannot be read as a Keras archive/);
    const w = members()['model.weights.h5'];
    const shortW = writeZip('short_weights.keras', { 'config.json': config, 'metadata.json': meta, 'model.weights.h5': w.subarray(0, w.length >> 1) });
    expect((await failure(readModelFile(shortW))).message).toMatch(/short_weights\.keras \(model\.weights\.h5\): /);
  });
  it('a Keras 3 .weights.h5 with its config.json (--arch) gives the same weights as the archive', async () => {
    const { 'config.json': config, 'model.weights.h5': weights } = members();
    const cfg = path.join(tmp, 'mnist.config.json');
    const wf = path.join(tmp, 'mnist.weights.h5');
    fs.writeFileSync(cfg, config);
    fs.writeFileSync(wf, weights);
    const a = await readModelFile(wf, { arch: cfg });
    const b = await readModelFile(KERAS3);
    expect([...a.weights.keys()]).toEqual([...b.weights.keys()]);
    for (const [k, ws] of b.weights) ws.forEach((w, i) => expect(a.weights.get(k)![i].values).toEqual(w.values));
    expect((await failure(readModelFile(wf))).message).toMatch(/mnist\.weights\.h5: a weights-only file \(no model_config\): say which architecture it holds with --arch/);
  });
});

describe('TF.js layers models', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(tmp, 'tfjs-'));
    for (const f of fs.readdirSync(DARKNET)) fs.copyFileSync(path.join(DARKNET, f), path.join(dir, f));
  });
  it('the real Tiny Darknet: every shard read, parameters as published', async () => {
    const m = await readModelFile(path.join(dir, 'model.json'));
    expect(m.format).toBe('TensorFlow.js layers model');
    let n = 0;
    for (const ws of m.weights.values()) for (const w of ws) n += w.values.length;
    expect(n).toBe(1046488);
    expect(countParams(m.spec).total).toBe(1046488);
  });
  it('from dropped files (the browser path): shards found by name', async () => {
    const files = new Map(fs.readdirSync(DARKNET).map((f) => [f, new Uint8Array(fs.readFileSync(path.join(DARKNET, f)))]));
    const m = await openModelFile({ main: 'model.json', files });
    expect(countParams(m.spec).total).toBe(1046488);
  });
  it('a missing shard, a short shard, no manifest: one line each', async () => {
    const short = fs.mkdtempSync(path.join(tmp, 'short-'));
    for (const f of fs.readdirSync(DARKNET)) fs.copyFileSync(path.join(DARKNET, f), path.join(short, f));
    fs.rmSync(path.join(short, 'group7-shard1of1'));
    expect((await failure(readModelFile(path.join(short, 'model.json')))).message).toMatch(/model\.json: weight file 'group7-shard1of1' \(group \d+\) is missing: keep the group\*-shard\* files next to model\.json/);
    fs.writeFileSync(path.join(short, 'group7-shard1of1'), fs.readFileSync(path.join(DARKNET, 'group7-shard1of1')).subarray(0, 100));
    expect((await failure(readModelFile(path.join(short, 'model.json')))).message).toMatch(/weight files 'group7-shard1of1' hold 100 bytes, but their \d+ weights need \d+: a shard is short or damaged/);
    const j = JSON.parse(fs.readFileSync(path.join(DARKNET, 'model.json'), 'utf8'));
    delete j.weightsManifest;
    const bare = path.join(short, 'bare.json');
    fs.writeFileSync(bare, JSON.stringify(j));
    expect((await failure(readModelFile(bare))).message).toMatch(/bare\.json: weightsManifest is missing/);
    // ... but a bare config is enough for the architecture
    expect(countParams(await readModelArchitecture(bare)).total).toBe(1046488);
  });
});

describe('nested models and --until', () => {
  const inner = (withInputShape: boolean) => ({
    class_name: 'Sequential',
    config: { name: 'base', layers: [{ class_name: 'Conv2D', config: { name: 'c1', filters: 2, kernel_size: 3, ...(withInputShape ? { batch_input_shape: [null, 6, 6, 1] } : {}) } }, { class_name: 'Flatten', config: { name: 'f' } }] },
  });
  const outer = { class_name: 'Sequential', config: { name: 'outer', layers: [{ class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 6, 6, 1] } }, inner(true), { class_name: 'Dense', config: { name: 'd', units: 3 } }] } };
  const vals = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => (i + k) / 10);
  it('the inner weights in the outer group (as tf.keras writes them) are split over the inner layers', async () => {
    const p = path.join(tmp, 'nested.h5');
    await writeKerasH5(p, {
      kind: 'model', kerasVersion: '2.4.0', backend: 'tensorflow', modelConfig: outer,
      layers: [
        { name: 'base', weights: [{ name: 'c1/kernel:0', shape: [3, 3, 1, 2], values: vals(18, 0) }, { name: 'c1/bias:0', shape: [2], values: vals(2, 5) }] },
        { name: 'd', weights: [{ name: 'd/kernel:0', shape: [32, 3], values: vals(96, 1) }, { name: 'd/bias:0', shape: [3], values: vals(3, 2) }] },
      ],
    });
    const m = await readModelFile(p);
    expect(m.weights.get('base/c1')!.map((w) => w.role)).toEqual(['kernel', 'bias']);
    expect(m.weights.get('base/c1')![1].values).toEqual(vals(2, 5));
  });
  it('inner weights missing: the error names the nested model and the layer', async () => {
    const p = path.join(tmp, 'nested_missing.h5');
    await writeKerasH5(p, {
      kind: 'model', kerasVersion: '2.4.0', backend: 'tensorflow', modelConfig: outer,
      layers: [{ name: 'base', weights: [] }, { name: 'd', weights: [{ name: 'd/kernel:0', shape: [32, 3], values: vals(96, 1) }, { name: 'd/bias:0', shape: [3], values: vals(3, 2) }] }],
    });
    expect((await failure(readModelFile(p))).message).toMatch(/nested_missing\.h5: (nested model 'base'|layer 'base\/c1').*(none are stored for base\/c1|needs weights)/);
  });
  it('--until cuts a model before a layer that cannot run (a Lambda)', async () => {
    const cfg = { class_name: 'Sequential', config: { name: 's', layers: [
      { class_name: 'Conv2D', config: { name: 'c1', filters: 2, kernel_size: 3, batch_input_shape: [null, 6, 6, 1] } },
      { class_name: 'Lambda', config: { name: 'lam', function: ['4wAAAA==', null, null], function_type: 'lambda' } },
      { class_name: 'Dense', config: { name: 'd', units: 3 } },
    ] } };
    const p = path.join(tmp, 'with_lambda.h5');
    await writeKerasH5(p, {
      kind: 'model', kerasVersion: '2.4.0', backend: 'tensorflow', modelConfig: cfg,
      layers: [{ name: 'c1', weights: [{ name: 'c1/kernel:0', shape: [3, 3, 1, 2], values: vals(18, 0) }, { name: 'c1/bias:0', shape: [2], values: vals(2, 5) }] }, { name: 'lam', weights: [] }, { name: 'd', weights: [] }],
    });
    expect((await failure(readModelFile(p))).message).toMatch(/with_lambda\.h5: layer 'lam' is a Lambda layer.*--until LAYER/);
    const m = await readModelFile(p, { until: 'c1' });
    expect(m.spec.layers.map((l) => l.name)).toEqual(['c1_input', 'c1']);
    expect(m.spec.outputs).toEqual(['c1']);
    expect((await failure(readModelFile(p, { until: 'd' }))).message).toMatch(/layer 'lam' is a Lambda layer/);
    expect((await failure(readModelFile(p, { until: 'nope' }))).message).toMatch(/--until: the model has no layer 'nope'; its layers are: c1_input, c1, lam, d/);
  });
});

describe('labels and grayscale', () => {
  it('labels files in every form', () => {
    expect(parseLabels('0 Cat\n1 Dog\n', 'labels.txt').classes.map((c) => c.name)).toEqual(['Cat', 'Dog']); // Teachable Machine
    expect(parseLabels('cat\ndog', 'l.txt').classes.map((c) => c.name)).toEqual(['cat', 'dog']);
    expect(parseLabels('n02504458\nn01871265', 'w.txt').classes).toEqual([{ id: 'n02504458', name: 'African_elephant' }, { id: 'n01871265', name: 'tusker' }]);
    expect(parseLabels('{"0": ["n01440764", "tench"], "1": "goldfish"}', 'i.json').classes).toEqual([{ id: 'n01440764', name: 'tench' }, { id: '1', name: 'goldfish' }]);
    expect(parseLabels('["a", "b"]', 'l.json').classes.map((c) => c.name)).toEqual(['a', 'b']);
    expect(() => parseLabels('a\n\nb', 'gap.txt')).toThrow(/gap\.txt: line 2 is empty/);
    expect(() => parseLabels('{"0": 3}', 'bad.json')).toThrow(/bad\.json: class 0 is missing or is not a name/);
  });
  it("PIL's convert('L'): (19595 R + 38470 G + 7471 B + 32768) >> 16", () => {
    const img = { width: 4, height: 1, channels: 3 as const, data: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 17, 200, 99]) };
    // what PIL gives (Debian's python3-pil 9.4.0: Image.frombytes('RGB', (4, 1), ...).convert('L'))
    expect(Array.from(toGrayU8(img).data)).toEqual([76, 150, 29, 134]);
  });
});

describe('broken weights are refused when the model is loaded', () => {
  it('NaN and Infinity in a kernel or bias name the layer, the weight and the index', async () => {
    const cfg = { class_name: 'Sequential', config: [{ class_name: 'Conv2D', config: { name: 'conv2d_1', batch_input_shape: [null, 5, 5, 2], filters: 3, kernel_size: [3, 3] } }] };
    const write = async (name: string, kernel: Float32Array, bias: Float32Array) => {
      const p = path.join(tmp, name);
      await writeKerasH5(p, { kind: 'model', kerasVersion: '2.1.6', backend: 'tensorflow', modelConfig: cfg, layers: [{ name: 'conv2d_1', weights: [{ name: 'conv2d_1/kernel:0', shape: [3, 3, 2, 3], values: kernel }, { name: 'conv2d_1/bias:0', shape: [3], values: bias }] }] });
      return p;
    };
    const k = new Float32Array(54).fill(0.1);
    k[7] = NaN;
    k[9] = NaN;
    expect((await failure(readModelFile(await write('nan.h5', k, new Float32Array(3))))).message).toMatch(
      /nan\.h5: layer 'conv2d_1' \(Conv2D\): weight 'kernel' \('conv2d_1\/kernel:0'\) holds NaN at index 7 \(2 non-finite values in all\): the file's weights are broken/,
    );
    expect((await failure(readModelFile(await write('inf.h5', new Float32Array(54), Float32Array.of(0, -Infinity, 0))))).message).toMatch(/weight 'bias' .* holds -Infinity at index 1: /);
  });
});

describe('a result that goes non-finite names the layer it starts at', () => {
  it('weights that overflow float32 in the first convolution', async () => {
    const { loadModel } = await import('../../src/models/load_model.ts');
    const cs = await import('../../src/index.ts');
    await cs.setBackend('cpu');
    const cfg = { class_name: 'Sequential', config: [
      { class_name: 'Conv2D', config: { name: 'c1', batch_input_shape: [null, 4, 4, 1], filters: 2, kernel_size: [3, 3], activation: 'relu' } },
      { class_name: 'Conv2D', config: { name: 'c2', filters: 1, kernel_size: [2, 2] } },
      { class_name: 'Flatten', config: { name: 'f' } },
      { class_name: 'Activation', config: { name: 'a', activation: 'sigmoid' } },
    ] };
    const p = path.join(tmp, 'overflow.h5');
    await writeKerasH5(p, { kind: 'model', kerasVersion: '2.1.6', backend: 'tensorflow', modelConfig: cfg, layers: [
      { name: 'c1', weights: [{ name: 'c1/kernel:0', shape: [3, 3, 1, 2], values: new Float32Array(18).fill(3e38) }, { name: 'c1/bias:0', shape: [2], values: new Float32Array(2) }] },
      // +inf in c1 times a mixed-sign kernel gives inf - inf = NaN in c2; the sigmoid would hide the cause
      { name: 'c2', weights: [{ name: 'c2/kernel:0', shape: [2, 2, 2, 1], values: Float32Array.of(1, -1, 1, -1, 1, -1, 1, -1) }, { name: 'c2/bias:0', shape: [1], values: new Float32Array(1) }] },
      { name: 'f', weights: [] },
      { name: 'a', weights: [] },
    ] });
    const model = await loadModel(p);
    const x = cs.fill([1, 4, 4, 1], 1);
    const out = model.predict(x);
    const e = await failure(model.assertFinite(await out.data(), x, 'prediction'));
    expect(e.message).toMatch(/the prediction holds non-finite values; it first appears at layer 'c1' \(Conv2D\), which outputs \+Infinity/);
    out.dispose();
    x.dispose();
    model.dispose();
  });
});

describe('HDF5 files that would make the library loop', () => {
  it('a global heap with its reserved bytes set and an object size that overruns it is refused up front', async () => {
    // found by npm run fuzz (seed 1, case 2971): HDF5 ignores the reserved bytes and then loops on the bad size
    const b = new Uint8Array(fs.readFileSync(kerasFixture('keras2_functional_12net.h5')));
    expect(String.fromCharCode(...b.subarray(2048, 2052))).toBe('GCOL');
    b[2054] = 0xb0; // reserved
    new DataView(b.buffer).setUint32(6800 + 8, 126, true); // object 4: 10 -> 126 bytes
    const p = path.join(tmp, 'looping_heap.h5');
    fs.writeFileSync(p, b);
    expect((await failure(readModelFile(p))).message).toMatch(/looping_heap\.h5: corrupt HDF5 file \(damaged global heap at byte 2048\)/);
  });
});

describe('several outputs', () => {
  it('--output picks one of a functional model\'s outputs; a wrong name lists them', async () => {
    const f = kerasFixture('keras2_functional_12net.h5');
    expect((await readModelFile(f)).spec.outputs).toEqual(['conv4-1', 'conv4-2']);
    expect((await readModelFile(f, { output: 'conv4-2' })).spec.outputs).toEqual(['conv4-2', 'conv4-1']);
    expect((await failure(readModelFile(f, { output: 'conv3' }))).message).toMatch(/--output: the model's outputs are 'conv4-1', 'conv4-2'; got 'conv3'/);
  });
});
