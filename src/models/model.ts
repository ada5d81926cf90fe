import { engine } from '../engine/engine.ts';
import * as ops from '../engine/ops/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import { buildLayer, type LayerResult, type RunnableLayer } from './layers.ts';
import { layerDefinition } from './layers/index.ts';
import type { LayerSpec, ModelSpec, Shape, WeightArray } from './keras/spec.ts';
import { channelsLastShape, formatSummary, inferShapes, type LayerInfo } from './keras/summary_shapes.ts';

/** Suffix that names a layer's pre-activation output: 'predictions:pre' is the logits. */
export const PRE_ACTIVATION = ':pre';

/** Layers that act on each value alone (or pass values through), so they work in either memory layout. */
const LAYOUT_FREE = new Set([
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'InputLayer',
  'Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum',
]);

const layoutFree = (cls: string) => LAYOUT_FREE.has(cls) || (layerDefinition(cls).identityAtInference ?? false);

/**
 * A Keras model on the engine: the layer graph with its weights uploaded to the
 * current backend. Any layer's output (and the pre-activation value of layers with
 * a fused activation) can be asked for by name, by nested path
 * (`model_1/conv_pw_13_relu`) or by a leaf name that is unique in the model; only
 * the layers those outputs depend on are run.
 *
 * Every 4-D tensor is held channels-last. A layer saved channels-first gets its
 * input transposed where the layout changes, so the numbers are Keras's while
 * pictures always see (rows, cols, channels).
 */
export class Model {
  readonly spec: ModelSpec;
  /** Keras's view: shapes as Keras prints them (channels-first layers' shapes are (batch, channels, rows, cols)). */
  readonly info: LayerInfo[];
  private runnable = new Map<string, RunnableLayer>();
  private byName = new Map<string, LayerSpec>();
  private infoByName = new Map<string, LayerInfo>();
  /** Whether a layer's output is a channels-first tensor held channels-last. */
  private heldChannelsLast = new Map<string, boolean>();
  private disposed = false;

