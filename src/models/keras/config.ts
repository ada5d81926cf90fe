/**
 * Parse a Keras `model_config` (the JSON in a `.h5` file's root attribute,
 * or the output of `model.to_json()`) of any Keras version into a
 * {@link ModelSpec}:
 *
 * - Keras 1: `Sequential` config as a bare list; `Convolution2D` (`nb_filter`,
 *   `nb_row`, `nb_col`, `border_mode`, `subsample`, `dim_ordering`), pooling
 *   with `border_mode`, `Dense` with `output_dim`, `Dropout` with `p`,
 *   `Merge` (concat / sum); only 'tf' dim ordering.
 * - Keras 2.0-2.2: `Sequential` as a list or `{name, layers}`; `Model` with
 *   `inbound_nodes` `[[["layer", 0, 0, {}]]]`, `input_layers`, `output_layers`.
 * - tf.keras 2.x: `Functional` (same layout), InputLayer inside Sequential.
 * - Keras 3 legacy h5: `batch_shape`, layers as `{module, class_name, config,
 *   registered_name}`, inbound nodes as `{args: [keras tensors]}` with
 *   `config.keras_history = [layer, node, tensor]`.
 *
 * Channels-last only. Every unsupported construct throws a
 * {@link KerasFileError} naming the file, the layer and its class.
 */
import {
  KerasFileError,
  SUPPORTED_ACTIVATIONS,
  SUPPORTED_LAYER_CLASSES,
  type ActivationName,
  type LayerClassName,
  type LayerConfigMap,
  type LayerSpec,
  type ModelSpec,
  type Padding,
  type Pair,
  type Shape,
} from './spec.ts';

/** Context for messages and for version-dependent defaults. */
export interface ConfigParseOptions {
  /** File name used in error messages. */
  fileName?: string;
  /** Keras version that wrote the config (the file's `keras_version`), if known. */
  kerasVersion?: string;
  /** Backend that wrote the config (the file's `backend`), if known. */
  backend?: string;
}

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keras class names (any version) -> canonical class. `Merge` is handled apart. */
const CLASS_ALIASES: Record<string, LayerClassName> = {
  Convolution2D: 'Conv2D',
  AtrousConvolution2D: 'Conv2D',
  Conv2D: 'Conv2D',
  MaxPool2D: 'MaxPooling2D',
  AvgPool2D: 'AveragePooling2D',
  GlobalAvgPool2D: 'GlobalAveragePooling2D',
  GlobalMaxPool2D: 'GlobalMaxPooling2D',
};
for (const c of SUPPORTED_LAYER_CLASSES) CLASS_ALIASES[c] = c;

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

interface Ctx {
  fileName?: string;
  backend?: string;
  kerasVersion?: string;
}

function fail(ctx: Ctx, msg: string): never {
  throw new KerasFileError(msg, ctx.fileName);
}

function supportedList(): string {
  return SUPPORTED_LAYER_CLASSES.join(', ');
}

interface RawLayer {
  className: string;
  name: string;
  config: Json;
  inboundNodes: unknown;
}

function rawLayer(entry: unknown, index: number, ctx: Ctx): RawLayer {
  if (!isObj(entry) || typeof entry.class_name !== 'string') {
    fail(ctx, `model_config: layer #${index} has no class_name`);
  }
  const config = isObj(entry.config) ? entry.config : {};
  const name =
    typeof entry.name === 'string' ? entry.name : typeof config.name === 'string' ? config.name : undefined;
  if (name === undefined) fail(ctx, `model_config: layer #${index} (${entry.class_name}) has no name`);
  return { className: entry.class_name, name, config, inboundNodes: entry.inbound_nodes };
}

// ---------------------------------------------------------------------------
// Value normalisers

function num(v: unknown, what: string, ctx: Ctx, layer: RawLayer): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return fail(ctx, `layer '${layer.name}' (${layer.className}): ${what} must be a number, got ${JSON.stringify(v)}`);
}

function pair(v: unknown, what: string, ctx: Ctx, layer: RawLayer, def?: Pair): Pair {
  if ((v === undefined || v === null) && def) return [def[0], def[1]];
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  return fail(
    ctx,
    `layer '${layer.name}' (${layer.className}): ${what} must be an integer or two integers, got ${JSON.stringify(v)}`,
  );
}

