/**
 * Parse a Keras model config (the JSON in a `.h5` file's `model_config`
 * attribute, a `.keras` archive's `config.json`, `model.to_json()`, or a TF.js
 * `model.json`'s `modelTopology`) of any Keras version into a {@link ModelSpec}.
 *
 * The graph: Keras 1 Sequential lists and `Merge`; Keras 2 `Model` /
 * `Functional` with `inbound_nodes` `[[["layer", node, tensor, {kwargs}]]]`
 * (also the flat single-reference form tf.keras's SavedModel metadata writes);
 * Keras 3's `{args, kwargs}` nodes with `__keras_tensor__` objects. Models
 * nested in models (transfer learning, Teachable Machine, preprocessing
 * blocks) are flattened into their caller: inner layers are named by path
 * (`sequential_1/mobilenetv2_1.00_224/Conv1`). A shared layer called several
 * times gets one graph entry per call. `__tuple__` objects are unwrapped.
 *
 * Each layer's config is normalised by its class's definition in
 * `src/models/layers/` (Keras 1 keys and every optional key with its
 * default). Every bad or unsupported construct throws a
 * {@link KerasFileError} naming the file, the layer and its class.
 */
import { findLayerDefinition, supportedLayerClasses } from '../layers/index.ts';
import { ConfigReader, isObject, unwrapTuples } from '../layers/config_reader.ts';
import { KerasFileError } from './errors.ts';
import type { LayerSpec, ModelSpec } from './spec.ts';

/** Context for messages and for version-dependent defaults. */
export interface ConfigParseOptions {
  /** File name used in error messages. */
  fileName?: string;
  /** Keras version that wrote the config (the file's `keras_version`), if known. */
  kerasVersion?: string;
  /** Backend that wrote the config (the file's `backend`), if known. */
  backend?: string;
  /**
   * Keep only this layer (by name, path or unique leaf name) and what it depends on,
   * and make it the output: layers after it may be of classes that cannot run.
   */
  until?: string;
}

type Json = Record<string, unknown>;

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

interface Ctx {
  fileName?: string;
  backend?: string;
  kerasVersion?: string;
  /** Set with `until`: a layer that cannot be read becomes a placeholder, an error only if it is kept. */
  tolerant?: boolean;
}

/** Stands for a layer that could not be read, while `until` may still cut it away. */
const UNREADABLE = '__unreadable__';

function fail(ctx: Ctx, msg: string): never {
  throw new KerasFileError(msg, ctx.fileName);
}

interface RawLayer {
  className: string;
  name: string;
  config: Json;
  inboundNodes: unknown;
}

function rawLayer(entry: unknown, index: number, ctx: Ctx): RawLayer {
  if (!isObject(entry) || typeof entry.class_name !== 'string') fail(ctx, `model_config: layer #${index} has no class_name`);
  const config = isObject(entry.config) ? entry.config : {};
  const name = typeof entry.name === 'string' ? entry.name : typeof config.name === 'string' ? config.name : undefined;
  if (name === undefined) fail(ctx, `model_config: layer #${index} (${entry.class_name}) has no name`);
  return { className: entry.class_name, name, config, inboundNodes: entry.inbound_nodes };
}

/** Printable names found in marshalled Python bytecode: a hint of what a Lambda did. */
function bytecodeNames(b64: string): string[] {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  } catch {
    return [];
  }
  const names = new Set<string>();
  let run = '';
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    if (/[A-Za-z0-9_.]/.test(ch)) run += ch;
    else {
      if (run.length >= 3 && /^[A-Za-z_]/.test(run) && !/^(self|None|lambda)$/.test(run)) names.add(run);
      run = '';
    }
  }
  return [...names].slice(0, 12);
}

/** The refusal for a `Lambda` layer: Keras stores Python bytecode, which cannot run here. */
function lambdaError(raw: RawLayer, ctx: Ctx): never {
  const f = raw.config.function;
  let what = '';
  if (typeof raw.config.function_type === 'string' && raw.config.function_type === 'function' && typeof f === 'string') what = ` (the Python function '${f}')`;
  else {
    const code = Array.isArray(f) ? f[0] : isObject(f) && isObject(f.config) ? f.config.code : typeof f === 'string' ? f : undefined;
    const names = typeof code === 'string' ? bytecodeNames(code) : [];
    if (names.length) what = ` (its bytecode uses: ${names.join(', ')})`;
  }
  return fail(
    ctx,
    `layer '${raw.name}' is a Lambda layer${what}: Keras saved it as Python bytecode, which cannot run outside Python. ` +
      `Rebuild the model with a built-in layer in its place, or cut the model before it with --until LAYER`,
  );
}

