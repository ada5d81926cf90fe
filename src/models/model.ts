import { engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { buildLayer, type LayerResult, type RunnableLayer } from './layers.ts';
import type { LoadedKerasModel } from './keras/load.ts';
import type { LayerSpec, ModelSpec, WeightArray } from './keras/spec.ts';
import { formatSummary, inferShapes, type LayerInfo } from './keras/summary_shapes.ts';

/** Suffix that names a layer's pre-activation output: 'predictions:pre' is the logits. */
export const PRE_ACTIVATION = ':pre';

/**
 * A Keras model on the engine: the layer graph with its weights uploaded to the
 * current backend. Any layer's output (and the pre-activation value of Conv2D and
 * Dense layers with a fused activation) can be asked for; only the layers those
 * outputs depend on are run.
 */
export class Model {
  readonly spec: ModelSpec;
  readonly info: LayerInfo[];
  private runnable = new Map<string, RunnableLayer>();
  private disposed = false;

  constructor(spec: ModelSpec, weights: Map<string, WeightArray[]>) {
    if (spec.inputs.length !== 1) throw new Error(`model '${spec.name}': models with ${spec.inputs.length} inputs are not supported (one input only)`);
    this.spec = spec;
    this.info = inferShapes(spec);
    try {
      for (const layer of spec.layers) this.runnable.set(layer.name, buildLayer(layer, weights.get(layer.name) ?? []));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  static fromLoaded(loaded: LoadedKerasModel): Model {
    return new Model(loaded.spec, loaded.weights);
  }

  get name(): string {
    return this.spec.name;
  }

  /** Input shape without the batch axis; null where any size is accepted. */
  get inputShape(): (number | null)[] {
    return this.spec.inputShape.slice(1);
  }

  get layerNames(): string[] {
    return this.spec.layers.map((l) => l.name);
  }

  /** The layer of that name; the error lists every valid name. */
  layer(name: string): LayerSpec {
    const l = this.spec.layers.find((x) => x.name === name);
    if (!l) throw new Error(`model '${this.name}' has no layer '${name}'; its layers are: ${this.layerNames.join(', ')}`);
    return l;
  }

  /** Static info (output shape, parameter counts) of a layer. */
  layerInfo(name: string): LayerInfo {
    this.layer(name);
    return this.info.find((i) => i.layer.name === name)!;
  }

  /** Whether `name:pre` exists (a Conv2D or Dense with a non-linear activation). */
  hasPreActivation(name: string): boolean {
    const l = this.layer(name);
    return (l.className === 'Conv2D' || l.className === 'Dense') && l.config.activation !== 'linear';
  }

  private checkInput(x: Tensor): void {
    const want = this.spec.inputShape;
    const ok = x.rank === want.length && want.every((d, i) => i === 0 || d === null || d === x.shape[i]);
    if (!ok) {
      throw new Error(`model '${this.name}' expects input of shape [${want.map((d) => d ?? 'any').join(',')}] (batch first), got [${x.shape.join(',')}]`);
    }
  }

  /**
   * Runs the graph on `input` (NHWC, batch first) and returns the requested outputs
   * in order: layer names, or `name:pre` for a pre-activation. Intermediate tensors
   * are disposed; the returned ones are the caller's. `watch` hands chosen layer
   * outputs to a tape's watch function the moment they are computed.
   */
  run(input: Tensor, outputs: readonly string[], o: { watch?: Record<string, (t: Tensor) => Tensor> } = {}): Tensor[] {
    if (this.disposed) throw new Error(`model '${this.name}' was disposed`);
    this.checkInput(input);
    const wanted = outputs.map((o) => {
      const pre = o.endsWith(PRE_ACTIVATION);
      const name = pre ? o.slice(0, -PRE_ACTIVATION.length) : o;
      this.layer(name);
      if (pre && !this.hasPreActivation(name)) {
        throw new Error(`layer '${name}' has no pre-activation output (only Conv2D and Dense layers with a non-linear activation have one)`);
      }
      return { name, pre };
    });
    // Only the ancestors of the requested layers run.
    const needed = new Set<string>();
    const visit = (name: string) => {
      if (needed.has(name)) return;
      needed.add(name);
      for (const i of this.layer(name).inbound) visit(i);
    };
    wanted.forEach((w) => visit(w.name));
    return engine.tidy(() => {
      const results = new Map<string, LayerResult>();
      for (const layer of this.spec.layers) {
        if (!needed.has(layer.name)) continue;
        const inputs = layer.className === 'InputLayer' ? [input] : layer.inbound.map((n) => results.get(n)!.out);
        const r = this.runnable.get(layer.name)!.apply(inputs, { pre: wanted.some((w) => w.pre && w.name === layer.name) });
        // a watched layer output becomes an autodiff source as soon as it exists (before its consumers run)
        const w = o.watch?.[layer.name];
        if (w) w(r.out);
        results.set(layer.name, r);
      }
      return wanted.map((w) => {
        const r = results.get(w.name)!;
        return w.pre ? r.pre! : r.out;
      });
    });
  }

  /** The model's (first) output. */
  predict(input: Tensor): Tensor {
    return this.run(input, [this.spec.outputs[0]])[0];
  }

  /** Conv and pooling layers in order: the book's default choice for activation pictures. */
  convAndPoolLayers(): string[] {
    return this.spec.layers.filter((l) => /Conv2D|Pooling2D$/.test(l.className) && !l.className.startsWith('Global')).map((l) => l.name);
  }

  /** The last Conv2D layer: Grad-CAM's default. */
  lastConvLayer(): string {
    const convs = this.spec.layers.filter((l) => l.className === 'Conv2D');
    if (convs.length === 0) throw new Error(`model '${this.name}' has no Conv2D layer`);
    return convs[convs.length - 1].name;
  }

  /** The table Keras's model.summary() prints. */
  summary(): string {
    return formatSummary(this.spec);
  }

  dispose(): void {
    this.disposed = true;
    for (const r of this.runnable.values()) for (const w of r.weights) w.dispose();
    this.runnable.clear();
  }
}