function paddingMode(v: unknown, ctx: Ctx, layer: RawLayer): Padding {
  const p = typeof v === 'string' ? v.toLowerCase() : v;
  if (p === 'valid' || p === 'same') return p;
  return fail(
    ctx,
    `layer '${layer.name}' (${layer.className}): padding ${JSON.stringify(v)} is not supported (only 'valid' and 'same')`,
  );
}

function bool(v: unknown, def: boolean): boolean {
  return typeof v === 'boolean' ? v : def;
}

function activation(v: unknown, ctx: Ctx, layer: RawLayer): ActivationName {
  let name: unknown = v;
  if (v === undefined || v === null) name = 'linear';
  else if (isObj(v)) {
    // Keras 3 may serialise a built-in activation as an object.
    name = typeof v.config === 'string' ? v.config : (v.registered_name ?? v.class_name);
  }
  if (typeof name === 'string') {
    const n = name.toLowerCase();
    if ((SUPPORTED_ACTIVATIONS as readonly string[]).includes(n)) return n as ActivationName;
  }
  return fail(
    ctx,
    `layer '${layer.name}' (${layer.className}): activation ${JSON.stringify(v)} is not supported ` +
      `(supported: ${SUPPORTED_ACTIVATIONS.join(', ')})`,
  );
}

/** Reject channels-first layers (Keras 2 `data_format`, Keras 1 `dim_ordering`). */
function requireChannelsLast(cfg: Json, ctx: Ctx, layer: RawLayer): void {
  const df = cfg.data_format;
  if (df !== undefined && df !== null && df !== 'channels_last') {
    fail(
      ctx,
      `layer '${layer.name}' (${layer.className}): data_format '${String(df)}' is not supported (channels_last only)`,
    );
  }
  const dimOrdering = cfg.dim_ordering;
  if (dimOrdering === undefined || dimOrdering === null || dimOrdering === 'tf') return;
  if (dimOrdering === 'default' && ctx.backend !== 'theano') return;
  fail(
    ctx,
    `layer '${layer.name}' (${layer.className}): dim_ordering '${String(dimOrdering)}' ` +
      `(channels first) is not supported; only 'tf' dim ordering can be loaded`,
  );
}

function shapeOf(v: unknown, what: string, ctx: Ctx, layer: RawLayer): Shape {
  if (!Array.isArray(v) || !v.every((x) => x === null || typeof x === 'number')) {
    fail(ctx, `layer '${layer.name}' (${layer.className}): ${what} must be a list of integers or nulls`);
  }
  return v as Shape;
}

/** The batch input shape a layer config declares (any Keras version), or undefined. */
function declaredBatchShape(cfg: Json, ctx: Ctx, layer: RawLayer): Shape | undefined {
  let s: Shape | undefined;
  if (cfg.batch_input_shape != null) s = shapeOf(cfg.batch_input_shape, 'batch_input_shape', ctx, layer);
  else if (cfg.batch_shape != null) s = shapeOf(cfg.batch_shape, 'batch_shape', ctx, layer);
  else if (cfg.input_shape != null) s = [null, ...shapeOf(cfg.input_shape, 'input_shape', ctx, layer)];
  else if (typeof cfg.input_dim === 'number') s = [null, cfg.input_dim];
  if (s === undefined) return undefined;
  const out = [...s];
  out[0] = null;
  return out;
}

// ---------------------------------------------------------------------------
// Per-class normalisation

type Normalised = { [K in LayerClassName]: { className: K; config: LayerConfigMap[K] } }[LayerClassName];