/** Normalises one layer through its class definition (with `until`, a failure is kept as a placeholder). */
function makeLayer(raw: RawLayer, inbound: string[], name: string, ctx: Ctx, extra: Json = {}): LayerSpec {
  if (!ctx.tolerant) return readLayer(raw, inbound, name, ctx, extra);
  try {
    return readLayer(raw, inbound, name, ctx, extra);
  } catch (err) {
    if (!(err instanceof KerasFileError)) throw err;
    return { name, className: UNREADABLE, config: { error: err }, inbound, trainable: true };
  }
}

function readLayer(raw: RawLayer, inbound: string[], name: string, ctx: Ctx, extra: Json): LayerSpec {
  let cls = raw.className;
  let cfg = raw.config;
  if (cls === 'Merge') {
    const mode = cfg.mode ?? 'sum';
    const byMode: Record<string, string> = { concat: 'Concatenate', sum: 'Add', mul: 'Multiply', ave: 'Average', max: 'Maximum' };
    if (typeof mode !== 'string' || !byMode[mode]) fail(ctx, `layer '${raw.name}' (Merge): mode '${String(mode)}' is not supported (concat, sum, mul, ave, max)`);
    cls = byMode[mode];
    if (cls === 'Concatenate') cfg = { ...cfg, axis: typeof cfg.concat_axis === 'number' ? cfg.concat_axis : -1 };
  }
  if (cls === 'Lambda') lambdaError(raw, ctx);
  const def = findLayerDefinition(cls);
  if (!def) {
    const registered = typeof (cfg as Json).registered_name === 'string' || (raw.className.includes('>') ?? false);
    fail(
      ctx,
      `layer '${raw.name}' has class '${raw.className}', which is not supported${registered ? ' (a custom class registered in the Python code that saved the model)' : ''}. ` +
        `Supported layer classes: ${supportedLayerClasses().join(', ')}`,
    );
  }
  const reader = new ConfigReader({ ...cfg, ...extra }, raw.name, raw.className, ctx);
  const config = def.config(reader);
  const spec: LayerSpec = { name, className: def.className, config, inbound, trainable: reader.bool('trainable', true) };
  if (cfg.data_format === 'channels_first') spec.channelsFirst = true;
  return spec;
}

// ---------------------------------------------------------------------------
// References and nodes

/** A reference to a layer's output: [layer, node, tensor]. */
interface Ref {
  layer: string;
  node: number;
  tensor: number;
}

function isRefTriple(v: unknown): v is [string, number, number, ...unknown[]] {
  return Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number';
}

function isKerasTensor(v: unknown): v is Json {
  return isObject(v) && v.class_name === '__keras_tensor__';
}

function toRef(v: unknown, where: string, ctx: Ctx): Ref {
  let triple: unknown[] | undefined;
  if (Array.isArray(v)) triple = v;
  else if (isKerasTensor(v) && isObject(v.config) && Array.isArray(v.config.keras_history)) triple = v.config.keras_history;
  if (!triple || typeof triple[0] !== 'string') fail(ctx, `${where}: cannot read the layer reference ${JSON.stringify(v)}`);
  return { layer: triple[0], node: Number(triple[1] ?? 0), tensor: Number(triple[2] ?? 0) };
}

/** One call of a layer: the tensors it takes and its other keyword arguments (tensors in them as `{input: k}`). */
interface ParsedNode {
  refs: Ref[];
  kwargs: Json;
}

/** Replaces tensor references inside call arguments by `{input: k}`, appending them to `refs`. */
function extractTensors(v: unknown, refs: Ref[], where: string, ctx: Ctx): unknown {
  if (isKerasTensor(v) || isRefTriple(v)) {
    refs.push(toRef(v, where, ctx));
    return { input: refs.length - 1 };
  }
  if (Array.isArray(v)) return v.map((x) => extractTensors(x, refs, where, ctx));
  if (isObject(v)) {
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = extractTensors(x, refs, where, ctx);
    return out;
  }
  return v;
}

