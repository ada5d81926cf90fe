/**
 * Read a Keras HDF5 file (full model from `model.save`, or weights only from
 * `save_weights`) into a {@link KerasFile}, and match weights to a
 * {@link ModelSpec}.
 *
 * Layout read:
 * - full model: root attribute `model_config` (JSON), weights under the
 *   `model_weights` group; `optimizer_weights` and `training_config` ignored;
 * - weights only: root attribute `layer_names`;
 * - in both, the layer order is the `layer_names` attribute (possibly split
 *   into `layer_names0`, `layer_names1`, ...), never the HDF5 listing, and
 *   each layer group's `weight_names` attribute gives its datasets' paths
 *   relative to the group (names need not match the layer's: SqueezeNet's
 *   `conv1/conv1_3/kernel:0`; Keras 3 names lack `:0`).
 *
 * Conversions (the ones Keras 2 applies when it loads old files):
 * - Theano-written conv kernels are true convolutions: flipped spatially;
 * - conv kernels stored (out, in, rows, cols) (Keras 1 'th' ordering) are
 *   transposed to (rows, cols, in, out);
 * - weights are put in the canonical order of their class
 *   ({@link weightRolesFor}), found by name where names tell the role.
 */
import { parseModelConfig } from './config.ts';
import {
  getDataset,
  getGroup,
  hdf5Message,
  readFloat32Dataset,
  readStringAttr,
  readStringListAttr,
  withHdf5File,
  type H5Group,
  type Hdf5Source,
} from './hdf5_file.ts';
import { distributeNestedWeights } from './nested_weights.ts';
import { formatShape, inferShapes, type ExpectedWeight, type LayerInfo } from './summary_shapes.ts';
import { KerasFileError, type KerasFile, type ModelSpec, type WeightArray, type WeightRole } from './spec.ts';

/** Options of {@link readKerasFile}. */
export interface ReadKerasOptions {
  /** Name used in messages (default: the path, or '<in-memory .h5>' for bytes). */
  fileName?: string;
  /** Cut the file's model after this layer (see parseModelConfig). */
  until?: string;
}

/** What {@link matchWeightsToSpec} needs to know about where weights come from. */
export interface WeightSource {
  /** Weights per layer name. */
  weights: Map<string, WeightArray[]>;
  /** File layer order (used when names do not match the spec). */
  layerOrder?: string[];
  /** File name for messages. */
  fileName?: string;
  /** Backend that wrote them ('theano' kernels get flipped). */
  backend?: string;
  /** Keras version that wrote them. */
  kerasVersion?: string;
  /** True when already canonical (then no conversion is applied again, only checks). */
  normalised?: boolean;
}