function normaliseLayer(raw: RawLayer, ctx: Ctx): Normalised {
  const cfg = raw.config;
  if (MODEL_CLASSES.has(raw.className)) {
    fail(
      ctx,
      `layer '${raw.name}' is a nested model (class '${raw.className}'); nested models are not supported. ` +
        `Supported layer classes: ${supportedList()}`,
    );
  }
  if (raw.className === 'Merge') {
    const mode = cfg.mode ?? 'sum';
    if (mode === 'concat') {
      return { className: 'Concatenate', config: { axis: typeof cfg.concat_axis === 'number' ? cfg.concat_axis : -1 } };
    }
    if (mode === 'sum') return { className: 'Add', config: {} };
    fail(ctx, `layer '${raw.name}' (Merge): mode '${String(mode)}' is not supported (only 'concat' and 'sum')`);
  }
  const cls = CLASS_ALIASES[raw.className];
  if (!cls) {
    fail(
      ctx,
      `layer '${raw.name}' has class '${raw.className}', which is not supported. Supported layer classes: ${supportedList()}`,
    );
  }
  switch (cls) {
    case 'InputLayer': {
      const shape = declaredBatchShape(cfg, ctx, raw) ?? (Array.isArray(cfg.shape) ? [null, ...(cfg.shape as Shape)] : undefined);
      if (!shape) fail(ctx, `layer '${raw.name}' (InputLayer) declares no input shape`);
      return { className: cls, config: { batch_input_shape: shape } };
    }
    case 'Conv2D': {
      requireChannelsLast(cfg, ctx, raw);
      if (cfg.groups !== undefined && cfg.groups !== null && cfg.groups !== 1) {
        fail(ctx, `layer '${raw.name}' (Conv2D): groups=${String(cfg.groups)} is not supported (only 1)`);
      }
      const keras1 = cfg.nb_filter !== undefined;
      const filters = num(keras1 ? cfg.nb_filter : cfg.filters, 'filters', ctx, raw);
      const kernel_size = keras1
        ? ([num(cfg.nb_row, 'nb_row', ctx, raw), num(cfg.nb_col, 'nb_col', ctx, raw)] as Pair)
        : pair(cfg.kernel_size, 'kernel_size', ctx, raw);
      return {
        className: cls,
        config: {
          filters,
          kernel_size,
          strides: pair(keras1 ? cfg.subsample : cfg.strides, 'strides', ctx, raw, [1, 1]),
          padding: paddingMode((keras1 ? cfg.border_mode : cfg.padding) ?? 'valid', ctx, raw),
          dilation_rate: pair(keras1 ? cfg.atrous_rate : cfg.dilation_rate, 'dilation_rate', ctx, raw, [1, 1]),
          activation: activation(cfg.activation, ctx, raw),
          use_bias: bool(keras1 ? cfg.bias : cfg.use_bias, true),
        },
      };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      requireChannelsLast(cfg, ctx, raw);
      const pool_size = pair(cfg.pool_size, 'pool_size', ctx, raw, [2, 2]);
      return {
        className: cls,
        config: {
          pool_size,
          strides: pair(cfg.strides, 'strides', ctx, raw, pool_size),
          padding: paddingMode(cfg.padding ?? cfg.border_mode ?? 'valid', ctx, raw),
        },
      };
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      requireChannelsLast(cfg, ctx, raw);
      return { className: cls, config: { keepdims: bool(cfg.keepdims, false) } };
    case 'Dense': {
      const units = num(cfg.units ?? cfg.output_dim, 'units', ctx, raw);
      return {
        className: cls,
        config: {
          units,
          activation: activation(cfg.activation, ctx, raw),
          use_bias: bool(cfg.use_bias ?? cfg.bias, true),
        },
      };
    }
    case 'Flatten':
      requireChannelsLast(cfg, ctx, raw);
      return { className: cls, config: {} };
    case 'Add':
      return { className: cls, config: {} };
    case 'Dropout':
    case 'SpatialDropout2D':
      if (cls === 'SpatialDropout2D') requireChannelsLast(cfg, ctx, raw);
      return { className: cls, config: { rate: num(cfg.rate ?? cfg.p ?? 0, 'rate', ctx, raw) } };
    case 'Activation':
      return { className: cls, config: { activation: activation(cfg.activation, ctx, raw) } };
    case 'ReLU':
      return {
        className: cls,
        config: {
          max_value: cfg.max_value == null ? null : num(cfg.max_value, 'max_value', ctx, raw),
          negative_slope: cfg.negative_slope == null ? 0 : num(cfg.negative_slope, 'negative_slope', ctx, raw),
          threshold: cfg.threshold == null ? 0 : num(cfg.threshold, 'threshold', ctx, raw),
        },
      };
    case 'LeakyReLU':
      return { className: cls, config: { alpha: num(cfg.alpha ?? cfg.negative_slope ?? 0.3, 'alpha', ctx, raw) } };
    case 'PReLU': {
      const sa = cfg.shared_axes;
      let shared: number[] | null = null;
      if (typeof sa === 'number') shared = [sa];
      else if (Array.isArray(sa)) shared = sa.map((x) => num(x, 'shared_axes', ctx, raw));
      else if (sa != null) fail(ctx, `layer '${raw.name}' (PReLU): bad shared_axes ${JSON.stringify(sa)}`);
      return { className: cls, config: { shared_axes: shared } };
    }
    case 'ZeroPadding2D': {
      requireChannelsLast(cfg, ctx, raw);
      const p = cfg.padding ?? 1;
      let padding: [Pair, Pair];
      if (typeof p === 'number') padding = [[p, p], [p, p]];
      else if (isObj(p)) {
        // Keras 1 dict form
        const g = (k: string) => num(p[k] ?? 0, k, ctx, raw);
        padding = [[g('top_pad'), g('bottom_pad')], [g('left_pad'), g('right_pad')]];
      } else if (Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'number')) {
        padding = [[p[0], p[0]], [p[1], p[1]]];
      } else if (Array.isArray(p) && p.length === 4 && p.every((x) => typeof x === 'number')) {
        // Keras 1: (top, bottom, left, right)
        padding = [[p[0], p[1]], [p[2], p[3]]];
      } else if (Array.isArray(p) && p.length === 2) {
        padding = [pair(p[0], 'padding', ctx, raw), pair(p[1], 'padding', ctx, raw)];
      } else {
        fail(ctx, `layer '${raw.name}' (ZeroPadding2D): bad padding ${JSON.stringify(p)}`);
      }
      return { className: cls, config: { padding } };
    }
    case 'Concatenate':
      return { className: cls, config: { axis: num(cfg.axis ?? -1, 'axis', ctx, raw) } };
    case 'BatchNormalization': {
      if (cfg.mode !== undefined && cfg.mode !== 0) {
        fail(ctx, `layer '${raw.name}' (BatchNormalization): Keras 1 mode ${String(cfg.mode)} is not supported (only 0)`);
      }
      let axis: unknown = cfg.axis ?? -1;
      if (Array.isArray(axis)) {
        if (axis.length !== 1) fail(ctx, `layer '${raw.name}' (BatchNormalization): several axes are not supported`);
        axis = axis[0];
      }
      return {
        className: cls,
        config: {
          axis: num(axis, 'axis', ctx, raw),
          epsilon: num(cfg.epsilon ?? 1e-3, 'epsilon', ctx, raw),
          momentum: num(cfg.momentum ?? 0.99, 'momentum', ctx, raw),
          center: bool(cfg.center, true),
          scale: bool(cfg.scale, true),
        },
      };
    }
    case 'Reshape': {
      const t = cfg.target_shape;
      if (!Array.isArray(t)) fail(ctx, `layer '${raw.name}' (Reshape): target_shape missing`);
      return { className: cls, config: { target_shape: t.map((x) => num(x, 'target_shape', ctx, raw)) } };
    }
  }
}