function parseNode(node: unknown, where: string, ctx: Ctx, kwargTensors: boolean): ParsedNode {
  if (Array.isArray(node)) {
    // tf.keras SavedModel metadata: one flat reference ["layer", node, tensor, {kwargs}]
    const list = isRefTriple(node) ? [node] : node;
    const refs: Ref[] = [];
    let kwargs: Json = {};
    for (const r of list) {
      refs.push(toRef(r, where, ctx));
      if (Array.isArray(r) && isObject(r[3]) && Object.keys(r[3]).length > 0) kwargs = { ...kwargs, ...r[3] };
    }
    if (kwargTensors) kwargs = extractTensors(kwargs, refs, where, ctx) as Json;
    return { refs, kwargs };
  }
  if (isObject(node)) {
    // Keras 3: {args: [...], kwargs: {...}} with __keras_tensor__ objects anywhere in args
    const refs: Ref[] = [];
    const walk = (v: unknown): void => {
      if (isKerasTensor(v)) refs.push(toRef(v, where, ctx));
      else if (Array.isArray(v)) v.forEach(walk);
      else if (isObject(v)) Object.values(v).forEach(walk);
    };
    walk(node.args);
    const raw = isObject(node.kwargs) ? node.kwargs : {};
    return { refs, kwargs: kwargTensors ? (extractTensors(raw, refs, where, ctx) as Json) : raw };
  }
  return fail(ctx, `${where}: cannot read inbound_nodes`);
}

function nodesOf(raw: RawLayer, ctx: Ctx): ParsedNode[] {
  const nodes = raw.inboundNodes;
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  const where = `layer '${raw.name}' (${raw.className})`;
  // the operands of tensor maths are in the call's keyword arguments
  const kw = raw.className === 'TFOpLambda' || raw.className === 'SlicingOpLambda';
  // a single flat reference instead of a list of nodes
  if (isRefTriple(nodes)) return [parseNode(nodes, where, ctx, kw)];
  return nodes.map((n) => parseNode(n, where, ctx, kw));
}

/** `input_layers` / `output_layers`: a list of triples, or a single triple. */
function refList(v: unknown, what: string, ctx: Ctx): Ref[] {
  if (!Array.isArray(v)) fail(ctx, `model_config: ${what} missing`);
  if (v.length > 0 && typeof v[0] === 'string') return [toRef(v, `model_config ${what}`, ctx)];
  return v.map((r) => toRef(r, `model_config ${what}`, ctx));
}

// ---------------------------------------------------------------------------
// Graphs

interface Graph {
  layers: LayerSpec[];
  inputs: string[];
  outputs: string[];
}

/** Where a (possibly nested) model sits: its path prefix, scope, and the outer tensors its inputs take. */
interface Placement {
  prefix: string;
  scope: string[];
  scopeClasses: string[];
  /** Outer graph names feeding this model's inputs (absent at the top level). */
  feeds?: string[];
}

function placeLayer(spec: LayerSpec, at: Placement): LayerSpec {
  if (at.scope.length) {
    spec.scope = [...at.scope];
    spec.scopeClasses = [...at.scopeClasses];
  }
  return spec;
}

function nestedPlacement(at: Placement, raw: RawLayer, feeds: string[]): Placement {
  return { prefix: `${at.prefix}${raw.name}/`, scope: [...at.scope, raw.name], scopeClasses: [...at.scopeClasses, raw.className], feeds };
}

/** The declared batch shape of a Sequential's first layer (any Keras version). */
function declaredShape(cfg: Json): unknown[] | undefined {
  if (Array.isArray(cfg.batch_input_shape)) return cfg.batch_input_shape;
  if (Array.isArray(cfg.batch_shape)) return cfg.batch_shape;
  if (Array.isArray(cfg.input_shape)) return [null, ...cfg.input_shape];
  if (typeof cfg.input_dim === 'number') return [null, cfg.input_dim];
  return undefined;
}

