/**
 * Write Keras-layout HDF5 files with h5wasm (Node only: writes a host path),
 * with deterministic pseudo-random weights. Used to build the VGG16
 * ImageNet-style weights files and Model A's full-model file the product
 * cannot download, and by tests to make odd files.
 *
 * Layouts (as h5py + Keras write them):
 * - weights only (`save_weights`): root attrs `layer_names` (fixed-length
 *   ASCII strings, weightless layers included), `backend`, `keras_version`;
 *   one group per layer with attr `weight_names` (an empty float64 array for
 *   weightless layers) and one dataset per weight name;
 * - full model (`model.save`): root attrs `model_config` (JSON text),
 *   `training_config`, `keras_version`, `backend`; the same weights layout
 *   under the group `model_weights`.
 * Names containing '/' become nested groups, as h5py makes them.
 *
 * Big weights are generated and written in row blocks into a chunked
 * dataset, so the 553 MB VGG16-with-top file never sits in memory whole.
 */
import { smallConvnetKerasConfig, smallConvnetSpec, vgg16Spec, type Vgg16Options } from './architectures.ts';
import { h5wasmNode, type H5Group } from './hdf5_file.ts';
import { inferShapes } from './summary_shapes.ts';
import type { ModelSpec, WeightRole } from './spec.ts';

