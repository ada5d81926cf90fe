/**
 * Seeded fuzz cases for every input the product takes: damaged Keras HDF5 files,
 * Keras 3 archives, TF.js models and shards, Keras JSON configs with semantic
 * mutations, weights of the wrong shape or value, and damaged or unusual images.
 * Each case writes its files into a scratch folder and names the command to run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { crc32 } from '../src/viz/image_headers.ts';
import { mulberry32, seedFor, writeKerasH5, type LayerToWrite } from '../src/models/keras/fixture_writer.ts';

export type Rng = () => number;

export interface FuzzCase {
  id: number;
  kind: string;
  /** What was done to the input, in words. */
  what: string;
  /** Writes the case's files; returns the command line (without `convscope`). */
  make(dir: string): Promise<string[]>;
  /** For an accepted case: what is wrong with its output, if anything. */
  checkAccepted?(stdout: string): string | undefined;
}

const ROOT = path.resolve(import.meta.dirname, '..');
const fixtures = (): string => {
  for (const c of [process.env.CONVSCOPE_FIXTURES, path.join(ROOT, '../shared/fixtures'), '/work/shared/fixtures']) if (c && fs.existsSync(c)) return c;
  throw new Error('shared/fixtures not found');
};

const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

/** Byte-level damage of a file. */
function damage(r: Rng, bytes: Uint8Array): { bytes: Uint8Array; what: string } {
  const b = Uint8Array.from(bytes);
  const mode = pick(r, ['flip', 'flip-head', 'truncate', 'zero-block', 'dup-block'] as const);
  if (mode === 'truncate') {
    const n = int(r, 0, b.length - 1);
    return { bytes: b.subarray(0, n), what: `truncated to ${n} of ${b.length} bytes` };
  }
  if (mode === 'zero-block' || mode === 'dup-block') {
    const len = int(r, 1, Math.min(4096, b.length >> 2));
    const at = int(r, 0, b.length - len);
    if (mode === 'zero-block') b.fill(0, at, at + len);
    else b.copyWithin(at, int(r, 0, b.length - len), at + len);
    return { bytes: b, what: `${mode} of ${len} bytes at ${at}` };
  }
  const k = int(r, 1, 40);
  const span = mode === 'flip-head' ? Math.min(8192, b.length) : b.length;
  for (let i = 0; i < k; i++) b[int(r, 0, span - 1)] = int(r, 0, 255);
  return { bytes: b, what: `${k} random bytes in the first ${span}` };
}