function parseSequential(config: unknown, at: Placement, ctx: Ctx): Graph & { name: string } {
  let list: unknown;
  let name = 'sequential';
  let buildShape: unknown;
  if (Array.isArray(config)) list = config;
  else if (isObject(config)) {
    list = config.layers;
    if (typeof config.name === 'string') name = config.name;
    buildShape = config.build_input_shape ?? (isObject(config.build_config) ? config.build_config.input_shape : undefined);
  }
  if (!Array.isArray(list) || list.length === 0) fail(ctx, `model_config: Sequential model '${name}' without layers`);
  const raws = list.map((e, i) => rawLayer(e, i, ctx));
  const layers: LayerSpec[] = [];
  let prev: string | undefined = at.feeds?.[0];
  const inputs: string[] = [];
  raws.forEach((raw, i) => {
    if (i === 0 && raw.className !== 'InputLayer' && prev === undefined) {
      // Keras 2 Sequential: an InputLayer named '<first>_input' built from the first layer's batch_input_shape.
      let shape = declaredShape(raw.config);
      if (!shape && Array.isArray(buildShape)) shape = [null, ...buildShape.slice(1)];
      if (!shape) fail(ctx, `model_config: Sequential model whose first layer '${raw.name}' declares no input shape`);
      const inputRaw: RawLayer = { className: 'InputLayer', name: `${raw.name}_input`, config: { batch_input_shape: shape }, inboundNodes: [] };
      const input = placeLayer(makeLayer(inputRaw, [], at.prefix + inputRaw.name, ctx), at);
      layers.push(input);
      inputs.push(input.name);
      prev = input.name;
    }
    if (raw.className === 'InputLayer' && i > 0) fail(ctx, `model_config: InputLayer '${raw.name}' in the middle of a Sequential model`);
    if (MODEL_CLASSES.has(raw.className)) {
      if (prev === undefined) fail(ctx, `model_config: nested model '${raw.name}' starts Sequential '${name}' without an input`);
      const inner = parseModel(raw.className, raw.config, nestedPlacement(at, raw, [prev]), ctx);
      layers.push(...inner.layers);
      if (inner.outputs.length !== 1) fail(ctx, `nested model '${raw.name}' has ${inner.outputs.length} outputs; inside a Sequential model it needs one`);
      prev = inner.outputs[0];
      return;
    }
    const inbound = raw.className === 'InputLayer' ? (prev !== undefined ? [prev] : []) : [prev!];
    const layer = placeLayer(makeLayer(raw, inbound, at.prefix + raw.name, ctx), at);
    if (raw.className === 'InputLayer' && inbound.length === 0) inputs.push(layer.name);
    layers.push(layer);
    prev = layer.name;
  });
  return { name, layers, inputs, outputs: [prev!] };
}