function makeLayer(raw: RawLayer, inbound: string[], ctx: Ctx): LayerSpec {
  const n = normaliseLayer(raw, ctx);
  return { name: raw.name, className: n.className, config: n.config, inbound, trainable: bool(raw.config.trainable, true) } as LayerSpec;
}

// ---------------------------------------------------------------------------
// Graph

/** A reference [layer, node, tensor] in any of the forms Keras wrote. */
function refName(ref: unknown, where: string, ctx: Ctx): string {
  let triple: unknown[] | undefined;
  if (Array.isArray(ref)) triple = ref;
  else if (isObj(ref) && isObj(ref.config) && Array.isArray(ref.config.keras_history)) triple = ref.config.keras_history;
  if (!triple || typeof triple[0] !== 'string') fail(ctx, `${where}: cannot read the layer reference ${JSON.stringify(ref)}`);
  const node = triple[1] ?? 0;
  const tensor = triple[2] ?? 0;
  if (node !== 0) {
    fail(ctx, `${where}: uses node ${String(node)} of layer '${triple[0]}' (shared layers are not supported)`);
  }
  if (tensor !== 0) {
    fail(ctx, `${where}: uses output ${String(tensor)} of layer '${triple[0]}' (multi-output layers are not supported)`);
  }
  return triple[0];
}

function isKerasTensor(v: unknown): boolean {
  return isObj(v) && v.class_name === '__keras_tensor__';
}