/** mulberry32: a small, fast, seedable 32-bit PRNG; returns uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed derived from a base seed and a key (FNV-1a), so each weight has its own stream. */
export function seedFor(seed: number, key: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Normal samples (Box-Muller over mulberry32). */
export class NormalRng {
  private readonly u: () => number;
  private spare: number | undefined;
  constructor(seed: number) {
    this.u = mulberry32(seed);
  }
  /** One N(0, 1) sample. */
  next(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u1 = 1 - this.u(); // (0, 1]
    const u2 = this.u();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
  /** Fill with N(0, std^2) samples, in order. */
  fill(out: Float32Array, std: number): void {
    for (let i = 0; i < out.length; i++) out[i] = this.next() * std;
  }
}

/** One weight to write: its values, or a generator filling consecutive blocks in row-major order. */
export interface WeightToWrite {
  /** Path relative to the layer group, as stored in `weight_names` ('conv2d_1/kernel:0', 'fc1_W_1:0'). */
  name: string;
  /** Shape. */
  shape: number[];
  /** All values, or ... */
  values?: Float32Array;
  /** ... a generator called with consecutive blocks to fill (for big weights). */
  fill?: (block: Float32Array) => void;
}

/** One layer group to write. */
export interface LayerToWrite {
  /** Layer name (may contain '/'). */
  name: string;
  /** Its weights ([] for a weightless layer). */
  weights: WeightToWrite[];
}

/** What to write. */
export interface KerasH5Layout {
  /** 'model' (model.save layout) or 'weights' (save_weights layout). */
  kind: 'model' | 'weights';
  /** Model config (object or JSON text); required for 'model'. */
  modelConfig?: unknown;
  /** Training config (object or JSON text), model files only. */
  trainingConfig?: unknown;
  /** Layers in `layer_names` order. */
  layers: LayerToWrite[];
  /** The `keras_version` attribute (omitted when undefined). */
  kerasVersion?: string;
  /** The `backend` attribute (omitted when undefined). */
  backend?: string;
  /** Split `layer_names` into this many attributes `layer_names0..` (as Keras does past 64 KB). */
  splitLayerNames?: number;
}

/** Weights bigger than this are written in blocks into a chunked dataset. */
const STREAM_BYTES = 16 * 1024 * 1024;
/** Block size for streamed weights. */
const BLOCK_BYTES = 16 * 1024 * 1024;

function fixedStringAttr(obj: H5Group, name: string, values: string[]): void {
  const n = Math.max(1, ...values.map((v) => new TextEncoder().encode(v).length)) + 1;
  obj.create_attribute(name, values, [values.length], `A${n}`);
}

function ensureGroup(parent: H5Group, path: string): H5Group {
  let g = parent;
  for (const part of path.split('/').filter(Boolean)) {
    const e = g.get(part);
    g = e && (e as { type?: string }).type === 'Group' ? (e as H5Group) : g.create_group(part);
  }
  return g;
}

function writeWeight(group: H5Group, w: WeightToWrite): void {
  const parts = w.name.split('/');
  const dsName = parts.pop()!;
  const parent = parts.length ? ensureGroup(group, parts.join('/')) : group;
  const size = w.shape.reduce((a, b) => a * b, 1);
  if (w.values) {
    if (w.values.length !== size) throw new Error(`weight ${w.name}: ${w.values.length} values for shape [${w.shape}]`);
    parent.create_dataset({ name: dsName, data: w.values, shape: w.shape, dtype: '<f' });
    return;
  }
  if (!w.fill) throw new Error(`weight ${w.name}: no values and no generator`);
  if (size * 4 <= STREAM_BYTES || w.shape.length === 0) {
    const values = new Float32Array(size);
    w.fill(values);
    parent.create_dataset({ name: dsName, data: values, shape: w.shape, dtype: '<f' });
    return;
  }
  const rowSize = size / w.shape[0];
  const rowsPerBlock = Math.max(1, Math.floor(BLOCK_BYTES / (rowSize * 4)));
  const chunkRows = Math.max(1, Math.min(rowsPerBlock, Math.floor((4 * 1024 * 1024) / (rowSize * 4))));
  const ds = parent.create_dataset({
    name: dsName,
    data: new Float32Array(0),
    shape: [0, ...w.shape.slice(1)],
    maxshape: w.shape,
    chunks: [chunkRows, ...w.shape.slice(1)],
    dtype: '<f',
  });
  ds.resize(w.shape);
  const block = new Float32Array(rowsPerBlock * rowSize);
  for (let r = 0; r < w.shape[0]; r += rowsPerBlock) {
    const n = Math.min(rowsPerBlock, w.shape[0] - r);
    const view = n === rowsPerBlock ? block : block.subarray(0, n * rowSize);
    w.fill(view);
    ds.write_slice([[r, r + n], ...w.shape.slice(1).map((): [] => [])], view);
  }
}

/** Write a Keras-layout HDF5 file at a host path (Node). */
export async function writeKerasH5(path: string, layout: KerasH5Layout): Promise<void> {
  const { h5 } = await h5wasmNode();
  const file = new h5.File(path, 'w');
  try {
    const json = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
    if (layout.kind === 'model') {
      if (layout.modelConfig === undefined) throw new Error('a model file needs a modelConfig');
      file.create_attribute('model_config', json(layout.modelConfig));
      if (layout.trainingConfig !== undefined) file.create_attribute('training_config', json(layout.trainingConfig));
    }
    if (layout.kerasVersion !== undefined) file.create_attribute('keras_version', layout.kerasVersion);
    if (layout.backend !== undefined) file.create_attribute('backend', layout.backend);
    const root: H5Group = layout.kind === 'model' ? file.create_group('model_weights') : file;
    const names = layout.layers.map((l) => l.name);
    const parts = layout.splitLayerNames ?? 1;
    if (parts <= 1) fixedStringAttr(root, 'layer_names', names);
    else {
      const per = Math.ceil(names.length / parts);
      for (let i = 0; i < parts; i++) fixedStringAttr(root, `layer_names${i}`, names.slice(i * per, (i + 1) * per));
    }
    if (layout.kind === 'model') {
      if (layout.kerasVersion !== undefined) root.create_attribute('keras_version', layout.kerasVersion);
      if (layout.backend !== undefined) root.create_attribute('backend', layout.backend);
    }
    for (const layer of layout.layers) {
      const g = ensureGroup(root, layer.name);
      if (layer.weights.length === 0) g.create_attribute('weight_names', new Float64Array(0), [0], '<d');
      else fixedStringAttr(g, 'weight_names', layer.weights.map((w) => w.name));
      for (const w of layer.weights) writeWeight(g, w);
    }
  } finally {
    file.close();
  }
}

/** Options shared by the generated-file writers. */
export interface GeneratedWeightsOptions {
  /** Base seed (default 1234). The same seed gives the same weights, bit for bit (HDF5 still stamps each dataset with its write time). */
  seed?: number;
}

/**
 * Generators for every weight of a spec, by the initialiser its layer
 * definition declares: 'he' ~ N(0, 2 / fan_in) (activations keep a sane scale
 * through relu stacks), 'small' (biases) ~ N(0, 0.01^2), 'gamma' ~ 1 + N(0, 0.1^2),
 * 'beta' and 'mean' ~ N(0, 0.1^2), 'variance' ~ 1 + |N(0, 0.1^2)|, 'alpha' 0.25,
 * 'count' 1000. Each weight has its own stream (seedFor(seed, 'layer/role')).
 */
export function generatedWeights(
  spec: ModelSpec,
  seed: number,
  name: (layer: string, role: WeightRole) => string,
): Map<string, WeightToWrite[]> {
  const out = new Map<string, WeightToWrite[]>();
  for (const info of inferShapes(spec)) {
    out.set(
      info.layer.name,
      info.weights.map((w) => {
        const rng = new NormalRng(seedFor(seed, `${info.layer.name}/${w.role}`));
        const fanIn = w.fanIn ?? w.shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const fill = (block: Float32Array): void => {
          switch (w.init) {
            case 'he':
              rng.fill(block, Math.sqrt(2 / fanIn));
              break;
            case 'small':
              rng.fill(block, 0.01);
              break;
            case 'gamma':
              rng.fill(block, 0.1);
              for (let i = 0; i < block.length; i++) block[i] += 1;
              break;
            case 'variance':
              rng.fill(block, 0.1);
              for (let i = 0; i < block.length; i++) block[i] = 1 + Math.abs(block[i]);
              break;
            case 'alpha':
              block.fill(0.25);
              break;
            case 'zeros':
              block.fill(0);
              break;
            case 'ones':
              block.fill(1);
              break;
            case 'count':
              block.fill(1000);
              break;
            default: // beta, mean
              rng.fill(block, 0.1);
          }
        };
        return { name: name(info.layer.name, w.role), shape: w.shape, fill };
      }),
    );
  }
  return out;
}

/** Summary of a written file. */
export interface WrittenFile {
  /** Where it was written. */
  path: string;
  /** Number of parameters written. */
  params: number;
  /** Layer names, in `layer_names` order. */
  layerNames: string[];
}

/** The file names Keras uses for the VGG16 ImageNet weights. */
export function vgg16WeightsFileName(includeTop: boolean, small = false): string {
  return `vgg16_weights_tf_dim_ordering_tf_kernels${includeTop ? '' : '_notop'}${small ? '_small' : ''}.h5`;
}

/**
 * Write a VGG16 weights-only file in the Keras ImageNet layout:
 * `layer_names` input_1, block1_conv1, ..., block5_pool (+ flatten, fc1,
 * fc2, predictions); weight names `<layer>_W_1:0` / `<layer>_b_1:0`;
 * kernels HWIO; `backend` 'tensorflow', `keras_version` '2.0.2'.
 */
export async function writeVgg16WeightsFile(
  path: string,
  opts: GeneratedWeightsOptions & Pick<Vgg16Options, 'includeTop' | 'widthDivisor'> = {},
): Promise<WrittenFile> {
  const spec = vgg16Spec({ includeTop: opts.includeTop ?? true, widthDivisor: opts.widthDivisor, inputShape: [224, 224, 3] });
  const gen = generatedWeights(spec, opts.seed ?? 1234, (layer, role) => `${layer}_${role === 'kernel' ? 'W' : 'b'}_1:0`);
  const layers = spec.layers.map((l) => ({ name: l.name, weights: gen.get(l.name) ?? [] }));
  await writeKerasH5(path, { kind: 'weights', layers, backend: 'tensorflow', kerasVersion: '2.0.2' });
  return { path, params: countWritten(layers), layerNames: layers.map((l) => l.name) };
}

/**
 * Write Model A (SPEC.md: the book's 150x150 cats-vs-dogs convnet) as a
 * Keras 2.1.6 `model.save` file: `model_config` (Sequential list form),
 * `training_config` (RMSprop, binary cross-entropy), weights under
 * `model_weights/<layer>/<layer>/kernel:0` and `bias:0`.
 */
export async function writeSmallConvnetModelFile(
  path: string,
  opts: GeneratedWeightsOptions & { inputSize?: number; widthDivisor?: number } = {},
): Promise<WrittenFile> {
  const spec = smallConvnetSpec(opts);
  const gen = generatedWeights(spec, opts.seed ?? 1234, (layer, role) => `${layer}/${role}:0`);
  // The Sequential's synthesised InputLayer is not a saved layer.
  const layers = spec.layers.filter((l) => l.className !== 'InputLayer').map((l) => ({ name: l.name, weights: gen.get(l.name) ?? [] }));
  await writeKerasH5(path, {
    kind: 'model',
    modelConfig: smallConvnetKerasConfig(opts),
    trainingConfig: {
      optimizer_config: { class_name: 'RMSprop', config: { lr: 9.999999747378752e-5, rho: 0.9, epsilon: 1e-7, decay: 0.0 } },
      loss: 'binary_crossentropy',
      metrics: ['acc'],
      sample_weight_mode: null,
      loss_weights: null,
    },
    layers,
    backend: 'tensorflow',
    kerasVersion: '2.1.6',
  });
  return { path, params: countWritten(layers), layerNames: layers.map((l) => l.name) };
}

function countWritten(layers: LayerToWrite[]): number {
  let n = 0;
  for (const l of layers) for (const w of l.weights) n += w.shape.reduce((a, b) => a * b, 1);
  return n;
}
