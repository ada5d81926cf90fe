/**
 * The TF.js counterpart of a Keras model now lives in src/validate/tfjs_keras.ts
 * (`convscope validate` uses it); the tests import it from here, with what only they need.
 */
import { generatedWeights } from '../../src/models/keras/fixture_writer.ts';
import type { ModelSpec, WeightArray } from '../../src/models/keras/spec.ts';

export * from '../../src/validate/tfjs_keras.ts';

/** Every weight of a spec generated (seeded) as the fixture writer does, as canonical arrays with roles. */
export function generatedWeightArrays(spec: ModelSpec, seed: number): Map<string, WeightArray[]> {
  const out = new Map<string, WeightArray[]>();
  for (const [layer, ws] of generatedWeights(spec, seed, (_l, role) => role)) {
    out.set(
      layer,
      ws.map((w) => {
        const values = new Float32Array(w.shape.reduce((a, b) => a * b, 1));
        w.fill!(values);
        return { name: `${layer}/${w.name}`, role: w.name, shape: w.shape, values };
      }),
    );
  }
  return out;
}