/** A probabilities check for an accepted predict: finite numbers that sum to about 1. */
function sanePrediction(stdout: string): string | undefined {
  const lines = stdout.split('\n').filter((l) => /^\s+\d+\. /.test(l));
  if (lines.length === 0) return 'no predictions printed';
  for (const l of lines) {
    const v = Number(l.slice(l.lastIndexOf(':') + 1));
    if (!Number.isFinite(v) || v < 0 || v > 1) return `a probability is not in [0, 1]: ${l.trim()}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// model files

function h5Bytes(r: Rng, id: number): FuzzCase {
  const F = fixtures();
  const seed = pick(r, ['keras/cats_and_dogs_small_1.h5', 'keras/keras2_cnn_batch_norm.h5', 'keras/keras1_conv2d_single_layer.h5', 'keras/keras2_functional_12net.h5', 'keras/users/fer2013_mini_XCEPTION.102-0.66.hdf5']);
  const d = damage(r, new Uint8Array(fs.readFileSync(path.join(F, seed))));
  const cats = seed.includes('cats');
  return {
    id,
    kind: 'h5 bytes',
    what: `${path.basename(seed)}: ${d.what}`,
    async make(dir) {
      const p = path.join(dir, `damaged_${id}.h5`);
      fs.writeFileSync(p, d.bytes);
      return cats ? ['predict', p, path.join(F, 'images/chelsea_cat.png'), '--backend', 'cpu'] : ['summary', p];
    },
    checkAccepted: cats ? sanePrediction : undefined,
  };
}

function kerasZip(r: Rng, id: number): FuzzCase {
  const F = fixtures();
  const members = unzipSync(new Uint8Array(fs.readFileSync(path.join(F, 'keras/users/mnist_keras3.keras'))));
  const mode = pick(r, ['drop', 'damage-member', 'damage-zip', 'rename', 'config-edit'] as const);
  let what: string = mode;
  let bytes: Uint8Array;
  const m: Record<string, Uint8Array> = { ...members };
  if (mode === 'damage-zip') {
    const d = damage(r, zipSync(m));
    bytes = d.bytes;
    what = `zip ${d.what}`;
  } else {
    if (mode === 'drop') {
      const k = pick(r, Object.keys(m));
      delete m[k];
      what = `without ${k}`;
    } else if (mode === 'rename') {
      const k = pick(r, Object.keys(m));
      m[`x_${k}`] = m[k];
      delete m[k];
      what = `${k} renamed`;
    } else if (mode === 'config-edit') {
      const cfg = JSON.parse(new TextDecoder().decode(m['config.json']));
      what = `config.json: ${mutateConfig(r, cfg)}`;
      m['config.json'] = strToU8(JSON.stringify(cfg));
    } else {
      const k = pick(r, Object.keys(m));
      const d = damage(r, m[k]);
      m[k] = d.bytes;
      what = `${k} ${d.what}`;
    }
    bytes = zipSync(m);
  }
  return {
    id,
    kind: 'keras archive',
    what,
    async make(dir) {
      const p = path.join(dir, `model_${id}.keras`);
      fs.writeFileSync(p, bytes);
      return ['summary', p];
    },
  };
}

function tfjsModel(r: Rng, id: number): FuzzCase {
  const F = fixtures();
  const src = path.join(F, 'tfjs/tiny_darknet');
  const json = JSON.parse(fs.readFileSync(path.join(src, 'model.json'), 'utf8'));
  const mode = pick(r, ['manifest', 'topology', 'shard-missing', 'shard-short', 'json-bytes'] as const);
  let what: string = mode;
  let shardEdit: ((dir: string) => void) | undefined;
  let text: string | undefined;
  if (mode === 'manifest') {
    const g = pick(r, json.weightsManifest as { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[]);
    const w = pick(r, g.weights);
    const edit = pick(r, ['shape', 'dtype', 'name', 'drop', 'paths'] as const);
    if (edit === 'shape') w.shape = w.shape.map((d) => pick(r, [d, d + 1, 0, -1, 1e9]));
    if (edit === 'dtype') w.dtype = pick(r, ['int8', 'float64', 'string', 'bool', 'uint8']);
    if (edit === 'name') w.name = pick(r, ['', 'nope/kernel', `${w.name}/x`]);
    if (edit === 'drop') g.weights.splice(g.weights.indexOf(w), 1);
    if (edit === 'paths') g.paths = pick(r, [[], ['../../etc/passwd'], ['group999-shard1of1']]);
    what = `manifest: ${edit} of ${w.name}`;
  } else if (mode === 'topology') {
    what = `modelTopology: ${mutateConfig(r, json.modelTopology.model_config)}`;
  } else if (mode === 'json-bytes') {
    text = new TextDecoder().decode(damage(r, strToU8(JSON.stringify(json))).bytes);
  } else {
    const shard = `group${int(r, 1, 31)}-shard1of1`;
    what = `${mode} ${shard}`;
    shardEdit = (dir) => {
      const p = path.join(dir, shard);
      fs.rmSync(p);
      if (mode === 'shard-short') fs.writeFileSync(p, fs.readFileSync(path.join(src, shard)).subarray(0, int(r, 0, 100)));
    };
  }
  return {
    id,
    kind: 'tfjs model',
    what,
    async make(dir) {
      const d = path.join(dir, `tfjs_${id}`);
      fs.mkdirSync(d);
      for (const f of fs.readdirSync(src)) if (f.startsWith('group')) fs.symlinkSync(path.join(src, f), path.join(d, f));
      shardEdit?.(d);
      fs.writeFileSync(path.join(d, 'model.json'), text ?? JSON.stringify(json));
      return ['summary', path.join(d, 'model.json')];
    },
  };
}

/** Semantic damage to a Keras config: bad values, wrong classes, missing keys, cycles, dangling names. */
export function mutateConfig(r: Rng, top: Record<string, unknown>): string {
  const cfg = top.config as Record<string, unknown> | unknown[];
  const layers = (Array.isArray(cfg) ? cfg : (cfg?.layers as unknown[])) ?? [];
  if (layers.length === 0) return 'nothing to mutate';
  const layer = pick(r, layers) as Record<string, unknown>;
  const c = (layer.config ?? {}) as Record<string, unknown>;
  const name = String(c.name ?? layer.name);
  const keys = Object.keys(c).filter((k) => k !== 'name');
  const mode = pick(r, ['value', 'value', 'value', 'class', 'drop-key', 'inbound', 'dup-name', 'drop-layer'] as const);
  if (mode === 'class') {
    layer.class_name = pick(r, ['Conv3D', 'LSTM', 'Lambda', 'MyCustomLayer', '', 42, 'Dense', 'Conv2D', 'Functional']);
    return `layer ${name} class -> ${String(layer.class_name)}`;
  }
  if (mode === 'drop-key' && keys.length) {
    const k = pick(r, keys);
    delete c[k];
    return `layer ${name} without ${k}`;
  }
  if (mode === 'inbound' && Array.isArray(layer.inbound_nodes)) {
    const other = String((pick(r, layers) as Record<string, unknown>).name ?? 'x');
    layer.inbound_nodes = pick(r, [[[[name, 0, 0, {}]]], [[['no_such_layer', 0, 0, {}]]], [[[other, 5, 3, {}]]], 'junk', [[]]]);
    return `layer ${name} inbound -> ${JSON.stringify(layer.inbound_nodes)}`;
  }
  if (mode === 'dup-name') {
    c.name = String(((pick(r, layers) as Record<string, unknown>).config as Record<string, unknown>)?.name ?? 'a');
    layer.name = c.name;
    return `layer ${name} renamed to an existing name ${String(c.name)}`;
  }
  if (mode === 'drop-layer') {
    layers.splice(layers.indexOf(layer), 1);
    return `layer ${name} removed`;
  }
  if (!keys.length) return 'no keys';
  const k = pick(r, keys);
  c[k] = pick(r, [0, -1, -3, 2.5, 1e9, 1e300, 'yes', null, [], [0, 0], [-1, 2], {}, true, 'same', 'causal', [1, 2, 3], NaN]);
  return `layer ${name} ${k} -> ${JSON.stringify(c[k])}`;
}

function configJson(r: Rng, id: number): FuzzCase {
  const F = fixtures();
  const file = pick(r, [
    'keras_configs/MobileNet__hpssjellis.json',
    'keras_configs/MobileNetV2__nsfwjs.json',
    'keras_configs/MobileNetV3Large__hadainahzul.json',
    'keras_configs/ResNet50__andreyklimkin.json',
    'keras_configs/InceptionV3__nsfwjs.json',
    'keras_configs/Xception__monkeypox.json',
    'keras/users/mnist_channels_first_model.json',
  ]);
  const cfg = JSON.parse(fs.readFileSync(path.join(F, file), 'utf8'));
  const n = int(r, 1, 3);
  const whats = Array.from({ length: n }, () => mutateConfig(r, cfg));
  return {
    id,
    kind: 'keras config',
    what: `${path.basename(file)}: ${whats.join('; ')}`,
    async make(dir) {
      const p = path.join(dir, `config_${id}.json`);
      fs.writeFileSync(p, JSON.stringify(cfg));
      return ['summary', p];
    },
  };
}

/** The cats-vs-dogs model written again with one weight of the wrong shape, size or value. */
function weightValues(r: Rng, id: number): FuzzCase {
  const F = fixtures();
  const mode = pick(r, ['nan', 'inf', 'shape', 'missing', 'extra', 'huge'] as const);
  const layer = pick(r, ['conv2d_4', 'conv2d_5', 'conv2d_6', 'dense_3', 'dense_4']);
  const role = pick(r, ['kernel', 'bias']);
  return {
    id,
    kind: 'weights',
    what: `${layer}/${role}: ${mode}`,
    async make(dir) {
      const { readKerasFile } = await import('../src/models/keras/load.ts');
      const { readStringAttr, withHdf5File } = await import('../src/models/keras/hdf5_file.ts');
      const src = path.join(F, 'keras/cats_and_dogs_small_1.h5');
      const file = await readKerasFile(src);
      const config = await withHdf5File(src, ({ file: f }) => readStringAttr(f, 'model_config'));
      const layers: LayerToWrite[] = file.layerOrder.map((l) => ({
        name: l,
        weights: (file.weights.get(l) ?? []).map((w) => ({ name: `${l}/${w.role}:0`, shape: [...w.shape], values: Float32Array.from(w.values) })),
      }));
      const L = layers.find((l) => l.name === layer)!;
      const w = L.weights.find((x) => x.name.includes(`/${role}`))!;
      if (mode === 'nan' || mode === 'inf') w.values![int(r, 0, w.values!.length - 1)] = mode === 'nan' ? NaN : pick(r, [Infinity, -Infinity]);
      if (mode === 'shape') {
        w.shape = [...w.shape.slice(0, -1), w.shape[w.shape.length - 1] + 1];
        w.values = new Float32Array(w.shape.reduce((a, b) => a * b, 1));
      }
      if (mode === 'missing') L.weights.splice(L.weights.indexOf(w), 1);
      if (mode === 'extra') L.weights.push({ name: `${layer}/extra:0`, shape: [3], values: new Float32Array(3) });
      if (mode === 'huge') w.values!.fill(1e30);
      const p = path.join(dir, `weights_${id}.h5`);
      await writeKerasH5(p, { kind: 'model', modelConfig: config, layers, kerasVersion: '2.1.6', backend: 'tensorflow' });
      return ['predict', p, path.join(F, 'images/chelsea_cat.png'), '--backend', 'cpu'];
    },
    checkAccepted: sanePrediction,
  };
}

// ---------------------------------------------------------------------------
// images


function image(r: Rng, id: number): FuzzCase {
  const F = fixtures();
  const src = pick(r, ['images/chelsea_cat.png', 'images/coffee.png', 'images/creative_commons_elephant.jpg', 'images/dog_on_beach.jpg']);
  const orig = new Uint8Array(fs.readFileSync(path.join(F, src)));
  const mode = pick(r, ['damage', 'damage', 'absurd-size', 'png-variant', 'jpeg-quality', 'renamed', 'tiny'] as const);
  let bytes: Uint8Array;
  let what: string = mode;
  let valid = false;
  if (mode === 'damage') {
    const d = damage(r, orig);
    bytes = d.bytes;
    what = `${path.basename(src)} ${d.what}`;
  } else if (mode === 'absurd-size') {
    const w = pick(r, [0, 1, 100000, 65536, 20000]);
    const h = pick(r, [0, 1, 100000, 20000, 300]);
    if (src.endsWith('.png')) {
      bytes = Uint8Array.from(orig);
      const dv = new DataView(bytes.buffer);
      dv.setUint32(16, w);
      dv.setUint32(20, h);
      dv.setUint32(29, crc32(bytes.subarray(12, 29)));
    } else {
      bytes = Uint8Array.from(orig);
      // the first frame header
      for (let p = 2; p + 9 < bytes.length; ) {
        const m = bytes[p + 1];
        const len = (bytes[p + 2] << 8) | bytes[p + 3];
        if (m >= 0xc0 && m <= 0xc2) {
          new DataView(bytes.buffer).setUint16(p + 5, Math.min(h, 65535));
          new DataView(bytes.buffer).setUint16(p + 7, Math.min(w, 65535));
          break;
        }
        p += 2 + len;
      }
    }
    what = `${path.basename(src)} header says ${w}x${h}`;
  } else if (mode === 'png-variant' || mode === 'tiny') {
    const width = mode === 'tiny' ? int(r, 1, 3) : int(r, 5, 90);
    const height = mode === 'tiny' ? int(r, 1, 3) : int(r, 5, 90);
    const colorType = pick(r, [0, 2, 4, 6] as const);
    const bitDepth = pick(r, [8, 16] as const);
    const png = new PNG({ width, height, colorType, inputColorType: 6, bitDepth, inputHasAlpha: true });
    for (let i = 0; i < png.data.length; i++) png.data[i] = int(r, 0, 255);
    bytes = new Uint8Array(PNG.sync.write(png, { colorType, inputColorType: 6, bitDepth, inputHasAlpha: true }));
    what = `${width}x${height} PNG, colour type ${colorType}, ${bitDepth}-bit`;
    valid = true;
  } else if (mode === 'jpeg-quality') {
    const width = int(r, 8, 120);
    const height = int(r, 8, 120);
    const data = new Uint8Array(width * height * 4);
    for (let i = 0; i < data.length; i++) data[i] = int(r, 0, 255);
    const q = int(r, 1, 100);
    bytes = new Uint8Array(jpeg.encode({ data, width, height }, q).data);
    what = `${width}x${height} JPEG quality ${q}`;
    valid = true;
  } else {
    bytes = pick(r, [strToU8('GIF89a\x01\x00\x01\x00'), strToU8('BM....'), strToU8('RIFF....WEBPVP8 '), strToU8('hello, this is text'), new Uint8Array(0), new Uint8Array(fs.readFileSync(path.join(F, 'keras/keras1_conv2d_single_layer.h5')))]);
    what = `not an image (${bytes.length} bytes) named .png`;
  }
  return {
    id,
    kind: 'image',
    what,
    async make(dir) {
      const p = path.join(dir, `image_${id}.png`);
      fs.writeFileSync(p, bytes);
      return ['predict', path.join(F, 'keras/cats_and_dogs_small_1.h5'), p, '--backend', 'cpu'];
    },
    checkAccepted: (out) => sanePrediction(out) ?? (valid || mode === 'damage' || mode === 'absurd-size' ? undefined : 'accepted something that is not an image'),
  };
}

const MODEL_KINDS: [string, (r: Rng, id: number) => FuzzCase][] = [
  ['h5 bytes', h5Bytes],
  ['h5 bytes', h5Bytes],
  ['h5 bytes', h5Bytes],
  ['keras archive', kerasZip],
  ['tfjs model', tfjsModel],
  ['keras config', configJson],
  ['keras config', configJson],
  ['weights', weightValues],
];

/**
 * A case whose inputs are made only when it runs, from its own seed: a run of
 * 11,000 cases holds one case's bytes at a time, and case i is the same whatever
 * ran before it.
 */
function lazyCase(id: number, kind: string, seed: number, gen: (r: Rng, id: number) => FuzzCase): FuzzCase {
  const c: FuzzCase = {
    id,
    kind,
    what: '',
    async make(dir) {
      const real = gen(mulberry32(seed), id);
      c.what = real.what;
      c.checkAccepted = real.checkAccepted;
      return real.make(dir);
    },
  };
  return c;
}

/** `models` model-file cases and `images` image cases, all from one seed. */
export function fuzzCases(seed: number, models: number, images: number): FuzzCase[] {
  const r = mulberry32(seed);
  const out: FuzzCase[] = [];
  for (let i = 0; i < models; i++) {
    const [kind, gen] = pick(r, MODEL_KINDS);
    out.push(lazyCase(out.length, kind, seedFor(seed, `case ${out.length}`), gen));
  }
  for (let i = 0; i < images; i++) out.push(lazyCase(out.length, 'image', seedFor(seed, `case ${out.length}`), image));
  return out;
}