/** Inbound layer names of a functional layer, from its first inbound node. */
function inboundOf(raw: RawLayer, ctx: Ctx): string[] {
  const nodes = raw.inboundNodes;
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  const first = nodes[0];
  const where = `layer '${raw.name}' (${raw.className})`;
  if (Array.isArray(first)) {
    // Keras 1/2, tf.keras: [["name", node, tensor, {kwargs}], ...]
    return first.map((ref) => refName(ref, where, ctx));
  }
  if (isObj(first)) {
    // Keras 3: {args: [...], kwargs: {...}} with __keras_tensor__ objects anywhere in args
    const found: string[] = [];
    const walk = (v: unknown): void => {
      if (isKerasTensor(v)) found.push(refName(v, where, ctx));
      else if (Array.isArray(v)) v.forEach(walk);
      else if (isObj(v)) Object.values(v).forEach(walk);
    };
    walk(first.args);
    return found;
  }
  return fail(ctx, `${where}: cannot read inbound_nodes`);
}

/** `input_layers` / `output_layers`: a list of triples, or a single triple. */
function refList(v: unknown, what: string, ctx: Ctx): string[] {
  if (!Array.isArray(v)) fail(ctx, `model_config: ${what} missing`);
  if (v.length > 0 && typeof v[0] === 'string') return [refName(v, `model_config ${what}`, ctx)];
  return v.map((r) => refName(r, `model_config ${what}`, ctx));
}