function parseFunctional(config: unknown, at: Placement, ctx: Ctx): Graph & { name: string } {
  if (!isObject(config) || !Array.isArray(config.layers)) fail(ctx, 'model_config: functional model without layers');
  const name = typeof config.name === 'string' ? config.name : 'model';
  const raws = config.layers.map((e, i) => rawLayer(e, i, ctx));
  const byName = new Map<string, RawLayer>();
  for (const r of raws) {
    if (byName.has(r.name)) fail(ctx, `model_config: two layers are named '${r.name}'`);
    byName.set(r.name, r);
  }
  const inputRefs = refList(config.input_layers, 'input_layers', ctx);
  const outputRefs = refList(config.output_layers, 'output_layers', ctx);
  if (at.feeds && at.feeds.length !== inputRefs.length) {
    fail(ctx, `nested model '${at.scope[at.scope.length - 1]}' has ${inputRefs.length} inputs but is called with ${at.feeds.length}`);
  }
  const layers: LayerSpec[] = [];
  /** Graph names of each call of each layer; for nested models, their outputs. */
  const calls = new Map<string, string[]>();
  const nestedOutputs = new Map<string, string[]>();
  const resolving = new Set<string>();

  const resolve = (ref: Ref, where: string): string => {
    const raw = byName.get(ref.layer);
    if (!raw) fail(ctx, `${where} takes input from an unknown layer '${ref.layer}'`);
    ensure(raw);
    const nested = nestedOutputs.get(raw.name);
    if (nested) {
      if (ref.tensor >= nested.length) fail(ctx, `${where} uses output ${ref.tensor} of nested model '${raw.name}', which has ${nested.length}`);
      return nested[ref.tensor];
    }
    if (ref.tensor !== 0) fail(ctx, `${where} uses output ${ref.tensor} of layer '${raw.name}' (layers with several outputs are not supported)`);
    const c = calls.get(raw.name)!;
    if (ref.node < c.length) return c[ref.node];
    if (resolving.has(raw.name)) fail(ctx, `model_config: cycle through layer '${raw.name}'`);
    if (c.length === 1) return c[0]; // a node index counted over calls outside this model
    return fail(ctx, `${where} uses call ${ref.node} of layer '${raw.name}', which is called ${c.length} time(s)`);
  };

  const ensure = (raw: RawLayer): void => {
    if (calls.has(raw.name) || nestedOutputs.has(raw.name)) return; // done, or calls being built (a shared layer feeding itself)
    if (resolving.has(raw.name)) fail(ctx, `model_config: cycle through layer '${raw.name}'`);
    resolving.add(raw.name);
    const where = `layer '${raw.name}' (${raw.className})`;
    const nodes = raw.className === 'InputLayer' ? [] : nodesOf(raw, ctx);
    if (MODEL_CLASSES.has(raw.className)) {
      if (nodes.length === 0) fail(ctx, `nested model '${raw.name}' is never called`);
      if (nodes.length > 1) fail(ctx, `nested model '${raw.name}' is called ${nodes.length} times; a nested model can be called once`);
      const feeds = nodes[0].refs.map((r) => resolve(r, where));
      const inner = parseModel(raw.className, raw.config, nestedPlacement(at, raw, feeds), ctx);
      layers.push(...inner.layers);
      nestedOutputs.set(raw.name, inner.outputs);
    } else if (raw.className === 'InputLayer') {
      const k = inputRefs.findIndex((r) => r.layer === raw.name);
      const inbound = at.feeds && k >= 0 ? [at.feeds[k]] : [];
      const spec = placeLayer(makeLayer(raw, inbound, at.prefix + raw.name, ctx), at);
      layers.push(spec);
      calls.set(raw.name, [spec.name]);
    } else {
      if (nodes.length === 0) fail(ctx, `${where} has no inbound node`);
      const names: string[] = [];
      calls.set(raw.name, names); // filled call by call: a later call may take an earlier one's output
      nodes.forEach((node, i) => {
        const inbound = node.refs.map((r) => resolve(r, where));
        const callName = at.prefix + (i === 0 ? raw.name : `${raw.name}@${i}`);
        const extra = raw.className === 'TFOpLambda' || raw.className === 'SlicingOpLambda' ? { call_kwargs: node.kwargs } : {};
        const spec = placeLayer(makeLayer(raw, inbound, callName, ctx, extra), at);
        if (i > 0) spec.sharesWeightsOf = names[0];
        layers.push(spec);
        names.push(callName);
      });
    }
    resolving.delete(raw.name);
  };

  for (const r of inputRefs) {
    const raw = byName.get(r.layer);
    if (!raw) fail(ctx, `model_config: input layer '${r.layer}' is not among the layers`);
    if (raw.className !== 'InputLayer') fail(ctx, `model_config: input '${r.layer}' is not an InputLayer`);
  }
  raws.forEach(ensure);
  const inputs = at.feeds ? [] : inputRefs.map((r) => resolve(r, 'model_config input_layers'));
  const outputs = outputRefs.map((r) => {
    if (!byName.has(r.layer)) fail(ctx, `model_config: output layer '${r.layer}' is not among the layers`);
    return resolve(r, 'model_config output_layers');
  });
  return { name, layers, inputs, outputs };
}

function parseModel(className: string, config: unknown, at: Placement, ctx: Ctx): Graph & { name: string } {
  if (className === 'Sequential') return parseSequential(config, at, ctx);
  if (className === 'Model' || className === 'Functional') return parseFunctional(config, at, ctx);
  return fail(ctx, `model_config: model class '${className}' is not supported (Sequential, Model or Functional)`);
}

