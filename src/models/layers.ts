import { engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { layerDefinition, type ApplyOptions, type LayerResult } from './layers/index.ts';
import type { LayerSpec, Shape, WeightArray } from './keras/spec.ts';

export type { LayerResult };

/** A layer bound to its weights on a backend, ready to run. */
export interface RunnableLayer {
  spec: LayerSpec;
  /** The weight tensors it owns (disposed with the model). */
  weights: Tensor[];
  apply(inputs: Tensor[], o?: ApplyOptions): LayerResult;
}

/**
 * Turns a layer spec and its canonical weights into a runnable layer on the
 * current backend, through its class's definition in `src/models/layers/`.
 * Weights are uploaded once; a failure part-way releases what was uploaded.
 */
export function buildLayer(spec: LayerSpec, weights: WeightArray[], shapes: { inputs: Shape[]; output: Shape }): RunnableLayer {
  const where = `layer '${spec.name}' (${spec.className})`;
  const def = layerDefinition(spec.className);
  const owned: Tensor[] = [];
  const uploaded = new Map<string, Tensor>();
  const host = (role: string) => weights.find((w) => w.role === role);
  const upload = (values: Float32Array, shape: number[]) => {
    const t = engine.keep(engine.fromValues(values, shape));
    owned.push(t);
    return t;
  };
  try {
    const call = def.build(spec.config, {
      where,
      weights,
      host,
      tensor(role) {
        let t = uploaded.get(role);
        if (!t) {
          const w = host(role);
          if (!w) throw new Error(`${where}: has no '${role}' weight`);
          t = upload(w.values, w.shape);
          uploaded.set(role, t);
        }
        return t;
      },
      upload,
      inputShapes: shapes.inputs,
      outputShape: shapes.output,
    });
    return { spec, weights: owned, apply: (xs, o = {}) => call(xs, o) };
  } catch (e) {
    owned.forEach((t) => t.dispose());
    throw e;
  }
}