/** Stable topological order (Keras writes layers in topological order; this only guards). */
function topoSort(layers: LayerSpec[], ctx: Ctx): LayerSpec[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  if (byName.size !== layers.length) {
    const seen = new Set<string>();
    for (const l of layers) {
      if (seen.has(l.name)) fail(ctx, `model_config: two layers are named '${l.name}'`);
      seen.add(l.name);
    }
  }
  for (const l of layers) {
    for (const i of l.inbound) {
      if (!byName.has(i)) fail(ctx, `layer '${l.name}' (${l.className}) takes input from an unknown layer '${i}'`);
    }
  }
  const out: LayerSpec[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (l: LayerSpec): void => {
    if (done.has(l.name)) return;
    if (visiting.has(l.name)) fail(ctx, `model_config: cycle through layer '${l.name}'`);
    visiting.add(l.name);
    for (const i of l.inbound) visit(byName.get(i)!);
    visiting.delete(l.name);
    done.add(l.name);
    out.push(l);
  };
  layers.forEach(visit);
  return out;
}

function parseSequential(config: unknown, ctx: Ctx): { name: string; layers: LayerSpec[] } {
  let list: unknown;
  let name = 'sequential';
  let buildShape: unknown;
  if (Array.isArray(config)) list = config;
  else if (isObj(config)) {
    list = config.layers;
    if (typeof config.name === 'string') name = config.name;
    buildShape = config.build_input_shape;
  }
  if (!Array.isArray(list) || list.length === 0) fail(ctx, 'model_config: Sequential model without layers');
  const raws = list.map((e, i) => rawLayer(e, i, ctx));
  const layers: LayerSpec[] = [];
  let prev: string | undefined;
  raws.forEach((raw, i) => {
    const layer = makeLayer(raw, [], ctx);
    if (i === 0 && raw.className !== 'InputLayer') {
      // Keras 2 Sequential: an InputLayer named '<first>_input' built from the first layer's batch_input_shape.
      let shape = declaredBatchShape(raw.config, ctx, raw);
      if (!shape && Array.isArray(buildShape)) shape = [null, ...(buildShape.slice(1) as Shape)];
      if (!shape) {
        fail(ctx, `model_config: Sequential model whose first layer '${raw.name}' declares no batch_input_shape`);
      }
      const inputName = `${raw.name}_input`;
      layers.push({ name: inputName, className: 'InputLayer', config: { batch_input_shape: shape }, inbound: [], trainable: true });
      prev = inputName;
    }
    if (raw.className === 'InputLayer' && i > 0) fail(ctx, `model_config: InputLayer '${raw.name}' in the middle of a Sequential model`);
    if (prev !== undefined) layer.inbound = [prev];
    layers.push(layer);
    prev = layer.name;
  });
  return { name, layers };
}

function parseFunctional(config: unknown, ctx: Ctx): { name: string; layers: LayerSpec[]; inputs: string[]; outputs: string[] } {
  if (!isObj(config) || !Array.isArray(config.layers)) fail(ctx, 'model_config: functional model without layers');
  const raws = config.layers.map((e, i) => rawLayer(e, i, ctx));
  const layers = topoSort(
    raws.map((raw) => makeLayer(raw, raw.className === 'InputLayer' ? [] : inboundOf(raw, ctx), ctx)),
    ctx,
  );
  const names = new Set(layers.map((l) => l.name));
  const inputs = refList(config.input_layers, 'input_layers', ctx);
  const outputs = refList(config.output_layers, 'output_layers', ctx);
  for (const n of [...inputs, ...outputs]) {
    if (!names.has(n)) fail(ctx, `model_config: input/output layer '${n}' is not among the layers`);
  }
  for (const n of inputs) {
    if (layers.find((l) => l.name === n)!.className !== 'InputLayer') fail(ctx, `model_config: input '${n}' is not an InputLayer`);
  }
  for (const l of layers) {
    if (l.className !== 'InputLayer' && l.inbound.length === 0) {
      fail(ctx, `layer '${l.name}' (${l.className}) has no inbound node`);
    }
  }
  const name = typeof config.name === 'string' ? config.name : 'model';
  return { name, layers, inputs, outputs };
}

/**
 * Parse a Keras model config (a `model_config` attribute's JSON text or its
 * parsed object; `{class_name, config}`; wrappers `{model_config}` and
 * tfjs' `{modelTopology}` are unwrapped) into a {@link ModelSpec}.
 */
export function parseModelConfig(config: unknown, opts: ConfigParseOptions = {}): ModelSpec {
  const ctx: Ctx = { fileName: opts.fileName, backend: opts.backend, kerasVersion: opts.kerasVersion };
  let top: unknown = config;
  if (typeof top === 'string') {
    try {
      top = JSON.parse(top);
    } catch (err) {
      fail(ctx, `model_config is not valid JSON (${(err as Error).message})`);
    }
  }
  if (isObj(top) && top.class_name === undefined) {
    if (isObj(top.modelTopology)) top = top.modelTopology;
    if (isObj(top) && top.class_name === undefined && isObj(top.model_config)) top = top.model_config;
  }
  if (!isObj(top) || typeof top.class_name !== 'string') fail(ctx, 'model_config has no class_name');
  const kerasVersion = opts.kerasVersion ?? (typeof top.keras_version === 'string' ? top.keras_version : undefined);
  const backend = opts.backend ?? (typeof top.backend === 'string' ? top.backend : undefined);
  ctx.backend = backend;
  ctx.kerasVersion = kerasVersion;
  let spec: ModelSpec;
  if (top.class_name === 'Sequential') {
    const { name, layers } = parseSequential(top.config, ctx);
    spec = {
      name,
      kind: 'sequential',
      layers,
      inputs: [layers[0].name],
      outputs: [layers[layers.length - 1].name],
      inputShape: [],
    };
  } else if (top.class_name === 'Model' || top.class_name === 'Functional') {
    const { name, layers, inputs, outputs } = parseFunctional(top.config, ctx);
    spec = { name, kind: 'functional', layers, inputs, outputs, inputShape: [] };
  } else {
    return fail(ctx, `model_config: model class '${top.class_name}' is not supported (Sequential, Model or Functional)`);
  }
  const first = spec.layers.find((l) => l.name === spec.inputs[0]);
  if (first?.className === 'InputLayer') spec.inputShape = [...first.config.batch_input_shape];
  if (kerasVersion !== undefined) spec.kerasVersion = kerasVersion;
  if (backend !== undefined) spec.backend = backend;
  return spec;
}

/**
 * Parse a standalone Keras JSON architecture file: the output of
 * `model.to_json()` (`{class_name, config, keras_version, backend}`), or a
 * tfjs `model.json` (`{modelTopology: ...}`).
 */
export function parseKerasJson(json: string, opts: ConfigParseOptions = {}): ModelSpec {
  let obj: unknown;
  try {
    obj = JSON.parse(json);
  } catch (err) {
    throw new KerasFileError(`not a Keras JSON config (${(err as Error).message})`, opts.fileName);
  }
  return parseModelConfig(obj, opts);
}