/** Stable topological order (Keras writes layers in topological order; nesting and shared layers may not). */
function topoSort(layers: LayerSpec[], ctx: Ctx): LayerSpec[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
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

/** A layer by name, nested path, or leaf name unique in the model. */
function findLayer(layers: LayerSpec[], name: string, ctx: Ctx): string {
  if (layers.some((l) => l.name === name)) return name;
  const m = layers.filter((l) => l.name.endsWith(`/${name}`));
  if (m.length === 1) return m[0].name;
  if (m.length > 1) fail(ctx, `--until: layer name '${name}' is ambiguous; use one of the paths ${m.map((l) => l.name).join(', ')}`);
  return fail(ctx, `--until: the model has no layer '${name}'; its layers are: ${layers.map((l) => l.name).join(', ')}`);
}

/** The layer `until` and its ancestors; a placeholder among them raises its error. */
function cutLayers(layers: LayerSpec[], until: string, ctx: Ctx): { layers: LayerSpec[]; end: string } {
  const end = findLayer(layers, until, ctx);
  const keep = new Set<string>();
  const byName = new Map(layers.map((l) => [l.name, l]));
  const visit = (n: string) => {
    if (keep.has(n)) return;
    keep.add(n);
    byName.get(n)!.inbound.forEach(visit);
  };
  visit(end);
  const kept = layers.filter((l) => keep.has(l.name));
  const bad = kept.find((l) => l.className === UNREADABLE);
  if (bad) throw bad.config.error;
  return { layers: kept, end };
}

/** A model cut after layer `until` (by name, path or unique leaf name): it and its ancestors, it the output. */
export function cutModelSpec(spec: ModelSpec, until: string, opts: ConfigParseOptions = {}): ModelSpec {
  const { layers, end } = cutLayers(spec.layers, until, { fileName: opts.fileName });
  return { ...spec, layers, outputs: [end], inputs: spec.inputs.filter((i) => layers.some((l) => l.name === i)) };
}

/** In a model with channels-first layers, axis 1 of BatchNormalization and Concatenate is the channels axis. */
function markChannelsFirstAxes(layers: LayerSpec[]): void {
  if (!layers.some((l) => l.channelsFirst)) return;
  for (const l of layers) {
    if ((l.className === 'BatchNormalization' || l.className === 'Concatenate') && l.config.axis === 1) {
      l.channelsFirst = true;
      l.config = { ...l.config, axis: -1 };
    }
  }
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
  top = unwrapTuples(top);
  let kerasVersion = opts.kerasVersion;
  let backend = opts.backend;
  if (isObject(top) && top.class_name === undefined) {
    if (isObject(top.modelTopology)) top = top.modelTopology;
    if (isObject(top) && typeof top.keras_version === 'string') kerasVersion ??= top.keras_version;
    if (isObject(top) && typeof top.backend === 'string') backend ??= top.backend;
    if (isObject(top) && top.class_name === undefined && isObject(top.model_config)) top = top.model_config;
  }
  if (!isObject(top) || typeof top.class_name !== 'string') fail(ctx, 'model_config has no class_name');
  kerasVersion ??= typeof top.keras_version === 'string' ? top.keras_version : undefined;
  backend ??= typeof top.backend === 'string' ? top.backend : undefined;
  ctx.backend = backend;
  ctx.kerasVersion = kerasVersion;
  if (!MODEL_CLASSES.has(top.class_name)) fail(ctx, `model_config: model class '${top.class_name}' is not supported (Sequential, Model or Functional)`);
  ctx.tolerant = opts.until !== undefined;
  const g = parseModel(top.class_name, top.config, { prefix: '', scope: [], scopeClasses: [] }, ctx);
  let layers = topoSort(g.layers, ctx);
  if (opts.until !== undefined) {
    const cut = cutLayers(layers, opts.until, ctx);
    layers = cut.layers;
    g.outputs = [cut.end];
    g.inputs = g.inputs.filter((i) => layers.some((l) => l.name === i));
  }
  markChannelsFirstAxes(layers);
  const spec: ModelSpec = {
    name: g.name,
    kind: top.class_name === 'Sequential' ? 'sequential' : 'functional',
    layers,
    inputs: g.inputs,
    outputs: g.outputs,
    inputShape: [],
  };
  const first = layers.find((l) => l.name === spec.inputs[0]);
  if (first?.className === 'InputLayer') spec.inputShape = [...first.config.batch_input_shape];
  if (kerasVersion !== undefined) spec.kerasVersion = kerasVersion;
  if (backend !== undefined) spec.backend = backend;
  return spec;
}

/**
 * Parse a standalone Keras JSON architecture file: the output of
 * `model.to_json()` (`{class_name, config, keras_version, backend}`), a
 * Keras 3 `config.json`, or a tfjs `model.json` (`{modelTopology: ...}`).
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