  constructor(spec: ModelSpec, weights: Map<string, WeightArray[]>) {
    if (spec.inputs.length !== 1) {
      throw new Error(`model '${spec.name}' has ${spec.inputs.length} inputs (${spec.inputs.join(', ')}); only models with one input can run`);
    }
    this.spec = spec;
    this.info = inferShapes(spec);
    for (const l of spec.layers) this.byName.set(l.name, l);
    for (const i of this.info) this.infoByName.set(i.layer.name, i);
    this.planLayouts();
    try {
      for (const layer of spec.layers) {
        const info = this.infoByName.get(layer.name)!;
        const own = layer.sharesWeightsOf ?? layer.name;
        const toHeld = (s: Shape) => (layer.channelsFirst ? channelsLastShape(s) : s);
        this.runnable.set(layer.name, buildLayer(layer, weights.get(own) ?? [], { inputs: info.inputShapes.map(toHeld), output: toHeld(info.outputShape) }));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  static fromLoaded(loaded: { spec: ModelSpec; weights: Map<string, WeightArray[]> }): Model {
    return new Model(loaded.spec, loaded.weights);
  }

  /** Decides, once, which outputs are held transposed (see the class comment). */
  private planLayouts(): void {
    const consumers = new Map<string, LayerSpec[]>();
    for (const l of this.spec.layers) for (const i of l.inbound) consumers.set(i, [...(consumers.get(i) ?? []), l]);
    for (const l of this.spec.layers) {
      const rank4 = this.infoByName.get(l.name)!.outputShape.length === 4;
      let held = false;
      if (rank4 && l.className === 'InputLayer' && l.inbound.length === 0) {
        const cs = consumers.get(l.name) ?? [];
        held = cs.length > 0 && cs.every((c) => c.channelsFirst);
      } else if (rank4 && l.channelsFirst) held = true;
      else if (rank4 && layoutFree(l.className) && l.inbound.length > 0) held = l.inbound.every((i) => this.heldChannelsLast.get(i));
      this.heldChannelsLast.set(l.name, held);
    }
  }

  get name(): string {
    return this.spec.name;
  }

  /** Input shape without the batch axis, as the model takes it (channels last); null where any size is accepted. */
  get inputShape(): (number | null)[] {
    return this.storedShape(this.spec.inputs[0]).slice(1);
  }

  get layerNames(): string[] {
    return this.spec.layers.map((l) => l.name);
  }

  /**
   * The graph name of a layer given by its name, its nested path, or a leaf name
   * unique in the model ('conv_pw_13_relu' for 'sequential_1/model_1/conv_pw_13_relu').
   */
  resolve(name: string): string {
    if (this.byName.has(name)) return name;
    const matches = this.layerNames.filter((n) => n.endsWith(`/${name}`));
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw new Error(`model '${this.name}': layer name '${name}' is ambiguous; use one of the paths ${matches.join(', ')}`);
    throw new Error(`model '${this.name}' has no layer '${name}'; its layers are: ${this.layerNames.join(', ')}`);
  }

  /** The layer of that name (or path, or unique leaf name); the error lists every valid name. */
  layer(name: string): LayerSpec {
    return this.byName.get(this.resolve(name))!;
  }

  /** Static info (Keras's output shape, parameter counts) of a layer. */
  layerInfo(name: string): LayerInfo {
    return this.infoByName.get(this.resolve(name))!;
  }

  /** A layer's output shape as the engine holds it: batch first, channels last. */
  storedShape(name: string): Shape {
    const n = this.resolve(name);
    const s = this.infoByName.get(n)!.outputShape;
    return this.heldChannelsLast.get(n) ? channelsLastShape(s) : [...s];
  }

  /** Whether `name:pre` exists (a layer with a fused non-linear activation). */
  hasPreActivation(name: string): boolean {
    const l = this.layer(name);
    return layerDefinition(l.className).hasPreActivation?.(l.config) ?? false;
  }

  private checkInput(x: Tensor): void {
    const want = [null, ...this.inputShape];
    const ok = x.rank === want.length && want.every((d, i) => i === 0 || d === null || d === x.shape[i]);
    if (!ok) {
      throw new Error(`model '${this.name}' expects input of shape [${want.map((d) => d ?? 'any').join(',')}] (batch first), got [${x.shape.join(',')}]`);
    }
  }

  /**
   * Runs the graph on `input` (NHWC, batch first) and returns the requested outputs
   * in order: layer names (or paths), or `name:pre` for a pre-activation. Intermediate
   * tensors are disposed; the returned ones are the caller's. `watch` hands chosen
   * layer outputs to a tape's watch function the moment they are computed.
   */
  run(input: Tensor, outputs: readonly string[], o: { watch?: Record<string, (t: Tensor) => Tensor> } = {}): Tensor[] {
    if (this.disposed) throw new Error(`model '${this.name}' was disposed`);
    this.checkInput(input);
    const wanted = outputs.map((o) => {
      const pre = o.endsWith(PRE_ACTIVATION);
      const name = this.resolve(pre ? o.slice(0, -PRE_ACTIVATION.length) : o);
      if (pre && !this.hasPreActivation(name)) {
        throw new Error(`layer '${name}' has no pre-activation output (only layers with a fused non-linear activation, such as Conv2D and Dense, have one)`);
      }
      return { name, pre };
    });
    const watch = new Map(Object.entries(o.watch ?? {}).map(([k, f]) => [this.resolve(k), f]));
    // Only the ancestors of the requested layers run.
    const needed = new Set<string>();
    const visit = (name: string) => {
      if (needed.has(name)) return;
      needed.add(name);
      for (const i of this.byName.get(name)!.inbound) visit(i);
    };
    wanted.forEach((w) => visit(w.name));
    return engine.tidy(() => {
      const results = new Map<string, LayerResult>();
      for (const layer of this.spec.layers) {
        if (!needed.has(layer.name)) continue;
        const top = layer.className === 'InputLayer' && layer.inbound.length === 0;
        const inputs = top ? [input] : layer.inbound.map((n) => this.adapt(results.get(n)!.out, n, layer));
        const r = this.runnable.get(layer.name)!.apply(inputs, { pre: wanted.some((w) => w.pre && w.name === layer.name) });
        // a watched layer output becomes an autodiff source as soon as it exists (before its consumers run)
        const w = watch.get(layer.name);
        if (w) w(r.out);
        results.set(layer.name, r);
      }
      return wanted.map((w) => {
        const r = results.get(w.name)!;
        return w.pre ? r.pre! : r.out;
      });
    });
  }

  /** Transposes a 4-D input where its layout differs from the one the consuming layer expects. */
  private adapt(x: Tensor, from: string, to: LayerSpec): Tensor {
    if (x.rank !== 4) return x;
    const held = this.heldChannelsLast.get(from) ?? false;
    const wants = to.channelsFirst ? true : layoutFree(to.className) ? (this.heldChannelsLast.get(to.name) ?? false) : false;
    if (held === wants) return x;
    return wants ? ops.transpose(x, [0, 2, 3, 1]) : ops.transpose(x, [0, 3, 1, 2]);
  }

  /**
   * Where a computation first goes non-finite: runs the graph layer by layer on `input`
   * and returns the first layer whose output holds NaN or an infinity (with what it
   * holds), or undefined. Slow (reads every layer back): call it only once a result is
   * known to be broken, so the user hears where, not just that.
   */
  async firstNonFiniteLayer(input: Tensor): Promise<{ layer: string; className: string; value: string } | undefined> {
    for (const layer of this.spec.layers) {
      const [t] = this.run(input, [layer.name]);
      try {
        const v = await t.data();
        const bad = v.find((x) => !Number.isFinite(x));
        if (bad !== undefined) return { layer: layer.name, className: layer.className, value: Number.isNaN(bad) ? 'NaN' : bad > 0 ? '+Infinity' : '-Infinity' };
      } finally {
        if (t !== input) t.dispose(); // an input layer hands back the caller's own tensor
      }
    }
    return undefined;
  }

  /** Throws, naming the first layer that went non-finite, when `values` (a result on `input`) holds NaN or an infinity. */
  async assertFinite(values: Float32Array, input: Tensor, what: string): Promise<void> {
    if (values.every(Number.isFinite)) return;
    const at = await this.firstNonFiniteLayer(input);
    const where = at ? `; it first appears at layer '${at.layer}' (${at.className}), which outputs ${at.value}` : '';
    throw new Error(`model '${this.name}': the ${what} holds non-finite values${where} (overflowing weights or input?)`);
  }

  /** The model's (first) output, or the named one. */
  predict(input: Tensor, output?: string): Tensor {
    return this.run(input, [output ?? this.spec.outputs[0]])[0];
  }

  /**
   * Whether an output is already a probability (softmax or sigmoid last, through
   * reshapes and inference-time identities); false for a model that ends in logits
   * (Tiny Darknet ends in global average pooling of a 1x1 convolution).
   */
  outputIsProbability(output = this.spec.outputs[0]): boolean {
    let l: LayerSpec | undefined = this.layer(output);
    const prob = (a: unknown) => a === 'softmax' || a === 'sigmoid';
    while (l) {
      const d = layerDefinition(l.className);
      if (l.className === 'Softmax') return true;
      if (l.className === 'TFOpLambda') return ['nn.softmax', 'math.sigmoid', 'nn.sigmoid'].includes(l.config.function);
      if (typeof l.config?.activation === 'string') {
        if (prob(l.config.activation)) return true;
        if (l.className !== 'Activation' || l.config.activation !== 'linear') return false;
      } else if (!(d.identityAtInference || ['Flatten', 'Reshape', 'InputLayer'].includes(l.className))) return false;
      l = l.inbound.length === 1 ? this.byName.get(l.inbound[0]) : undefined;
    }
    return false;
  }

  /** Layers with a 4-D output of more than one pixel, in order (not the inputs). */
  private spatialLayers(): LayerSpec[] {
    return this.spec.layers.filter((l) => {
      const s = this.storedShape(l.name);
      return l.className !== 'InputLayer' && s.length === 4 && !(s[1] === 1 && s[2] === 1);
    });
  }

  /** Conv and pooling layers in order (nested ones included): the book's default choice for activation pictures. */
  convAndPoolLayers(): string[] {
    return this.spatialLayers()
      .filter((l) => {
        const k = layerDefinition(l.className).kind;
        return k === 'conv' || k === 'pool';
      })
      .map((l) => l.name);
  }

  /** Convolution layers in order (nested ones included). */
  convLayers(): string[] {
    return this.spatialLayers().filter((l) => layerDefinition(l.className).kind === 'conv').map((l) => l.name);
  }

  /**
   * Grad-CAM's default: the last layer with a spatial output anywhere in the graph
   * (inner models included), skipping pooling and inference-time identities, so
   * VGG16 gives block5_conv3 and a MobileNet its last activation.
   */
  lastSpatialLayer(): string {
    const candidates = this.spatialLayers().filter((l) => {
      const d = layerDefinition(l.className);
      return d.kind !== 'pool' && !d.identityAtInference;
    });
    if (candidates.length === 0) throw new Error(`model '${this.name}' has no layer with a spatial (rows x cols x channels) output`);
    return candidates[candidates.length - 1].name;
  }

  /** The last convolution layer (nested ones included). */
  lastConvLayer(): string {
    const convs = this.convLayers();
    if (convs.length === 0) throw new Error(`model '${this.name}' has no convolution layer`);
    return convs[convs.length - 1];
  }

  /** The table Keras's model.summary() prints (nested models as one row unless `expand`). */
  summary(o: { expand?: boolean } = {}): string {
    return formatSummary(this.spec, o);
  }

  dispose(): void {
    this.disposed = true;
    for (const r of this.runnable.values()) for (const w of r.weights) w.dispose();
    this.runnable.clear();
  }
}