/** Options of {@link matchWeightsToSpec}. */
export interface MatchOptions {
  /**
   * Match layers by name (true) or by order of the layers that have weights
   * (false, Keras' topological loading). Default: by name when every spec
   * layer with weights has a same-named layer with weights in the file, or
   * when the numbers of layers with weights differ (then the error names
   * the missing layer); by order otherwise (e.g. auto-generated names that
   * differ between the saved model and the spec).
   */
  byName?: boolean;
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** The role a stored weight name announces, if any ('conv2d_1/kernel:0', 'block1_conv1_W_1:0', ...). */
export function roleFromWeightName(name: string): WeightRole | undefined {
  const base = (name.replace(/:\d+$/, '').split('/').pop() ?? '').replace(/_\d+$/, '');
  if (/(^|_)depthwise_kernel$/.test(base)) return 'depthwise_kernel';
  if (/(^|_)pointwise_kernel$/.test(base)) return 'pointwise_kernel';
  if (/(^|_)(kernel|W)$/.test(base)) return 'kernel';
  if (/(^|_)(bias|b)$/.test(base)) return 'bias';
  if (/(^|_)gamma$/.test(base)) return 'gamma';
  if (/(^|_)beta$/.test(base)) return 'beta';
  if (/(^|_)(moving|running)_mean$/.test(base)) return 'moving_mean';
  // Keras 1 called the moving variance `running_std` (it held the variance).
  if (/(^|_)(moving_variance|running_std|running_var)$/.test(base)) return 'moving_variance';
  if (/(^|_)alpha$/.test(base)) return 'alpha';
  if (base === 'mean') return 'mean';
  if (base === 'variance') return 'variance';
  if (base === 'count') return 'count';
  return undefined;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** (out, in, rows, cols) -> (rows, cols, in, out). */
function oihwToHwio(values: Float32Array, shape: number[]): { shape: number[]; values: Float32Array } {
  const [o, i, h, w] = shape;
  const out = new Float32Array(values.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((y * w + x) * i + b) * o + a] = values[((a * i + b) * h + y) * w + x];
  return { shape: [h, w, i, o], values: out };
}

/** Flip an HWIO kernel along rows and cols (Keras' `convert_kernel`). */
function flipHw(values: Float32Array, shape: number[]): Float32Array {
  const [h, w, i, o] = shape;
  const io = i * o;
  const out = new Float32Array(values.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) out.set(values.subarray((y * w + x) * io, (y * w + x + 1) * io), ((h - 1 - y) * w + (w - 1 - x)) * io);
  return out;
}

/** Whether a shape is a vector in disguise ([1, 1, C] vs [C]): same size, one non-1 dim at most. */
function vectorLike(a: readonly number[], b: readonly number[]): boolean {
  const size = (s: readonly number[]) => s.reduce((x, y) => x * y, 1);
  const nonOnes = (s: readonly number[]) => s.filter((d) => d !== 1).length;
  return size(a) === size(b) && nonOnes(a) <= 1 && nonOnes(b) <= 1;
}

/**
 * Refuses NaN and infinite weights when the model is loaded: a ReLU or max turns NaN
 * into a number, so broken weights would otherwise give a finite, wrong answer.
 */
function checkFinite(values: Float32Array, what: string, fileName?: string): void {
  let first = -1;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count > 0) {
    const v = values[first];
    throw new KerasFileError(
      `${what} holds ${Number.isNaN(v) ? 'NaN' : v > 0 ? '+Infinity' : '-Infinity'} at index ${first}` +
        `${count > 1 ? ` (${count} non-finite values in all)` : ''}: the file's weights are broken`,
      fileName,
    );
  }
}

function describe(expected: ExpectedWeight[]): string {
  return expected.length === 0 ? 'none' : expected.map((e) => `${e.role} ${fmt(e.shape)}`).join(', ');
}

function canonicalise(info: LayerInfo, fileLayer: string, raw: WeightArray[], src: WeightSource): WeightArray[] {
  const layer = info.layer;
  const where = `layer '${layer.name}' (${layer.className})${fileLayer !== layer.name ? ` [file layer '${fileLayer}']` : ''}`;
  const expected = info.weights;
  if (raw.length !== expected.length) {
    throw new KerasFileError(
      `${where} has ${raw.length} weight(s) in the file (${raw.map((w) => `'${w.name}' ${fmt(w.shape)}`).join(', ') || 'none'}), ` +
        `but its config implies ${expected.length}: ${describe(expected)}`,
      src.fileName,
    );
  }
  const roles = raw.map((w) => roleFromWeightName(w.name));
  const byRole =
    roles.every((r) => r !== undefined) &&
    new Set(roles).size === roles.length &&
    expected.every((e) => roles.includes(e.role));
  const ordered = byRole ? expected.map((e) => raw[roles.indexOf(e.role)]) : raw;
  const theano = src.backend === 'theano';
  const keras1 = src.kerasVersion === undefined || src.kerasVersion.startsWith('1');
  return ordered.map((w, k) => {
    const e = expected[k];
    let shape = [...w.shape];
    let values = w.values;
    if (!src.normalised && layer.className === 'Conv2D' && e.role === 'kernel' && shape.length === 4) {
      const [kh, kw, ci, co] = e.shape;
      const oihw = [co, ci, kh, kw];
      const isHwio = sameShape(shape, e.shape);
      const isOihw = sameShape(shape, oihw);
      if (isOihw && (!isHwio || (theano && keras1))) ({ shape, values } = oihwToHwio(values, shape));
      if (theano && sameShape(shape, e.shape)) values = flipHw(values, shape);
    }
    if (!sameShape(shape, e.shape)) {
      if (e.role !== 'kernel' && vectorLike(shape, e.shape)) shape = [...e.shape];
      else {
        const inputs = info.inputShapes.map(formatShape).join(', ');
        throw new KerasFileError(
          `${where}: weight '${e.role}' ('${w.name}') has shape ${fmt(w.shape)} in the file, ` +
            `but the model implies ${fmt(e.shape)} (layer input ${inputs || 'none'})`,
          src.fileName,
        );
      }
    }
    checkFinite(values, `${where}: weight '${e.role}' ('${w.name}')`, src.fileName);
    return { name: w.name, shape, values, role: e.role };
  });
}

/**
 * Check weights against a spec and return them keyed by the spec's layer
 * names (every layer; [] for weightless ones), canonical order and layout,
 * each with its `role`. Layers are matched by name, or by order of the
 * layers that have weights (see {@link MatchOptions}); file layers the spec
 * does not have are ignored when matching by name (e.g. a with-top file
 * loaded into a no-top model). Throws a {@link KerasFileError} naming the
 * file, the layer and both shapes on any mismatch.
 */
export function matchWeightsToSpec(spec: ModelSpec, src: WeightSource, opts: MatchOptions = {}): Map<string, WeightArray[]> {
  const infos = inferShapes(spec, { fileName: src.fileName });
  const stored = distributeNestedWeights(spec, infos, src.weights, src.fileName);
  src = { ...src, weights: stored, layerOrder: src.layerOrder?.flatMap((n) => (stored.has(n) ? [n] : spec.layers.filter((l) => l.scope?.[0] === n).map((l) => l.name))) };
  const has = (n: string) => (src.weights.get(n)?.length ?? 0) > 0;
  const weighted = infos.filter((i) => i.weights.length > 0);
  const order = (src.layerOrder ?? [...src.weights.keys()]).filter(has);
  const byName = opts.byName ?? (weighted.every((i) => has(i.layer.name)) || order.length !== weighted.length);
  const fileLayer = new Map<string, string>();
  if (byName) {
    for (const i of weighted) {
      if (!has(i.layer.name)) {
        throw new KerasFileError(
          `layer '${i.layer.name}' (${i.layer.className}) needs weights (${describe(i.weights)}) but the file has none for it`,
          src.fileName,
        );
      }
      fileLayer.set(i.layer.name, i.layer.name);
    }
    for (const i of infos) {
      if (i.weights.length === 0 && has(i.layer.name)) {
        throw new KerasFileError(
          `layer '${i.layer.name}' (${i.layer.className}) takes no weights but the file has ` +
            `${src.weights.get(i.layer.name)!.length} for it`,
          src.fileName,
        );
      }
    }
  } else {
    if (order.length !== weighted.length) {
      throw new KerasFileError(
        `the file has ${order.length} layer(s) with weights (${order.join(', ')}) but the model has ` +
          `${weighted.length} (${weighted.map((i) => i.layer.name).join(', ')})`,
        src.fileName,
      );
    }
    weighted.forEach((i, k) => fileLayer.set(i.layer.name, order[k]));
  }
  const out = new Map<string, WeightArray[]>();
  for (const info of infos) {
    const from = fileLayer.get(info.layer.name);
    out.set(info.layer.name, from === undefined ? [] : canonicalise(info, from, src.weights.get(from)!, src));
  }
  return out;
}

function readLayerWeights(root: H5Group, layerName: string, fileName: string): WeightArray[] {
  const g = getGroup(root, layerName);
  if (!g) throw new KerasFileError(`layer '${layerName}' is listed in layer_names but has no group in the file`, fileName);
  const names = readStringListAttr(g, 'weight_names') ?? [];
  return names.map((wn) => {
    const ds = getDataset(g, wn) ?? getDataset(root, wn);
    if (!ds) {
      throw new KerasFileError(`layer '${layerName}': weight '${wn}' listed in weight_names is not in the file`, fileName);
    }
    try {
      return { name: wn, ...readFloat32Dataset(ds) };
    } catch (err) {
      if (err instanceof KerasFileError) throw err;
      throw new KerasFileError(`layer '${layerName}': weight '${wn}': ${hdf5Message(err)}`, fileName);
    }
  });
}

/**
 * Keras 3's weights layout: `layers/<name>/vars/<0..n-1>` in creation order (the
 * canonical order), nested models as `layers/<name>/layers/<inner>/...`. Keys are
 * the flattened layer paths ('sequential_1/conv2d').
 */
function readKeras3Weights(layers: H5Group, prefix: string, fileName: string, out = new Map<string, WeightArray[]>()): Map<string, WeightArray[]> {
  for (const name of layers.keys()) {
    const g = getGroup(layers, name);
    if (!g) continue;
    const vars = getGroup(g, 'vars');
    const path = prefix + name;
    if (vars) {
      const keys = vars.keys().filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
      out.set(
        path,
        keys.map((k, i) => {
          if (Number(k) !== i) throw new KerasFileError(`layer '${path}': variable ${i} is missing from vars/`, fileName);
          const ds = getDataset(vars, k);
          if (!ds) throw new KerasFileError(`layer '${path}': vars/${k} is not a dataset`, fileName);
          try {
            return { name: `${path}/vars/${k}`, ...readFloat32Dataset(ds) };
          } catch (err) {
            throw new KerasFileError(`layer '${path}': vars/${k}: ${(err as Error).message}`, fileName);
          }
        }),
      );
    }
    const inner = getGroup(g, 'layers');
    if (inner) readKeras3Weights(inner, `${path}/`, fileName, out);
  }
  return out;
}

/**
 * Read a Keras `.h5` file from a path (Node) or its bytes. Model files come
 * back with their {@link ModelSpec} and weights normalised and checked
 * against it; weights-only files with weights as stored (use
 * {@link matchWeightsToSpec} or {@link loadKerasModel} with a spec).
 * Every bad input throws one {@link KerasFileError} naming the file.
 */
export async function readKerasFile(source: Hdf5Source, opts: ReadKerasOptions = {}): Promise<KerasFile> {
  const raw = await withHdf5File(
    source,
    ({ file, fileName }) => {
      let kerasVersion = readStringAttr(file, 'keras_version');
      let backend = readStringAttr(file, 'backend');
      const modelConfig = readStringAttr(file, 'model_config');
      let root: H5Group;
      let kind: 'model' | 'weights';
      const modelWeights = getGroup(file, 'model_weights');
      if (modelConfig !== undefined) {
        kind = 'model';
        if (modelWeights) root = modelWeights;
        else if (readStringListAttr(file, 'layer_names') !== undefined) root = file;
        else throw new KerasFileError('model file (model_config) without a model_weights group', fileName);
      } else if (readStringListAttr(file, 'layer_names') !== undefined) {
        kind = 'weights';
        root = file;
      } else if (modelWeights && readStringListAttr(modelWeights, 'layer_names') !== undefined) {
        kind = 'weights';
        root = modelWeights;
      } else if (getGroup(file, 'layers')) {
        // Keras 3 (`.weights.h5`, or the weights inside a `.keras` archive): layers/<name>/vars/<i>
        const weights = readKeras3Weights(getGroup(file, 'layers')!, '', fileName);
        return { kind: 'weights' as const, fileName, model: undefined, weights, layerOrder: [...weights.keys()], kerasVersion: '3', backend };
      } else {
        throw new KerasFileError(
          'an HDF5 file, but not a Keras model or weights file (no model_config or layer_names attribute, no Keras 3 layers group)',
          fileName,
        );
      }
      kerasVersion ??= readStringAttr(root, 'keras_version');
      backend ??= readStringAttr(root, 'backend');
      // Parse the architecture first: an unsupported layer fails before any weight is read.
      const model =
        modelConfig !== undefined ? parseModelConfig(modelConfig, { fileName, kerasVersion, backend, until: opts.until }) : undefined;
      const layerOrder = readStringListAttr(root, 'layer_names') ?? [];
      const weights = new Map<string, WeightArray[]>();
      for (const name of layerOrder) weights.set(name, readLayerWeights(root, name, fileName));
      return { kind, fileName, model, weights, layerOrder, kerasVersion, backend };
    },
    { fileName: opts.fileName },
  );
  const result: KerasFile = {
    kind: raw.kind,
    fileName: raw.fileName,
    weights: raw.weights,
    layerOrder: raw.layerOrder,
    normalised: false,
  };
  if (raw.kerasVersion !== undefined) result.kerasVersion = raw.kerasVersion;
  if (raw.backend !== undefined) result.backend = raw.backend;
  if (raw.model) {
    result.model = raw.model;
    result.weights = matchWeightsToSpec(raw.model, result);
    result.normalised = true;
  }
  return result;
}

/** A model ready for an engine: architecture plus canonical weights per layer. */
export interface LoadedKerasModel {
  /** The architecture. */
  spec: ModelSpec;
  /** Canonical weights per spec layer name ([] for weightless layers). */
  weights: Map<string, WeightArray[]>;
  /** The file as read. */
  file: KerasFile;
}

/**
 * Read a file and pair it with an architecture: the file's own (model
 * files) or `opts.spec` (required for weights-only files, e.g. VGG16
 * ImageNet weights with a VGG16 spec built by the product).
 */
export async function loadKerasModel(
  source: Hdf5Source,
  opts: ReadKerasOptions & { spec?: ModelSpec } & MatchOptions = {},
): Promise<LoadedKerasModel> {
  const file = await readKerasFile(source, opts);
  const spec = opts.spec ?? file.model;
  if (!spec) {
    throw new KerasFileError(
      'a weights-only file (no model_config): say which architecture it holds with --arch (vgg16, vgg16-notop, squeezenet-notop, or a Keras JSON config file)',
      file.fileName,
    );
  }
  const weights = spec === file.model ? file.weights : matchWeightsToSpec(spec, file, opts);
  return { spec, weights, file };
}
